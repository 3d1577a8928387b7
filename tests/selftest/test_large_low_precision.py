"""Large draws in float16: more than 2048 tied elements (float16's exact count) reach the property suite,
a correct engine passes them, and a max whose backward counts its ties in float16 fails them.

The large draws are one example in 64 (``verigrad.strategies``); these tests reach them directly (a
hypothesis ``find`` for the draw, a fixed seed for the checks), so they take a second, not a sweep.
"""

from __future__ import annotations

import random

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings
from mutant_table import LARGE_DRAW_MUTANTS

from verigrad import strategies as vs
from verigrad.checks import Target, check_vjp
from verigrad.dtypes import numpy_dtype
from verigrad.oracles import load_engine
from verigrad.reference import CASES, get_case
from verigrad.runner import FUNCTIONS

FLOAT16 = np.dtype(np.float16)
#: float16 holds every integer up to 2048 exactly; a count of more ties needs another format.
EXACT_COUNT = 2048
#: An even seed: the tied draw (integers, ±2 weighted), at the largest size.
TIED_SEED, ELEMENTS = 0, max(vs.LARGE_SIZES)


def _ties(example: vs.Example) -> int:
    (values,) = example.values.values()
    return int(np.sum(values == values.max()))


def _large(case_id: str) -> vs.Example:
    return vs._large_example(get_case(case_id), FLOAT16, ELEMENTS, TIED_SEED, cotangent=True, tangents=())


def _vjp(case_id: str, engine: object, example: vs.Example) -> object:
    case = get_case(case_id)
    (arg,) = case.differentiable_args
    target = Target(case, arg, engine, FLOAT16, "probabilistic", FUNCTIONS.get(case, engine, example.params))
    return check_vjp(target, example)


def test_the_suite_draws_more_than_2048_float16_ties() -> None:
    """vs.examples itself (the vjp property's strategy) reaches a float16 max over > 2048 ties."""
    strategy = vs.examples(get_case("reduce.max_all"), FLOAT16, cotangent=False, tangents=(), large=True)
    found = find(strategy, lambda ex: _ties(ex) > EXACT_COUNT, random=random.Random(0),
                 settings=settings(max_examples=5000, database=None, suppress_health_check=list(HealthCheck)))
    values = found.values["X"]
    assert values.dtype == FLOAT16 and np.all(np.isfinite(values))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("elements", vs.LARGE_SIZES)
def test_large_draws_keep_sums_of_squares_inside_the_format(dtype: str, elements: int) -> None:
    """n·b² (reduce.norm2's Σ x²) stays a quarter of the largest finite number; float32 and float64 keep ±8."""
    dtype_ = numpy_dtype(dtype)
    bound = vs.large_bound(dtype_, elements)
    largest = float(ml_dtypes.finfo(dtype_).max)
    assert elements * max(bound, bound**2) <= largest / vs.OVERFLOW_HEADROOM
    assert bound == np.exp2(np.floor(np.log2(bound))), "a power of two: scaling keeps ties"
    if dtype_.itemsize >= 4:
        assert bound == vs.VALUE_RANGE


def test_the_tied_draw_ties_more_than_2048_ways() -> None:
    example = _large("reduce.max_all")
    assert _ties(example) > EXACT_COUNT


#: Every large-eligible case; the default run keeps the max (the ties) and the sum (the range), the rest full-only.
DEFAULT_CASES = {"reduce.max_all", "reduce.sum_all"}
LARGE_CASES = [pytest.param(case.id, marks=[] if case.id in DEFAULT_CASES else [pytest.mark.verigrad_full_only])
               for case in CASES if vs.large_eligible(case)]


@pytest.mark.parametrize("engine_name", ["jax", "torch"])
@pytest.mark.parametrize("case_id", LARGE_CASES)
def test_a_correct_engine_passes_the_large_float16_draw(case_id: str, engine_name: str) -> None:
    outcome = _vjp(case_id, load_engine(engine_name), _large(case_id))
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("name", list(LARGE_DRAW_MUTANTS))
def test_a_large_draw_mutant_fails_it(name: str) -> None:
    factory, kind, case_id = LARGE_DRAW_MUTANTS[name]
    outcome = _vjp(case_id, factory(load_engine("torch")), _large(case_id))
    assert not outcome.passed, f"{name} passed the large float16 draw of {case_id}"
    assert outcome.diagnosis is not None and outcome.diagnosis.kind == kind, outcome.message


@pytest.mark.parametrize("name", list(LARGE_DRAW_MUTANTS))
def test_a_large_draw_mutant_passes_below_the_exact_count(name: str) -> None:
    """The same draw at 4096 elements ties ~1365 ways, a count float16 holds: the mutant is then right."""
    factory, _, case_id = LARGE_DRAW_MUTANTS[name]
    example = vs._large_example(get_case(case_id), FLOAT16, 4096, TIED_SEED, cotangent=True, tangents=())
    assert 1 < _ties(example) <= EXACT_COUNT
    outcome = _vjp(case_id, factory(load_engine("torch")), example)
    assert outcome.passed, outcome.message
