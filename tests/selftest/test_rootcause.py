"""Root cause across checks: each rule mutant (one primitive's derivative broken w.r.t. one operand) is
blamed on its own primitive and operand, in the run's summary too; a correct engine is blamed on nothing."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import pytest
from mutant_table import SHRUNK_OR_NOT
from rich.console import Console

from verigrad.oracles.jax_engine import JaxEngine
from verigrad.oracles.mutants import WrongRule
from verigrad.records import RecordsWriter, read_records
from verigrad.report import build_html
from verigrad.rootcause import exercised, root_causes, summary_record
from verigrad.runner import plan, run_all
from verigrad.summary import print_summary

#: Cases through exp, sum, maximum and log_softmax, and cases through none of them.
CASES = "unary.exp,reduce.sum_all,reduce.mean_all,reduction.sum,elementwise.max,elementwise.mul,reduce.log_softmax,losses.softmax_xent,unary.square"
RULES = [("exp", 0, -1.0), ("sum", 0, 2.0), ("maximum", 1, -1.0), ("log_softmax", 0, 0.5)]


@pytest.fixture(scope="module")
def jax_engine() -> JaxEngine:
    return JaxEngine()


def _verdicts(engine: object, name: str, shrink: bool = True) -> list:
    specs = plan([name], dtypes=["float64"], case_pattern=CASES, properties=["vjp"])
    return list(run_all(specs, {name: engine}, seed=7, max_examples=4, timeout=120, shrink=shrink))


@cache
def _rule_mutant_verdicts(primitive: str, operand: int, factor: float, shrink: bool = True) -> tuple:
    """One run per rule mutant, shared by the tests below (each run is seconds of JAX)."""
    engine = WrongRule(JaxEngine(), primitive, operand, factor)
    return tuple(_verdicts(engine, engine.name, shrink))


# The blame is decided from which checks fail, not from their counterexamples: it must hold at the first failing
# examples (the default run) as at the shrunk ones a user gets (full runs).
@pytest.mark.parametrize("shrink", SHRUNK_OR_NOT)
@pytest.mark.parametrize(("primitive", "operand", "factor"), RULES, ids=[f"{p}-{k}" for p, k, _ in RULES])
def test_rule_mutant_is_blamed_on_its_own_primitive(primitive: str, operand: int, factor: float, shrink: bool) -> None:
    verdicts = list(_rule_mutant_verdicts(primitive, operand, factor, shrink))
    (cause,) = root_causes(verdicts)
    assert (cause.primitive, cause.operand) == (primitive, operand), cause.line()
    printed = io.StringIO()
    print_summary(verdicts, Console(file=printed, width=200))
    assert " ".join(f"root cause {cause.line()}".split()) in " ".join(printed.getvalue().split())  # rich wraps lines


@pytest.mark.verigrad_full_only  # seconds of JAX when its rule mutant's run is not shared, and a report
def test_the_root_cause_is_recorded_and_drawn_in_the_report(tmp_path: Path) -> None:
    verdicts = list(_rule_mutant_verdicts("maximum", 1, -1.0))
    records = tmp_path / "records.jsonl"
    with RecordsWriter(records) as writer:
        writer.write_header({"engines": [verdicts[0].engine]})
        for verdict in verdicts:
            writer.write(verdict)
        writer.write_summary(summary_record(verdicts))
    headers, _ = read_records([records])
    (recorded,) = headers[0]["summary"]["root_causes"]
    assert (recorded["primitive"], recorded["operand"]) == ("maximum", 1)
    assert recorded["line"].startswith(f"{verdicts[0].engine}: maximum, w.r.t. its second operand: ")
    assert f"<strong>root cause</strong> {recorded['line']}" in build_html(headers, verdicts)


def test_a_correct_engine_has_no_root_cause(jax_engine: JaxEngine) -> None:
    assert root_causes(_verdicts(jax_engine, "jax")) == []


def test_traced_primitives_follow_the_argument() -> None:
    assert exercised("elementwise.sub", "x") == {("sub", 1)}
    assert exercised("elementwise.sub", "w") == {("sub", 0)}
    assert ("T", 0) in exercised("linalg.transpose_matmul", "A") and ("T", 0) not in exercised("linalg.transpose_matmul", "B")
    assert exercised("losses.softmax_xent", "Z") >= {("log_softmax", 0), ("mean", 0)}
