"""An adapter's conversion to the protocol's dtype must not hide the library's own change of dtype.

A library that returns a float64 gradient for a float32 input (autograd's max, mean, maximum, where; mygrad's
Python numbers) has its result converted back by its adapter, as the protocol wants; :func:`in_dtype` remembers
the library's dtype, the values are judged as converted, and ``shape_dtype`` reports the promotion.
"""

from __future__ import annotations

import numpy as np
import pytest

from verigrad import expectations
from verigrad.oracles import CastArray, in_dtype, native_dtype
from verigrad.records import FAIL, PASS, Verdict
from verigrad.runner import plan, run_all


def test_a_result_already_in_the_dtype_is_a_plain_copy():
    library = np.arange(3, dtype=np.float32)
    result = in_dtype(library, np.float32)
    assert type(result) is np.ndarray and native_dtype(result) is None
    assert not np.shares_memory(result, library)


def test_a_converted_result_remembers_the_librarys_dtype_through_reshapes_and_slices():
    result = in_dtype(np.arange(6, dtype=np.float64), np.float32)
    assert isinstance(result, CastArray) and result.dtype == np.float32
    assert native_dtype(result) == np.float64
    assert native_dtype(result.reshape(2, 3)) == np.float64 and native_dtype(result[1:]) == np.float64


class _Promoting:
    """A correct engine whose 'library' computes the gradient in float64, converted back by its adapter."""

    name = "promoting"
    supported_dtypes = ("float32",)

    def __init__(self, engine) -> None:
        self._engine = engine
        self.xp = engine.xp

    def vjp(self, fn, primals, cotangent):
        wide = self._engine.vjp(fn, tuple(p.astype(np.float64) for p in primals), cotangent.astype(np.float64))
        return tuple(in_dtype(g, p.dtype) for g, p in zip(wide, primals, strict=True))

    def jvp(self, fn, primals, tangents):
        return self._engine.jvp(fn, primals, tangents)


@pytest.fixture(scope="module")
def promoting():
    from verigrad.oracles import load_engine

    return _Promoting(load_engine("torch"))


@pytest.mark.parametrize("prop", ["shape_dtype", "vjp"])
def test_shape_dtype_reports_the_promotion_and_the_values_are_judged_as_converted(promoting, prop):
    specs = plan(["promoting"], dtypes=["float32"], case_pattern="elementwise.mul", properties=[prop])
    (verdict, *_) = list(run_all(specs, {"promoting": promoting}, seed=0, max_examples=3))
    if prop == "vjp":
        assert verdict.status == PASS, verdict.message  # float64 values rounded to float32 are within the bound
    else:
        assert verdict.status == FAIL and verdict.diagnosis["kind"] == "dtype_changed", verdict.message
        assert "the library returned dtype float64 instead of float32 (upcast)" in verdict.message


def test_a_pin_may_name_several_dtypes(tmp_path):
    pins = tmp_path / "pins.txt"
    pins.write_text("shape_dtype[reduce.max-*-autograd-*]  autograd  float32,float16  fail  # autograd-float64-gradient\n")
    (pin,) = expectations.parse(pins)

    def verdict(dtype: str) -> Verdict:
        return Verdict(f"shape_dtype[reduce.max-all-autograd-{dtype}]", "shape_dtype", "reduce.max", "all", "autograd",
                       dtype, FAIL, message="dtype_changed")

    assert [pin.matches(verdict(d)) for d in ("float32", "float16", "float64")] == [True, True, False]


def test_the_built_in_adapters_remember_what_they_convert():
    """autograd's max and mygrad's Python numbers, through their adapters: the dtype the library returned is kept."""
    from verigrad.oracles import load_engine

    x = np.array([1.0, 3.0, 2.0], np.float32)
    autograd = load_engine("autograd")
    (grad,) = autograd.vjp(lambda a: autograd.xp.max(a), (x,), np.array(1.0, np.float32))
    assert grad.dtype == np.float32 and native_dtype(grad) == np.float64
    (grad,) = autograd.vjp(lambda a: autograd.xp.sum(a * a), (x,), np.array(1.0, np.float32))
    assert native_dtype(grad) is None  # a rule that keeps float32 is not flagged
    mygrad = load_engine("mygrad")
    ones = (np.ones(3, np.float32),)
    assert native_dtype(mygrad.jvp(lambda a: mygrad.xp.sum(2.0 * a), (x,), ones)) == np.float64
    assert native_dtype(mygrad.jvp(lambda a: mygrad.xp.sum(a * a), (x,), ones)) is None
