"""The mode-mismatch diagnosis names the wrong mode from the closed form, and only when the evidence does."""

from __future__ import annotations

import pytest
from mutant_table import MUTANTS  # tests/selftest (on pytest's pythonpath)

from verigrad.modes import diagnose_mode_mismatch
from verigrad.records import FAIL
from verigrad.runner import CheckSpec, run_check

#: (JVP side, VJP side, reference at t = 0 and t = 1) -> the mode named wrong (None: no verdict).
CASES = {
    "jvp-wrong": (1.5, 1.0, (1.0, 1.0), "jvp"),
    "vjp-wrong": (1.0, -1.0, (1.0, 1.0), "vjp"),
    "both-wrong": (2.0, 3.0, (1.0, 1.0), None),
    "kink-interval": (0.25, 3.0, (0.0, 1.0), "vjp"),  # any share in [0, 1] is right at a kink
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_mode_outside_its_bound_is_named(name: str) -> None:
    jvp, vjp, reference, wrong = CASES[name]
    diagnosis = diagnose_mode_mismatch(jvp, vjp, reference, 1e-9, 1e-9)
    if wrong is None:
        assert diagnosis is None
        return
    assert diagnosis is not None and diagnosis.details["wrong"] == wrong
    assert diagnosis.summary.startswith(f"{wrong.upper()} wrong, {({'jvp': 'VJP', 'vjp': 'JVP'})[wrong]} right")


def test_jvp_only_mutant_is_reported_as_jvp_wrong_vjp_right() -> None:
    mutant = MUTANTS["mutant-jvp-only-wrong"]
    catch = mutant.catch
    spec = CheckSpec(catch.property, catch.case, catch.arg, catch.pair, mutant.spec, catch.dtype)
    verdict = run_check(spec, mutant.factory(), seed=7, max_examples=8)
    assert verdict.status == FAIL
    assert verdict.message.startswith("mode_mismatch: JVP wrong, VJP right"), verdict.message
