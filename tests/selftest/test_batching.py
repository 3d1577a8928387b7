"""The batching experiment (verigrad/batching.py): same verdicts as unbatched runs, failures still shrunk alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from verigrad import batching
from verigrad.oracles import load_engine
from verigrad.oracles.mutants import WrongSign
from verigrad.reference import get_case
from verigrad.runner import FUNCTIONS, CheckSpec, run_check

SEED = 3
SPEC = CheckSpec("vjp", "elementwise.mul", "w", None, "torch", "float64")


@pytest.fixture(scope="module")
def torch_engine() -> Any:
    pytest.importorskip("torch")
    return load_engine("torch")


def test_batched_gradients_are_bit_identical_for_an_elementwise_case(torch_engine: Any) -> None:
    case = get_case(SPEC.case)
    examples = batching.draw(SPEC, "dev", SEED)
    table = batching.batched_vjps(torch_engine, SPEC, examples)
    for example in examples:
        primals = example.primals(case.arg_names)
        single = torch_engine.vjp(FUNCTIONS.get(case, torch_engine, example.params), primals, example.cotangent)
        batched = table[batching._key(primals, example.cotangent)]
        assert [a.tobytes() for a in single] == [b.tobytes() for b in batched]


def test_batched_check_gives_the_unbatched_verdict(torch_engine: Any) -> None:
    plain = run_check(SPEC, torch_engine, "dev", seed=SEED)
    batched = batching.run_check_batched(SPEC, torch_engine, "dev", seed=SEED)
    assert (batched.status, batched.examples, batched.max_ulps) == (plain.status, plain.examples, plain.max_ulps)


def test_a_failing_example_is_shrunk_and_reported_alone(torch_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong engine's batch is replayed; the shrink calls the engine itself, so the counterexample is the unbatched one."""
    mutant = WrongSign(torch_engine)

    def negated(engine: Any, fn: Any, primals: tuple[np.ndarray, ...], cotangents: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(-g for g in batching._torch_batched_vjp(engine, fn, primals, cotangents))

    monkeypatch.setitem(batching.BATCHED_VJP, mutant.name, negated)
    spec = CheckSpec("vjp", "elementwise.mul", "w", None, mutant.name, "float64")
    plain = run_check(spec, mutant, "dev", seed=SEED)
    batched = batching.run_check_batched(spec, mutant, "dev", seed=SEED)
    assert plain.status == batched.status == "fail"
    assert batched.counterexample == plain.counterexample
    assert batched.diagnosis == plain.diagnosis
