"""The report renders from records alone: ``verigrad report RECORDS`` draws the page ``verigrad check`` drew."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from run_cli import verigrad

# Deliberately wrong engines wrapping finite differences (no framework to import: the run stays quick).
ADAPTER = textwrap.dedent(
    """
    from verigrad.oracles.fd import FiniteDifferences
    from verigrad.oracles.mutants import LeaksOffDiagonal, WrongSign


    def wrong_sign():
        return WrongSign(FiniteDifferences())


    def leaks():
        return LeaksOffDiagonal(FiniteDifferences())
    """
)
#: The only line of the page that depends on when it was drawn.
DATE_LINE = re.compile(r"^<footer[^\n]*generated [^\n]*$", re.MULTILINE)


def _verigrad(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """In this process for one job (the command's ``main``); as its own process for worker processes."""
    if "--jobs" in args and args[args.index("--jobs") + 1] == "1":
        return verigrad(*args, cwd=cwd)
    return subprocess.run([sys.executable, "-m", "verigrad.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "200"})


# Workers finish out of order; the records still come out in plan order (two worker processes, and the failures
# shrunk as a user gets them: full runs only; the default run draws the page from the first failing examples).
@pytest.mark.parametrize(("jobs", "shrink"), [("1", ("--no-shrink",)), pytest.param("2", (), marks=pytest.mark.verigrad_full_only)],
                         ids=["1-drawn", "2-shrunk"])
def test_report_from_records_is_the_page_check_wrote(tmp_path: Path, jobs: str, shrink: tuple[str, ...]) -> None:
    (tmp_path / "adapter.py").write_text(ADAPTER, encoding="utf-8")
    checked = _verigrad("check", "adapter:wrong_sign", "adapter:leaks", "fd", "--cases", "elementwise.mul,chain.matvec_sin",
                        "--properties", "vjp,structure", "--dtype", "float64", "--seed", "1", "--jobs", jobs, *shrink,
                        "--records", "records.jsonl", "--report", "A.html", cwd=tmp_path)
    assert checked.returncode == 1, checked.stderr
    reported = verigrad("report", "records.jsonl", "--report", "B.html", cwd=tmp_path)
    assert reported.returncode == 1, reported.stderr
    page_a = (tmp_path / "A.html").read_text(encoding="utf-8")
    page_b = (tmp_path / "B.html").read_text(encoding="utf-8")
    assert len(DATE_LINE.findall(page_a)) == 1
    # the failures' Jacobians were drawn (from the records), not only the probe vectors
    assert page_a.count("the Jacobians at the counterexample of") >= 2
    # the root cause was decided at check time and stored in the records' summary: both pages show it
    assert re.search(r"<strong>root cause</strong> mutant-wrong-sign: \w+, w\.r\.t\. its \w+ operand: wrong_sign in", page_b)
    assert DATE_LINE.sub("", page_a) == DATE_LINE.sub("", page_b)
