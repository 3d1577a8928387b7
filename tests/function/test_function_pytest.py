"""The pytest idiom: the verigrad_gradients fixture passes a right rule, fails a wrong one with the diagnosis, records both."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from verigrad.records import read_records

RULES = Path(__file__).with_name("rules.py")

TESTS = textwrap.dedent('''
    import numpy as np
    from rules import Sin, SinWrongSign

    X = np.array([0.3, -1.2, 2.5])

    def test_right_rule(verigrad_gradients):
        verigrad_gradients(Sin.apply, (X,), engine="torch", properties=["vjp"])

    def test_wrong_rule(verigrad_gradients):
        verigrad_gradients(SinWrongSign.apply, (X,), engine="torch", properties=["vjp"])
''')


def test_the_fixture_checks_records_and_fails_with_the_diagnosis(tmp_path) -> None:
    (tmp_path / "rules.py").write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "test_rules.py").write_text(TESTS, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_rules.py", "--verigrad-seed", "0",
         "--verigrad-examples", "5", "--verigrad-records", "records.jsonl"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 1, completed.stdout[-3000:]
    assert "1 failed, 1 passed" in completed.stdout
    assert "wrong_sign" in completed.stdout and "replay(fn, inputs, 'torch', 'vjp'" in completed.stdout
    _, verdicts = read_records([tmp_path / "records.jsonl"])
    assert sorted((v.case, v.status) for v in verdicts) == [
        ("Sin.apply", "pass"), ("Sin.apply", "pass"), ("SinWrongSign.apply", "fail"), ("SinWrongSign.apply", "fail")]
