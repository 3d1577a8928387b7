"""Measured check costs: the fit, the weighted cover, a bad table, the script that writes it.

The default run picks its engine checks and its ``verigrad_cover`` turns by what they cost
(``verigrad_costs``): a costly engine must still cover everything it alone covers, on its
cheapest cases, and everything the unweighted rule covers must stay covered.  The plugin's use of
the table (the weighed ``verigrad_cover`` turns) is tested with the selection's plugin tests
(``test_selection.py``).
"""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path

import pytest

from verigrad.oracles import BUILTIN_ENGINES
from verigrad.records import RecordsWriter, Verdict
from verigrad.runner import DTYPES, CheckSpec, plan
from verigrad.selection import CheckCosts, coverage, quick_selection

ENGINES = list(BUILTIN_ENGINES)


@pytest.fixture(scope="module")
def full_plan() -> list[CheckSpec]:
    return plan(ENGINES, DTYPES)


def test_the_fit_recovers_a_product_model_of_touches(full_plan: list[CheckSpec]) -> None:
    """A touch (every check of an engine on a case and dtype) costs engine × case: 1-128 s times 0.5-4."""
    engines = {engine: 2.0 ** i for i, engine in enumerate(ENGINES)}
    cases = {case: 2.0 ** ((i % 4) - 1) for i, case in enumerate(sorted({s.case for s in full_plan}))}
    checks_per_touch = Counter((s.engine, s.case, s.dtype) for s in full_plan)
    # Each check takes an equal share of its touch: the fit sees the touch's sum.
    timed = [(s, engines[s.engine] * cases[s.case] / checks_per_touch[s.engine, s.case, s.dtype]) for s in full_plan]
    costs = CheckCosts.fit(timed)
    worst = max(abs(math.log(costs.of(spec) / (engines[spec.engine] * cases[spec.case]))) for spec in full_plan)
    assert worst < 0.01  # three significant digits are kept
    assert math.isclose(math.exp(sum(map(math.log, costs.case.values())) / len(costs.case)), 1.0, rel_tol=0.01)


def test_unknown_engines_and_cases_cost_a_median() -> None:
    costs = CheckCosts({"torch": 1.0, "jax": 3.0, "tinygrad": 10.0}, {"known": 2.0})
    assert costs.of(CheckSpec("vjp", "known", "x", None, "torch", "float64")) == 2.0
    assert costs.of(CheckSpec("kink", "new-case", "x", None, "jax", "float64")) == 3.0  # case factor 1
    assert costs.of(CheckSpec("vjp", "known", "x", None, "new-engine", "float64")) == 6.0  # the median engine
    assert costs.of_engine("tinygrad") == 10.0 and costs.of_engine("new-engine") is None


def test_equal_costs_give_the_unweighted_rule_whatever_their_unit(full_plan: list[CheckSpec]) -> None:
    """Only ratios of costs choose: a table pricing every check alike (in any unit) selects as no table does."""
    unweighted = quick_selection(full_plan)
    for seconds in (0.003, 7.0, 1e4):
        assert quick_selection(full_plan, cost=lambda spec, s=seconds: s) == unweighted


def test_a_costly_engine_covers_only_what_it_alone_covers_on_its_cheapest_cases(full_plan: list[CheckSpec]) -> None:
    costly = "tinygrad"
    case_cost = {case: 1.0 + i for i, case in enumerate(dict.fromkeys(s.case for s in full_plan))}
    costs = CheckCosts({e: 100.0 if e == costly else 1.0 for e in ENGINES}, case_cost)
    weighted = quick_selection(full_plan, cost=costs.of)
    assert coverage(full_plan, weighted).complete
    on_costly = [spec for spec in weighted if spec.engine == costly]
    properties = {spec.property for spec in full_plan if spec.engine == costly}
    # Each of its property × engine and engine × dtype values once, nothing more: one check can cover two.
    assert len(properties) <= len(on_costly) <= len(properties) + len(DTYPES)
    unweighted = [spec for spec in quick_selection(full_plan) if spec.engine == costly]
    assert len(on_costly) <= len(unweighted)
    # ... each on the cheapest case that has the property for this engine
    for spec in on_costly:
        cheapest = min(case_cost[s.case] for s in full_plan if (s.engine, s.property) == (costly, spec.property))
        assert case_cost[spec.case] == cheapest, spec.id
    assert sum(map(costs.of, weighted)) < sum(map(costs.of, quick_selection(full_plan)))


@pytest.mark.parametrize(("text", "complaint"), [
    ("{not json", "JSONDecodeError"),
    ('{"case": {}}', "KeyError"),
    ('{"engine": {"torch": {"vjp": 1}}, "case": {}}', "TypeError"),
    ('{"engine": {"torch": 0}, "case": {"unary.exp": -1}}', "factors must be positive seconds; not torch, unary.exp"),
])
def test_a_bad_table_names_the_file_and_what_is_wrong(tmp_path, text: str, complaint: str) -> None:
    path = tmp_path / "costs.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"check costs .*costs\.json") as raised:
        CheckCosts.load(path)
    assert complaint in str(raised.value)


def test_the_table_round_trips(tmp_path) -> None:
    costs = CheckCosts({"torch": 0.012}, {"unary.exp": 1.5})
    path = tmp_path / "costs.json"
    path.write_text(costs.to_json())
    assert CheckCosts.load(path) == costs


def test_the_script_fits_a_sweeps_records_and_writes_the_table(tmp_path, capsys) -> None:
    """benchmarks/check_costs.py on a sweep's records: the table it writes loads, and prices the dear engine dearer."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "check_costs.py"
    spec_of = importlib.util.spec_from_file_location("check_costs", script)
    module = importlib.util.module_from_spec(spec_of)
    spec_of.loader.exec_module(module)
    records = tmp_path / "sweep.jsonl"
    with RecordsWriter(records) as writer:
        writer.write_header({"engines": ["fd", "torch"]})
        for spec in plan(["fd", "torch"], ["float64"], properties=["vjp", "jvp"]):
            seconds = (0.5 if spec.engine == "fd" else 0.05) * (2.0 if spec.case.startswith("linalg") else 1.0)
            writer.write(Verdict(spec.id, spec.property, spec.case, spec.subject, spec.engine, spec.dtype, "pass",
                                 seconds=seconds))
    out = tmp_path / "costs.json"
    assert module.main([str(records), "--out", str(out)]) == 0
    costs = CheckCosts.load(out)
    assert math.isclose(costs.engine["fd"] / costs.engine["torch"], 10.0, rel_tol=0.01)
    printed = capsys.readouterr().out
    assert "quick selection, weighted" in printed and "cover complete" in printed
    assert module.main([str(tmp_path / "missing.jsonl")]) == 2  # a clear line, no traceback
    assert "missing.jsonl' does not exist" in capsys.readouterr().err
