"""Engines that share hypothesis's examples (``run_group``) get exactly the verdicts they get alone."""

from __future__ import annotations

import pytest
from mutant_table import MUTANTS

from verigrad.oracles.mutants import Hangs
from verigrad.oracles.torch_engine import TorchEngine
from verigrad.records import FAIL, PASS
from verigrad.runner import CheckSpec, groups, plan, run_check, run_group

#: Mutants whose failures come at different points of the example sequence.
SHARED_WITH_TORCH = ["mutant-wrong-sign", "mutant-scale-size", "mutant-transposed", "mutant-kink-outside",
                     "mutant-nondeterministic", "mutant-relative-error"]


@pytest.fixture(scope="module")
def torch_engine() -> TorchEngine:
    return TorchEngine()


def _fingerprint(verdict):  # what a user sees of a verdict, without its timing
    kind = (verdict.diagnosis or {}).get("kind")
    return verdict.check_id, verdict.status, kind, verdict.examples, verdict.counterexample, verdict.max_ulps


@pytest.mark.parametrize("name", SHARED_WITH_TORCH)
def test_a_group_gives_each_engine_its_own_run_check_verdict(name: str, torch_engine: TorchEngine) -> None:
    catch = MUTANTS[name].catch
    engines = {"torch": torch_engine, name: MUTANTS[name].factory(torch_engine)}
    specs = [CheckSpec(catch.property, catch.case, catch.arg, catch.pair, engine, catch.dtype) for engine in engines]
    grouped = run_group(specs, engines, "ci", max_examples=10)
    alone = [run_check(spec, engines[spec.engine], "ci", max_examples=10) for spec in specs]
    assert [v.status for v in grouped] == [PASS, FAIL]
    assert [_fingerprint(v) for v in grouped] == [_fingerprint(v) for v in alone]


def test_a_hanging_engine_times_out_alone_in_its_group(torch_engine: TorchEngine) -> None:
    engines = {"hangs": Hangs(torch_engine, seconds=30.0), "torch": torch_engine}
    specs = [CheckSpec("vjp", "elementwise.mul", "w", None, engine, "float64") for engine in engines]
    hung, fine = run_group(specs, engines, "ci", max_examples=5, timeout=1.0)  # the limit is per engine: torch needs its 5 examples within it
    assert hung.status == FAIL and hung.diagnosis["kind"] == "timeout"
    assert fine.status == PASS and fine.examples == 5


def test_groups_gather_one_check_across_engines_in_plan_order() -> None:
    specs = plan(["a", "b", "c"], dtypes=["float64"], case_pattern="elementwise.mul")
    gathered = groups(specs)
    assert sum(map(len, gathered)) == len(specs)
    assert all([s.engine for s in group] == ["a", "b", "c"] for group in gathered)
    with pytest.raises(ValueError, match="differ only in their engine"):
        run_group([*specs[:2], gathered[1][0]], {"a": None, "b": None, "c": None})
