"""The pytest plugin's records end with the run's summary: the root cause per failing engine, which the report draws."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from verigrad.records import read_records

# A deliberately wrong engine wrapping finite differences (no framework to import: the run stays quick).
ADAPTER = textwrap.dedent(
    """
    from verigrad.oracles.fd import FiniteDifferences
    from verigrad.oracles.mutants import WrongSign


    def wrong_sign():
        return WrongSign(FiniteDifferences())
    """
)
SUITE = "from verigrad.suite.test_properties import test_vjp  # noqa: F401\n"


@pytest.mark.verigrad_full_only  # a pytest process with the plugin: over ten seconds
def test_the_plugin_records_the_root_cause_and_the_report_draws_it(tmp_path: Path) -> None:
    (tmp_path / "adapter.py").write_text(ADAPTER, encoding="utf-8")
    (tmp_path / "test_suite.py").write_text(SUITE, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "test_suite.py", "--engine", "adapter:wrong_sign",
         "-k", "unary.exp and float64", "--verigrad-seed", "0", "--verigrad-examples", "3",
         "--verigrad-records", "records.jsonl", "--verigrad-report", "report.html"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 1, completed.stdout[-3000:]
    headers, _ = read_records([tmp_path / "records.jsonl"])
    (cause,) = headers[0]["summary"]["root_causes"]
    assert (cause["engine"], cause["primitive"], cause["operand"], cause["kind"]) == ("mutant-wrong-sign", "exp", 0, "wrong_sign")
    assert f"<strong>root cause</strong> {cause['line']}" in (tmp_path / "report.html").read_text(encoding="utf-8")
