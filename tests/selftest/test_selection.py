"""The quick selection of the default ``pytest``: a rule over the plan that covers it, never a list.

The covering tests run on the plan of every built-in engine and dtype, and on
plans with engines and dtypes this repository does not have yet: whatever the
plan yields, every case, property, engine × dtype and property × engine is in
the selection, and the selection stays about as small as the catalog.  The plugin tests run pytest in-process (pytester), collection only.
"""

from __future__ import annotations

from collections import Counter

import pytest

from verigrad.oracles import BUILTIN_ENGINES
from verigrad.reference import CASES
from verigrad.runner import DTYPES, CheckSpec, plan
from verigrad.selection import COVERED, CheckCosts, coverage, quick_selection

pytest_plugins = ["pytester"]

#: Engines and dtypes the plan is asked about: today's built-ins, and names still to come.
PLANS = {
    "builtin": (list(BUILTIN_ENGINES), list(DTYPES)),
    "more-engines-and-dtypes": (list(dict.fromkeys([*BUILTIN_ENGINES, "an-engine-to-come"])), [*DTYPES, "float16", "bfloat16"]),
    "one-engine": (["fd"], ["float64"]),
}


@pytest.fixture(scope="module", params=list(PLANS))
def full_plan(request: pytest.FixtureRequest) -> list[CheckSpec]:
    engines, dtypes = PLANS[request.param]
    return plan(engines, dtypes)


@pytest.fixture(scope="module")
def selected(full_plan: list[CheckSpec]) -> list[CheckSpec]:
    """The cover of ``full_plan``, made once for the tests that read it."""
    return quick_selection(full_plan)


@pytest.mark.parametrize("key", list(COVERED))
def test_every_value_of_the_plan_is_selected(full_plan: list[CheckSpec], selected: list[CheckSpec], key: str) -> None:
    missing = coverage(full_plan, selected).missing[key]
    assert not missing, f"the quick selection never runs {key} {missing}"


def test_the_cover_is_no_bigger_than_its_two_steps(full_plan: list[CheckSpec], selected: list[CheckSpec]) -> None:
    """One check per case, plus at most one per property × engine or engine × dtype left uncovered."""
    cases = {spec.case for spec in full_plan}
    grid = {(spec.property, spec.engine) for spec in full_plan} | {(spec.engine, spec.dtype) for spec in full_plan}
    assert len(cases) <= len(selected) <= len(cases) + len(grid)
    assert len(selected) < len(full_plan) or len(full_plan) == len(cases)


def test_selection_is_a_subset_in_plan_order(full_plan: list[CheckSpec], selected: list[CheckSpec]) -> None:
    position = {spec: i for i, spec in enumerate(full_plan)}
    positions = [position[spec] for spec in selected]
    assert positions == sorted(positions)


def test_selection_is_deterministic(full_plan: list[CheckSpec], selected: list[CheckSpec]) -> None:
    assert quick_selection(list(full_plan)) == selected


def test_engines_and_dtypes_carry_equal_shares() -> None:
    """The tie-breaks spread the checks: no engine × dtype runs more than one check more than another."""
    engines, dtypes = PLANS["builtin"]
    counts = Counter((spec.engine, spec.dtype) for spec in quick_selection(plan(engines, dtypes)))
    assert len(counts) == len(engines) * len(dtypes)
    assert max(counts.values()) - min(counts.values()) <= 1, counts


def test_properties_and_cases_are_spread() -> None:
    """No property runs more than one check more than another, and no case runs more than twice its share."""
    engines, dtypes = PLANS["builtin"]
    selected = quick_selection(plan(engines, dtypes))
    per_property = Counter(spec.property for spec in selected)
    assert max(per_property.values()) - min(per_property.values()) <= 1, per_property
    per_case = Counter(spec.case for spec in selected)
    assert max(per_case.values()) <= 2 * -(-len(selected) // len(per_case)), per_case.most_common(3)


def test_a_new_case_is_covered_without_editing_anything() -> None:
    """The selection over the catalog without its last case, then with it: the new case is in."""
    engines, dtypes = PLANS["builtin"]
    newest = CASES[-1].id
    before = quick_selection(plan(engines, dtypes, cases=CASES[:-1]))
    after = quick_selection(plan(engines, dtypes))
    assert newest not in {spec.case for spec in before}
    assert newest in {spec.case for spec in after}


def test_checks_that_cannot_run_are_chosen_only_when_nothing_else_can() -> None:
    """fd cannot run float32 here: only the fd × float32 pair itself is covered by a check that will skip."""
    engines, dtypes = PLANS["builtin"]
    specs = plan(engines, dtypes)
    selected = quick_selection(specs, runnable=lambda spec: not (spec.engine == "fd" and spec.dtype == "float32"))
    skipped = [spec for spec in selected if spec.engine == "fd" and spec.dtype == "float32"]
    assert len(skipped) == 1, [spec.id for spec in skipped]
    assert coverage(specs, selected).complete
    only_fd32 = quick_selection(specs, runnable=lambda spec: False)
    assert coverage(specs, only_fd32).complete  # nothing can run: still a cover, of checks that will skip


# ------------------------------------------------------------------ the plugin

SUITE = "from verigrad.suite.test_properties import test_vjp, test_kink  # noqa: F401\n"


def _collect(pytester: pytest.Pytester, *options: str, collect_only: bool = True) -> str:
    """Collect (or run) a two-property suite of the fd engine in-process, under ``verigrad_selection = quick``."""
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeini("[pytest]\nverigrad_selection = quick\n")
    result = pytester.runpytest_inprocess(*(["--collect-only"] if collect_only else []), "-q", "-p", "no:cacheprovider",
                                          "-p", "no:benchmark", "-n", "0", "--engine", "fd",
                                          "--verigrad-records", str(pytester.path / "records.jsonl"), *options)
    assert result.ret == 0, result.stdout.str()
    return result.stdout.str()


def test_the_plugin_says_how_many_checks_it_left_out_and_how_to_run_them(pytester: pytest.Pytester) -> None:
    specs = plan(["fd"], DTYPES, properties=["vjp", "kink"])
    kept = len(quick_selection(specs))
    out = _collect(pytester)
    assert f"quick selection, {kept} of {len(specs)} engine checks" in out
    assert f"the other {len(specs) - kept} run with --verigrad-full" in out
    assert f"{kept} tests collected" in out  # the rest are never made items: nothing to deselect


def test_a_check_named_by_id_runs_though_the_quick_selection_leaves_it_out(pytester: pytest.Pytester) -> None:
    specs = plan(["fd"], DTYPES, properties=["vjp", "kink"])
    left_out = next(spec for spec in specs if spec not in quick_selection(specs) and spec.property == "vjp")
    node = f"test_suite.py::test_vjp[{left_out.id.split('[', 1)[1]}"
    out = _collect(pytester, node)
    assert node in out and "1 test collected" in out


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


def _quick_run(pytester: pytest.Pytester, ini: str = "", **modules: str) -> tuple[pytest.RunResult, list[str]]:
    """The modules run under the quick selection (and ``ini``'s lines), and the items that ran (``test_name[params]``)."""
    pytester.makepyfile(**modules)
    pytester.makeini(f"[pytest]\nverigrad_selection = quick\n{ini}")
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-p", "no:benchmark", "-n", "0", "-rA",
                                          "--verigrad-records", str(pytester.path / "records.jsonl"))
    return result, [line.split("::", 1)[1] for line in result.stdout.lines if line.startswith("PASSED")]


def test_verigrad_cover_runs_each_case_once_with_engines_in_turn(pytester: pytest.Pytester) -> None:
    result, ran = _quick_run(pytester, test_contract=COVERED_MODULE)
    passed = [item.split("[", 1)[1].rstrip("]") for item in ran]
    cases = Counter(item.split("-")[0] for item in passed)
    engines = Counter(item.split("-")[1] for item in passed)
    assert cases == {str(k): 1 for k in range(6)}
    assert engines == {"a": 2, "b": 2, "c": 2}
    assert "6 of 18 items marked verigrad_cover" in result.stdout.str()


ARGUMENTS_MODULE = """
import pytest

CASE_ARGS = [("one", "x"), ("two", "x"), ("three", "y"), ("three", "z")]


@pytest.mark.verigrad_cover("case", rotate="arg")
@pytest.mark.parametrize(("case", "arg"), CASE_ARGS)
def test_proof(case, arg):
    pass


@pytest.mark.verigrad_cover("case", rotate="arg")
@pytest.mark.parametrize(("case", "arg"), CASE_ARGS)
def test_other_proof(case, arg):
    pass
"""


def test_verigrad_cover_runs_each_case_with_one_of_its_own_arguments(pytester: pytest.Pytester) -> None:
    # A turn taken from all cases' arguments (x, y, z) would give "two" the y it does not have: "two" would not run.
    _, ran = _quick_run(pytester, test_proofs=ARGUMENTS_MODULE)
    expected = ["one-x", "two-x", "three-y"]  # the k-th case takes its own (k mod n)-th argument
    assert ran == [f"test_proof[{item}]" for item in expected] + [f"test_other_proof[{item}]" for item in expected]


def test_a_collection_only_run_reports_no_expectation_as_stale(pytester: pytest.Pytester) -> None:
    """Nothing ran, so a line that matched nothing may still match: only a run that ran every check says so."""
    expect = pytester.path / "expect.txt"
    expect.write_text("vjp[no.such_case-x-fd-*]  fd  float64  fail  # a line no check matches\n")
    collected = _collect(pytester, "--verigrad-full", "--verigrad-expect", str(expect))
    assert "matched no check" not in collected
    ran = _collect(pytester, "--verigrad-full", "--verigrad-expect", str(expect), "-k", "elementwise.mul", collect_only=False)
    assert "expectation line 1 (vjp[no.such_case-x-fd-*] fd) matched no check" in ran


# ------------------------------------------------------------------ the plugin, weighed by measured costs

def _case_engine(ran: list[str]) -> list[tuple[str, str]]:
    """(case, engine) of each item of COVERED_MODULE that ran."""
    return [tuple(item.split("[", 1)[1].rstrip("]").split("-")) for item in ran]


def test_turns_are_weighed_by_engine_cost_and_every_engine_still_runs(pytester: pytest.Pytester) -> None:
    table = CheckCosts({"a": 1.0, "b": 2.0, "c": 20.0}, {})
    (pytester.path / "costs.json").write_text(table.to_json())
    _, ran = _quick_run(pytester, "verigrad_costs = costs.json\n", test_contract=COVERED_MODULE)
    assert Counter(case for case, _ in _case_engine(ran)) == {str(k): 1 for k in range(6)}  # every case once
    # Each engine once, then by least (uses + 1) × cost, ties in turn: a 4, b 1, c 1 of the 6 (unweighed: 2 each).
    assert Counter(engine for _, engine in _case_engine(ran)) == {"a": 4, "b": 1, "c": 1}


def test_a_value_the_table_does_not_know_keeps_the_plain_turns(pytester: pytest.Pytester) -> None:
    table = CheckCosts({"a": 1.0, "b": 2.0}, {})  # c unknown: no weighing
    (pytester.path / "costs.json").write_text(table.to_json())
    _, ran = _quick_run(pytester, "verigrad_costs = costs.json\n", test_contract=COVERED_MODULE)
    assert Counter(engine for _, engine in _case_engine(ran)) == {"a": 2, "b": 2, "c": 2}


def test_a_missing_table_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    result, _ = _quick_run(pytester, "verigrad_costs = nowhere.json\n", test_contract=COVERED_MODULE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "verigrad_costs: check costs" in result.stderr.str() and "nowhere.json" in result.stderr.str()
    assert "Traceback" not in result.stderr.str()
