"""The pytest idiom: the verigrad_gradients fixture passes a right rule, fails a wrong one with the diagnosis, records both."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from verigrad.records import read_records

pytest_plugins = ["pytester"]

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


def test_the_fixture_checks_records_and_fails_with_the_diagnosis(pytester: pytest.Pytester) -> None:
    """A user's test file, run by pytest in this process (the plugin loads from its entry point)."""
    pytester.makepyfile(rules=RULES.read_text(encoding="utf-8"), test_rules=TESTS)
    pytester.syspathinsert()
    completed = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-n", "0", "test_rules.py",
                                             "--verigrad-seed", "0", "--verigrad-examples", "5",
                                             "--verigrad-records", "records.jsonl")
    stdout = completed.stdout.str()
    assert completed.ret == 1, stdout[-3000:]
    assert "1 failed, 1 passed" in stdout
    assert "wrong_sign" in stdout and "replay(fn, inputs, 'torch', 'vjp'" in stdout
    _, verdicts = read_records([pytester.path / "records.jsonl"])
    assert sorted((v.case, v.status) for v in verdicts) == [
        ("Sin.apply", "pass"), ("Sin.apply", "pass"), ("SinWrongSign.apply", "fail"), ("SinWrongSign.apply", "fail")]
