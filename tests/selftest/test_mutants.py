"""The harness proves it catches bugs: every mutant in the table ``MUTANTS`` (``mutant_table.py``) fails
the check its row names, with the diagnosis its row names; the correct engine it
wraps passes the same checks; and a broken engine never breaks a run.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import signal
import time

import numpy as np
import pytest
from mutant_table import FAMILY_CATCHES, MUTANTS, SCALE_VALUE_MUTANTS, SHRUNK_OR_NOT, Catch, Mutant, load_mutant

from verigrad.calls import ContractViolation, call_vjp
from verigrad.diagnosis import KINDS
from verigrad.oracles import load_engine
from verigrad.oracles import mutants as mutants_module
from verigrad.oracles.mutants import MUTANT_ENGINES, Hangs, MutantEngine, MutatesInputs
from verigrad.oracles.torch_engine import TorchEngine
from verigrad.records import FAIL, PASS
from verigrad.reference import CASES, get_case
from verigrad.runner import CheckSpec, plan, run_all, run_check

SEED = 20240611
MAX_EXAMPLES = 8
#: Failures found by hypothesis carry the failing example; a time-out aborts before there is one.
WITHOUT_EXAMPLE = {"timeout"}
#: How the scale diagnosis must name each scaling mutant's factor (m = 3 in chain.matvec_sin).
SCALE_LABELS = {"mutant-scale-2": ("×2", None), "mutant-scale-half": ("×½", None),
                "mutant-scale-size": ("×m (= 3)", "m"), "mutant-scale-inverse-size": ("×1/m (= 1/3)", "m")}


@pytest.fixture(scope="module")
def torch_engine() -> TorchEngine:
    return TorchEngine()


def _spec(catch: Catch, engine: str) -> CheckSpec:
    return CheckSpec(catch.property, catch.case, catch.arg, catch.pair, engine, catch.dtype)


def _run(catch: Catch, engine_name: str, engine: object, timeout: float | None = None, shrink: bool = True) -> object:
    return run_check(_spec(catch, engine_name), engine, seed=SEED, max_examples=MAX_EXAMPLES, timeout=timeout,
                     shrink=shrink)


@pytest.mark.parametrize("shrink", SHRUNK_OR_NOT)
@pytest.mark.parametrize("name", list(MUTANTS), ids=list(MUTANTS))
def test_mutant_is_caught_and_diagnosed(name: str, shrink: bool, torch_engine: TorchEngine) -> None:
    mutant: Mutant = MUTANTS[name]
    engine = mutant.factory(torch_engine)
    start = time.monotonic()
    verdict = _run(mutant.catch, mutant.spec, engine, mutant.catch.timeout, shrink)
    elapsed = time.monotonic() - start
    diagnosis = verdict.diagnosis or {}
    assert verdict.status == FAIL, f"{name} passed {verdict.check_id}"
    assert diagnosis.get("kind") == mutant.kind, f"{name}: diagnosed {diagnosis.get('kind')!r}: {verdict.message}"
    assert diagnosis["kind"] in KINDS
    assert verdict.message.startswith(mutant.kind)
    if mutant.kind == "timeout":  # stopped at its limit, not after the engine's own 30 s
        assert elapsed < mutant.catch.timeout + 5.0, f"{name}: a {mutant.catch.timeout} s limit took {elapsed:.1f} s"
    if mutant.kind not in WITHOUT_EXAMPLE:
        assert verdict.counterexample and verdict.counterexample["inputs"], verdict.message
        assert verdict.reproduction and mutant.spec in verdict.reproduction
    if name in SCALE_LABELS:
        label, size = SCALE_LABELS[name]
        assert diagnosis["summary"].endswith(label), verdict.message
        assert diagnosis["details"].get("size") == size


@pytest.mark.parametrize("shrink", SHRUNK_OR_NOT)
@pytest.mark.parametrize(("name", "kind", "catch"), FAMILY_CATCHES,
                         ids=[f"{n}-{c.property}-{c.case}-{c.subject}" for n, _, c in FAMILY_CATCHES])
def test_mutant_is_caught_on_each_new_family(name: str, kind: str, catch: Catch, shrink: bool, torch_engine: TorchEngine) -> None:
    mutant: Mutant = MUTANTS[name]
    verdict = _run(catch, mutant.spec, mutant.factory(torch_engine), catch.timeout, shrink)
    assert verdict.status == FAIL, f"{name} passed {verdict.check_id}"
    assert (verdict.diagnosis or {}).get("kind") == kind, f"{name}: {verdict.message}"


ALL_CATCHES = list(dict.fromkeys([m.catch for m in MUTANTS.values()] + [c for _, _, c in FAMILY_CATCHES]))


@pytest.mark.parametrize("catch", ALL_CATCHES, ids=lambda c: f"{c.property}-{c.case}-{c.subject}-{c.dtype}")
def test_correct_engine_passes_the_same_checks(catch: Catch, torch_engine: TorchEngine) -> None:
    verdict = _run(catch, "torch", torch_engine)
    assert verdict.status == PASS, verdict.message


def test_every_kind_but_unclassified_and_crashed_has_a_mutant() -> None:
    # "crashed" (a dead worker process under --jobs) is covered in tests/cli, not by an in-process mutant;
    # the scale checks' value probe has its own table (tests/scale runs it).
    shown = {m.kind for m in MUTANTS.values()} | {kind for _, _, kind, _ in SCALE_VALUE_MUTANTS.values()}
    assert set(KINDS) - shown == {"unclassified", "crashed"}
    assert [row[0] for row in SCALE_VALUE_MUTANTS.values()] == list(mutants_module.SCALE_VALUE_MUTANTS)


def test_table_names_and_specs_agree() -> None:
    for name, mutant in MUTANTS.items():
        assert mutant.factory.__name__ in mutant.spec
        engine = load_engine(mutant.spec)  # what `verigrad check --engine verigrad.oracles.mutants:...` does
        assert isinstance(engine, MutantEngine)
        assert engine.name == name
        assert engine.xp is engine.inner.xp
        assert load_mutant(name).name == name
        get_case(mutant.catch.case)  # the catching case exists


def test_the_table_has_a_row_for_every_mutant_engine() -> None:
    assert [m.factory for m in MUTANTS.values()] == list(MUTANT_ENGINES)


def test_mutants_know_no_cases() -> None:
    """The engines perturb results generically: no case id appears in their code (only in the table)."""
    module_source = inspect.getsource(mutants_module)
    classes = {node.name: ast.get_source_segment(module_source, node)
               for node in ast.walk(ast.parse(module_source)) if isinstance(node, ast.ClassDef)}
    for mutant in MUTANTS.values():
        for cls in mutant.factory.__mro__:
            source = classes.get(cls.__name__, "")
            for case in CASES:
                assert case.id not in source, f"{cls.__name__} mentions {case.id}"
    assert "np.random.seed" not in module_source and "np.random.rand" not in module_source


def test_reproduction_replays_the_mutant(torch_engine: TorchEngine) -> None:
    """The verdict's snippet runs as printed and shows the bug: the engine's answer is the negated reference."""
    mutant = MUTANTS["mutant-wrong-sign"]
    verdict = _run(mutant.catch, mutant.spec, mutant.factory(torch_engine))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(verdict.reproduction, "<reproduction>", "exec"), {})
    lines = dict(line.split(":", 1) for line in printed.getvalue().strip().splitlines())
    engine = np.array(lines["engine"].strip().strip("[]").split(), dtype=float)
    reference = np.array(lines["reference"].strip().strip("[]").split(), dtype=float)
    np.testing.assert_array_equal(engine, -reference)
    assert np.any(reference != 0)


def test_mutated_inputs_are_restored_for_the_counterexample(torch_engine: TorchEngine) -> None:
    case = get_case("elementwise.mul")
    engine = MutatesInputs(torch_engine)
    w, x = np.array([0.5, -2.0]), np.array([3.0, 0.25])
    with pytest.raises(ContractViolation) as caught:
        call_vjp(engine, case.bind(engine.xp), (w, x), np.ones(2), case.arg_names)
    assert caught.value.diagnosis.kind == "mutated_input"
    np.testing.assert_array_equal(w, [0.5, -2.0])
    np.testing.assert_array_equal(x, [3.0, 0.25])


def test_nondeterministic_mutant_uses_its_own_generator(torch_engine: TorchEngine) -> None:
    state = np.random.get_state()[1].copy()
    engine = MUTANTS["mutant-nondeterministic"].factory(torch_engine)
    case = get_case("elementwise.mul")
    primals = (np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    first, second, third = (engine.vjp(case.bind(engine.xp), primals, np.ones(2))[0] for _ in range(3))
    np.testing.assert_array_equal(first, third)
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_a_broken_engine_never_breaks_the_run(torch_engine: TorchEngine) -> None:
    """Raising, hanging and None-returning engines each get a verdict per check; the checks after them still run."""
    engines = {
        "verigrad.oracles.mutants:Raises": MUTANTS["mutant-raises"].factory(torch_engine),
        "verigrad.oracles.mutants:Hangs": Hangs(torch_engine, seconds=30.0),
        "verigrad.oracles.mutants:ReturnsNone": MUTANTS["mutant-returns-none"].factory(torch_engine),
        "torch": torch_engine,
    }
    expected = {"verigrad.oracles.mutants:Raises": "engine_raised", "verigrad.oracles.mutants:Hangs": "timeout",
                "verigrad.oracles.mutants:ReturnsNone": "bad_return"}
    # One check per engine, each followed by the next engine's (the hanging one costs its 1 s once).
    specs = [s for s in plan(list(engines), dtypes=["float64"], case_pattern="elementwise.mul", properties=["vjp"])
             if s.arg == "w"]
    assert specs[-1].engine == "torch"
    # Warm torch first: its first autograd.grad in a process imports torch.fx (0.3 s, 0.6 s under load), which would
    # otherwise fall inside the first engine's 1 s limit.  Each check then takes milliseconds; shrinking is not
    # what this test is about.
    assert run_check(specs[-1], torch_engine, seed=SEED, max_examples=1).status == PASS
    handler = signal.getsignal(signal.SIGALRM)
    verdicts = list(run_all(specs, engines, seed=SEED, max_examples=3, timeout=1.0, shrink=False))
    assert [v.check_id for v in verdicts] == [s.id for s in specs]
    for verdict in verdicts:
        if verdict.engine == "torch":
            assert verdict.status == PASS, verdict.message
            assert verdict.examples > 0
        else:
            assert verdict.status == FAIL
            assert verdict.diagnosis["kind"] == expected[verdict.engine], verdict.message
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_transposed_mutant_on_a_square_jacobian(torch_engine: TorchEngine) -> None:
    """No catalog case has a square, non-symmetric Jacobian; on one, the mutant gives J·u and Jᵀv."""
    matrix = np.array([[1.0, 2.0], [-3.0, 0.5]])
    engine = MUTANTS["mutant-transposed"].factory(torch_engine)
    fn = lambda x: engine.xp.asarray(matrix) @ x  # J = matrix
    x, u, v = np.array([0.3, -0.7]), np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    np.testing.assert_allclose(torch_engine.vjp(fn, (x,), u)[0], matrix.T @ u)
    np.testing.assert_allclose(engine.vjp(fn, (x,), u)[0], matrix @ u)
    np.testing.assert_allclose(torch_engine.jvp(fn, (x,), (v,)), matrix @ v)
    np.testing.assert_allclose(engine.jvp(fn, (x,), (v,)), matrix.T @ v)
