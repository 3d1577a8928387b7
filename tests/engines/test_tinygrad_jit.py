"""tinygrad's TinyJit path gives the plain path's bits, call after call.

A jit runs plain on its first call, captures on its second and replays from the
third, so each case is called five times with new values of the same shapes.
A replay that returned a buffer captured on an earlier call (a gradient that
is only a view of an input) would show here as stale values.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

from verigrad.oracles.registry import EngineLoadError, load_engine
from verigrad.reference import NONZERO, NONZERO_MIN_ABS, Case, get_case, resolve_shape

pytest.importorskip("tinygrad")

SIZES = {"n": 3, "m": 2, "N": 4}
DTYPES = (np.float64, np.float32)
CALLS = 5
#: (case, params, ties): ties puts the case on its kink (max of equal values, ReLU at 0) every other call.
CASES = [
    ("elementwise.max", {}, True),
    ("neuron.relu", {}, True),
    ("scalar.chain", {}, False),  # 0-d inputs
    ("grad.g", {}, False),  # two 0-d inputs
    ("chain.matvec_sin", {}, False),
    ("scalar.constant", {}, False),  # the output does not depend on x
    ("scalar.power", {"n": 0}, False),  # nor on anything
    ("scalar_expansion.add", {}, False),  # d/dx is the cotangent itself: a view of an input
    ("loss.gd_step", {"eta": 0.5}, False),  # data args, an (n+1,) output
]


@functools.cache
def _engine(jit: bool) -> Any:
    try:
        return load_engine("tinygrad", jit=jit)
    except EngineLoadError as error:
        pytest.skip(f"tinygrad cannot be used here: {error}")


def _inputs(case: Case, dtype: type, rng: np.random.Generator, tie: bool) -> tuple[tuple[np.ndarray, ...], Any, Any]:
    """Primals (nonzero args at least NONZERO_MIN_ABS from 0), a cotangent and tangents."""
    primals = []
    for arg in case.args:
        shape = resolve_shape(arg.shape, SIZES)
        values = rng.uniform(-2.0, 2.0, shape)
        if arg.domain == NONZERO:
            values = np.copysign(np.maximum(np.abs(values), 2 * NONZERO_MIN_ABS), values)
        primals.append(values.astype(dtype))
    if tie and case.id == "elementwise.max":
        primals[1][::2] = primals[0][::2]
    if tie and case.id == "neuron.relu":
        primals[0][...] = 0
    out_shape = resolve_shape(case.output, SIZES)
    cotangent = rng.uniform(-2.0, 2.0, out_shape).astype(dtype)
    tangents = tuple(rng.uniform(-2.0, 2.0, p.shape).astype(dtype) for p in primals)
    return tuple(primals), cotangent, tangents


def _assert_same_bits(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert (got.shape, got.dtype) == (want.shape, want.dtype), what
    assert got.tobytes() == want.tobytes(), f"{what}: jit {got!r} != plain {want!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("case_id", "params", "ties"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.verigrad_cover("case_id", rotate="dtype")  # default run: each case, the dtypes in turn
def test_jit_results_equal_plain_results_bitwise(case_id, params, ties, dtype):
    jitted, plain = _engine(True), _engine(False)
    case = get_case(case_id)
    # One fn per engine, reused for every call, as the harness does: the jit is keyed by it.
    fn_jit, fn_plain = case.bind(jitted.xp, **params), case.bind(plain.xp, **params)
    rng = np.random.default_rng(20240607)
    for call in range(CALLS):
        primals, u, v = _inputs(case, dtype, rng, tie=ties and call % 2 == 1)
        for name, got, want in zip(
            case.arg_names, jitted.vjp(fn_jit, primals, u), plain.vjp(fn_plain, primals, u), strict=True
        ):
            _assert_same_bits(got, want, f"call {call}: vjp d/d{name}")
        _assert_same_bits(jitted.jvp(fn_jit, primals, v), plain.jvp(fn_plain, primals, v), f"call {call}: jvp")


def test_one_jit_per_function_and_shape_replayed():
    """Repeated calls reuse one cached TinyJit per kind, and it really replays."""
    engine = _engine(True)
    fn = get_case("chain.matvec_sin").bind(engine.xp)
    rng = np.random.default_rng(7)
    for _ in range(CALLS):
        engine.vjp(fn, (rng.normal(size=(2, 3)), rng.normal(size=3)), rng.normal(size=2))
        engine.jvp(fn, (rng.normal(size=(2, 3)), rng.normal(size=3)), (rng.normal(size=(2, 3)), rng.normal(size=3)))
    entries = [entry for entry in engine._cache.values() if entry.fn is fn]
    assert len(entries) == 2  # one vjp, one jvp
    assert all(entry.jit is not None and entry.jit.captured is not None for entry in entries)


def test_nothing_to_jit_takes_the_plain_path():
    """A non-floating output has no gradient: exact zeros, every call, with no jit made."""
    engine = _engine(True)
    fn = lambda x: x > 0
    x = np.linspace(-1.0, 1.0, 3)
    for _ in range(3):
        (grad,) = engine.vjp(fn, (x,), np.ones(3))
        assert grad.dtype == x.dtype and grad.tolist() == [0.0, 0.0, 0.0]
        jvp = engine.jvp(fn, (x,), (np.ones(3),))
        assert jvp.dtype == np.bool_ and not jvp.any()
    assert all(entry.jit is None for entry in engine._cache.values() if entry.fn is fn)


@pytest.mark.parametrize("jit", [True, False])
def test_unsupported_dtype_raises_type_error(jit):
    engine = _engine(jit)
    with pytest.raises(TypeError, match="unsupported dtype: tinygrad cannot hold complex128"):
        engine.vjp(lambda x: x * x, (np.ones(3, np.complex128),), np.ones(3, np.complex128))


def test_a_jit_that_cannot_capture_falls_back_to_the_plain_path():
    """Reading a value inside fn is refused during capture (JitError): plain from then on, same results."""
    jitted, plain = _engine(True), _engine(False)
    fn = lambda x: x * float(x.sum().numpy())  # a value read while tracing
    rng = np.random.default_rng(3)
    for call in range(4):
        x = rng.normal(size=3)
        _assert_same_bits(jitted.vjp(fn, (x,), np.ones(3))[0], plain.vjp(fn, (x,), np.ones(3))[0], f"call {call}")
    (entry,) = [entry for entry in jitted._cache.values() if entry.fn is fn]
    assert entry.jit is None
