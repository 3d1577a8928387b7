"""float16 and bfloat16 across the harness: names, input ranges, and engines that cannot run them.

An engine that declares a dtype unsupported, or raises on it, gets a skip whose
message names why (and which operation raised), never a failure.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings

from verigrad import strategies as vs
from verigrad.dtypes import KNOWN_DTYPES, LOW_PRECISION, numpy_dtype, raising_operation, value_bound
from verigrad.oracles import load_engine
from verigrad.records import FAIL, PASS, SKIP
from verigrad.reference import get_case
from verigrad.runner import CheckSpec, run_check
from verigrad.tolerance import unit_roundoff

#: dtype -> unit roundoff u = ε/2 the bounds are built from.
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "bfloat16": 2.0**-8, "float16": 2.0**-11}


@pytest.mark.parametrize("name", KNOWN_DTYPES)
def test_unit_roundoff_of_each_format(name: str) -> None:
    assert unit_roundoff(numpy_dtype(name)) == UNIT_ROUNDOFF[name]


def test_bfloat16_is_ml_dtypes_and_unknown_names_are_refused() -> None:
    assert numpy_dtype("bfloat16") == np.dtype(ml_dtypes.bfloat16)
    with pytest.raises(ValueError, match=r"unknown dtype 'float8'.*float16, bfloat16"):
        numpy_dtype("float8")


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@settings(max_examples=30, deadline=None)
@given(data=__import__("hypothesis").strategies.data())
def test_drawn_inputs_keep_the_catalog_finite(dtype: str, data) -> None:
    """x⁸ and 8·y⁷ (grad.g) of any drawn input stay finite in the format, and inputs are in the dtype."""
    ex = data.draw(vs.examples(get_case("grad.g"), numpy_dtype(dtype)))
    y = ex.values["y"]
    assert y.dtype == numpy_dtype(dtype)
    assert abs(float(y)) <= value_bound(dtype)
    assert np.isfinite((y.astype(numpy_dtype(dtype)) ** 8) * 8)


class _NoBfloat16:
    """A correct engine (jax) whose namespace raises on bfloat16 arrays in ``maximum``."""

    name = "no-bf16"

    def __init__(self) -> None:
        self._inner = load_engine("jax")
        inner_xp = self._inner.xp

        class _Xp:
            def __getattr__(self, attr):
                return getattr(inner_xp, attr)

            @staticmethod
            def maximum(a, b):
                if str(a.dtype) == "bfloat16":
                    raise NotImplementedError("maximum has no bfloat16 kernel")
                return inner_xp.maximum(a, b)

        self.xp = _Xp()

    def vjp(self, fn, primals, cotangent):
        return self._inner.vjp(fn, primals, cotangent)

    def jvp(self, fn, primals, tangents):
        return self._inner.jvp(fn, primals, tangents)


def test_raising_on_a_low_precision_dtype_is_a_skip_naming_the_operation() -> None:
    engine = _NoBfloat16()
    verdict = run_check(CheckSpec("vjp", "elementwise.max", "w", None, "no-bf16", "bfloat16"), engine, seed=1, max_examples=3)
    assert verdict.status == SKIP, verdict.message
    assert "does not support bfloat16 in `primal=lambda xp, w, x: xp.maximum(w, x)," in verdict.message
    assert "NotImplementedError: maximum has no bfloat16 kernel" in verdict.message
    passing = run_check(CheckSpec("vjp", "elementwise.max", "w", None, "no-bf16", "float32"), engine, seed=1, max_examples=3)
    assert passing.status == PASS


class _NoJvpRule(_NoBfloat16):
    """jax without a forward-mode rule: its JVP raises in every dtype, as autograd's does for hypot."""

    name = "no-jvp-rule"

    def jvp(self, fn, primals, tangents):
        raise NotImplementedError("JVP of this primitive not defined")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_raising_in_float32_too_is_no_dtype_skip(dtype: str) -> None:
    """The raise is the engine's, not the format's: the same call is retried in float32, and raises alike."""
    verdict = run_check(CheckSpec("jvp", "elementwise.mul", "w", None, "no-jvp-rule", dtype), _NoJvpRule(), seed=1,
                        max_examples=3)
    assert verdict.status == FAIL and verdict.diagnosis["kind"] == "engine_raised", verdict.message
    assert verdict.diagnosis["details"]["raises_in_float32"] is True
    assert "(in float32 too: not the format)" in verdict.message


def test_declared_unsupported_dtype_is_a_skip_with_its_reason() -> None:
    engine = load_engine("jax")
    engine.supported_dtypes = ("float64", "float32")
    engine.dtype_reasons = {"float16": "this build has no half-precision kernels"}
    verdict = run_check(CheckSpec("vjp", "elementwise.mul", "w", None, "jax", "float16"), engine, seed=1, max_examples=2)
    assert verdict.status == SKIP
    assert verdict.message == "jax does not support float16: this build has no half-precision kernels"


def test_raising_operation_names_the_primal_line_and_the_library_function() -> None:
    case = get_case("scalar.chain")

    class _Xp:
        @staticmethod
        def sin(a):
            raise TypeError("no sin here")

    try:
        case.bind(_Xp())(np.float16(1.0))
    except TypeError as error:
        where = raising_operation(error)
    assert where.startswith("`primal=lambda xp, x: xp.sin(x**2),` (cases.py:")
    assert where.endswith("-> sin (test_low_precision.py:" + where.rsplit(":", 1)[1])


@pytest.mark.parametrize("engine_name", ["jax", "torch", "mlx"])
@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_engine_round_trips_low_precision_bit_for_bit(engine_name: str, dtype: str) -> None:
    pytest.importorskip(engine_name)
    engine = load_engine(engine_name)
    x = np.array([0.1, -3.0, 1.5, 2.0**-14], dtype=numpy_dtype(dtype))
    (grad,) = engine.vjp(lambda a: a * 1, (x,), x)
    assert grad.dtype == x.dtype and grad.tobytes() == x.tobytes()
    assert engine.jvp(lambda a: a * 1, (x,), (x,)).tobytes() == x.tobytes()
