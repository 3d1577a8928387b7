"""Shrinking is a setting: on (the default), a failure is minimized; off, it is reported at the example that found it."""

from __future__ import annotations

import numpy as np
import pytest
from mutant_table import MUTANTS

from verigrad.oracles.torch_engine import TorchEngine
from verigrad.records import FAIL, PASS
from verigrad.runner import NOT_SHRUNK, CheckSpec, run_check, run_group

SEED = 5
#: A mutant wrong on every non-zero input: its first failing example is drawn at random, its shrunk one is small.
WRONG_EVERYWHERE = "mutant-wrong-sign"


class CountingEngine:
    """Wraps an engine and counts its VJP calls (the shrinker's calls show up here)."""

    def __init__(self, inner: object) -> None:
        self.inner, self.name, self.xp, self.calls = inner, inner.name, inner.xp, 0

    def vjp(self, fn, primals, cotangent):
        self.calls += 1
        return self.inner.vjp(fn, primals, cotangent)


@pytest.fixture(scope="module")
def torch_engine() -> TorchEngine:
    return TorchEngine()


def _spec(engine: str) -> CheckSpec:
    catch = MUTANTS[WRONG_EVERYWHERE].catch
    return CheckSpec(catch.property, catch.case, catch.arg, catch.pair, engine, catch.dtype)


def _elements(verdict) -> int:
    return sum(np.size(v) for v in verdict.counterexample["inputs"].values())


def test_unshrunk_failure_is_the_first_found_and_says_so(torch_engine: TorchEngine) -> None:
    shrunk_engine = CountingEngine(MUTANTS[WRONG_EVERYWHERE].factory(torch_engine))
    drawn_engine = CountingEngine(MUTANTS[WRONG_EVERYWHERE].factory(torch_engine))
    shrunk = run_check(_spec(WRONG_EVERYWHERE), shrunk_engine, "ci", seed=SEED)
    drawn = run_check(_spec(WRONG_EVERYWHERE), drawn_engine, "ci", seed=SEED, shrink=False)
    assert shrunk.status == drawn.status == FAIL
    assert shrunk.diagnosis["kind"] == drawn.diagnosis["kind"] == "wrong_sign"
    assert drawn.message.endswith(NOT_SHRUNK) and not shrunk.message.endswith(NOT_SHRUNK)
    assert drawn.counterexample and drawn.reproduction
    # The first failing example is the one the shrinker starts from: shrinking only makes it smaller, with more calls.
    assert _elements(shrunk) <= _elements(drawn)
    assert drawn_engine.calls < shrunk_engine.calls


def test_a_group_without_shrinking_reports_each_failure_where_the_shared_run_found_it(torch_engine: TorchEngine) -> None:
    mutant = CountingEngine(MUTANTS[WRONG_EVERYWHERE].factory(torch_engine))
    engines = {"torch": torch_engine, WRONG_EVERYWHERE: mutant}
    specs = [_spec(name) for name in engines]
    fine, wrong = run_group(specs, engines, "ci", seed=SEED, shrink=False)
    assert fine.status == PASS and fine.examples == 40
    assert wrong.status == FAIL and wrong.diagnosis["kind"] == "wrong_sign"
    assert wrong.message.endswith(NOT_SHRUNK)
    # No re-run alone: the mutant answered once per example up to the failing one (each check calls the VJP once).
    assert mutant.calls == wrong.examples
