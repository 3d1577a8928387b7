"""The mode-mismatch diagnosis names the wrong mode from the closed form, and only when the evidence does."""

from __future__ import annotations

import numpy as np
import pytest
from mutant_table import MUTANTS, SHRUNK_OR_NOT  # tests/selftest (on pytest's pythonpath)
from tie_split import TieSplit

from verigrad.checks import SUBGRADIENTS_DIFFER, Target, check_adjoint
from verigrad.modes import diagnose_mode_mismatch
from verigrad.records import FAIL
from verigrad.reference import get_case
from verigrad.runner import CheckSpec, run_check
from verigrad.strategies import Example

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


@pytest.mark.parametrize("shrink", SHRUNK_OR_NOT)
def test_jvp_only_mutant_is_reported_as_jvp_wrong_vjp_right(shrink: bool) -> None:
    mutant = MUTANTS["mutant-jvp-only-wrong"]
    catch = mutant.catch
    spec = CheckSpec(catch.property, catch.case, catch.arg, catch.pair, mutant.spec, catch.dtype)
    verdict = run_check(spec, mutant.factory(), seed=7, max_examples=8, shrink=shrink)
    assert verdict.status == FAIL
    assert verdict.message.startswith("mode_mismatch: JVP wrong, VJP right"), verdict.message


#: (VJP mass at the ties, whether the adjoint passes): mass 1 is a subgradient, mass 2 is not.
TIE_SPLITS = {"even-split-vs-first-tie": (1.0, True), "vjp-mass-2": (2.0, False)}


@pytest.mark.parametrize("name", list(TIE_SPLITS))
def test_adjoint_on_a_kink_fails_only_when_a_mode_leaves_the_subdifferential(name: str) -> None:
    mass, passes = TIE_SPLITS[name]
    case, engine = get_case("reduce.max_all"), TieSplit(mass)
    target = Target(case, "X", engine, np.dtype(np.float64), "probabilistic", case.bind(np))
    three_ties = Example({"X": np.zeros((3, 1))}, {}, np.array(1.0), {"X": np.array([[1.0], [1.0], [1.5]])}, {"m": 3, "n": 1})
    outcome = check_adjoint(target, three_ties)
    assert outcome.passed is passes, outcome.message
    assert (outcome.message == SUBGRADIENTS_DIFFER) is passes
