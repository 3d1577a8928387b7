"""The quick selection of the default ``pytest``: a rule over the plan that covers it, never a list.

The covering tests run on the plan of every built-in engine and dtype, and on
plans with engines and dtypes this repository does not have yet: whatever the
plan yields, every case, property, engine, dtype and (case, property) pair is
in the selection.  The plugin tests run pytest in-process (pytester), collection only.
"""

from __future__ import annotations

from collections import Counter

import pytest
from verigrad.oracles import BUILTIN_ENGINES
from verigrad.reference import CASES

from verigrad.runner import DTYPES, CheckSpec, plan
from verigrad.selection import COVERED, coverage, quick_selection

pytest_plugins = ["pytester"]

#: Engines and dtypes the plan is asked about: today's built-ins, and names still to come.
PLANS = {
    "builtin": (list(BUILTIN_ENGINES), list(DTYPES)),
    "more-engines-and-dtypes": ([*BUILTIN_ENGINES, "mlx", "jax-jit", "torch-compile"], [*DTYPES, "float16", "bfloat16"]),
    "one-engine": (["fd"], ["float64"]),
}


@pytest.fixture(scope="module", params=list(PLANS))
def full_plan(request: pytest.FixtureRequest) -> list[CheckSpec]:
    engines, dtypes = PLANS[request.param]
    return plan(engines, dtypes)


@pytest.mark.parametrize("key", list(COVERED))
def test_every_value_of_the_plan_is_selected(full_plan: list[CheckSpec], key: str) -> None:
    missing = coverage(full_plan, quick_selection(full_plan)).missing[key]
    assert not missing, f"the quick selection never runs {key} {missing}"


def test_one_check_per_case_and_property(full_plan: list[CheckSpec]) -> None:
    counts = Counter((spec.case, spec.property) for spec in quick_selection(full_plan))
    assert set(counts.values()) == {1}
    assert len(counts) == len({(spec.case, spec.property) for spec in full_plan})


def test_selection_is_a_subset_in_plan_order(full_plan: list[CheckSpec]) -> None:
    selected = quick_selection(full_plan)
    position = {spec: i for i, spec in enumerate(full_plan)}
    positions = [position[spec] for spec in selected]
    assert positions == sorted(positions)


def test_selection_is_deterministic(full_plan: list[CheckSpec]) -> None:
    assert quick_selection(full_plan) == quick_selection(list(full_plan))


def test_engines_and_dtypes_carry_equal_shares() -> None:
    """The round robin: no engine × dtype runs more than one check more than another."""
    engines, dtypes = PLANS["builtin"]
    counts = Counter((spec.engine, spec.dtype) for spec in quick_selection(plan(engines, dtypes)))
    assert len(counts) == len(engines) * len(dtypes)
    assert max(counts.values()) - min(counts.values()) <= 1, counts


def test_each_property_runs_on_every_engine_and_dtype_it_has_room_for() -> None:
    engines, dtypes = PLANS["builtin"]
    selected = quick_selection(plan(engines, dtypes))
    for prop, groups in Counter(spec.property for spec in selected).items():
        combos = {(spec.engine, spec.dtype) for spec in selected if spec.property == prop}
        assert len(combos) == min(groups, len(engines) * len(dtypes)), prop


def test_a_new_case_is_covered_without_editing_anything() -> None:
    """The selection over the catalog without its last case, then with it: the new case is in."""
    engines, dtypes = PLANS["builtin"]
    newest = CASES[-1].id
    before = quick_selection(plan(engines, dtypes, cases=CASES[:-1]))
    after = quick_selection(plan(engines, dtypes))
    assert newest not in {spec.case for spec in before}
    assert newest in {spec.case for spec in after}


def test_checks_that_cannot_run_are_chosen_only_when_nothing_else_can() -> None:
    engines, dtypes = PLANS["builtin"]
    specs = plan(engines, dtypes)
    selected = quick_selection(specs, runnable=lambda spec: not (spec.engine == "fd" and spec.dtype == "float32"))
    assert not [spec.id for spec in selected if spec.engine == "fd" and spec.dtype == "float32"]
    assert coverage(specs, selected).missing["engine"] == []
    only_fd32 = quick_selection(specs, runnable=lambda spec: False)
    assert coverage(specs, only_fd32).complete  # nothing can run: still one check per group, round robin


# ------------------------------------------------------------------ the plugin

SUITE = "from verigrad.suite.test_properties import test_vjp, test_kink  # noqa: F401\n"


def _collect(pytester: pytest.Pytester, *options: str) -> str:
    """Collect a two-property suite of the fd engine in-process, under ``verigrad_selection = quick``."""
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeini("[pytest]\nverigrad_selection = quick\n")
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark", "-n", "0", "--engine", "fd",
                                          "--verigrad-records", str(pytester.path / "records.jsonl"), *options)
    assert result.ret == 0, result.stdout.str()
    return result.stdout.str()


def test_the_plugin_says_how_many_checks_it_deselected_and_how_to_run_them(pytester: pytest.Pytester) -> None:
    specs = plan(["fd"], DTYPES, properties=["vjp", "kink"])
    kept = len(quick_selection(specs))
    out = _collect(pytester)
    assert f"quick selection, {kept} of {len(specs)} engine checks" in out
    assert "run them with --verigrad-full" in out
    assert f"{kept}/{len(specs)} tests collected ({len(specs) - kept} deselected)" in out


def test_verigrad_full_collects_every_check(pytester: pytest.Pytester) -> None:
    specs = plan(["fd"], DTYPES, properties=["vjp", "kink"])
    out = _collect(pytester, "--verigrad-full")
    assert f"all {len(specs)} engine checks collected" in out
    assert f"{len(specs)} tests collected" in out and "deselected" not in out


COVERED_MODULE = """
import pytest

pytestmark = pytest.mark.verigrad_cover("case", rotate="engine")


@pytest.mark.parametrize("engine", ["a", "b", "c"])
@pytest.mark.parametrize("case", range(6))
def test_contract(case, engine):
    pass
"""


def test_verigrad_cover_runs_each_case_once_with_engines_in_turn(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_contract=COVERED_MODULE)
    pytester.makeini("[pytest]\nverigrad_selection = quick\n")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-p", "no:benchmark", "-n", "0", "-rA",
                                          "--verigrad-records", str(pytester.path / "records.jsonl"))
    passed = [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if line.startswith("PASSED")]
    cases = Counter(item.split("-")[0] for item in passed)
    engines = Counter(item.split("-")[1] for item in passed)
    assert cases == {str(k): 1 for k in range(6)}
    assert engines == {"a": 2, "b": 2, "c": 2}
    assert "6 of 18 items marked verigrad_cover" in result.stdout.str()
