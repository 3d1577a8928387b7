"""Optional vocabulary (``oracles.protocol.OPTIONAL_VOCABULARY``): a case that calls a library's own
function is skipped, saying so, on an engine without it, and checked on an engine with it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from verigrad.compare import missing_vocabulary
from verigrad.oracles import load_engine
from verigrad.reference import get_case
from verigrad.runner import CheckSpec, run_check

FD = load_engine("fd")


class _Without:
    """``xp`` with some names removed, as a library that lacks them."""

    def __init__(self, xp: Any, *absent: str) -> None:
        self._xp, self._absent = xp, absent

    def __getattr__(self, name: str) -> Any:
        if name in self._absent:
            raise AttributeError(name)
        return getattr(self._xp, name)


class _With:
    """An engine differentiating through another namespace (its vjp and jvp are ``base``'s own)."""

    def __init__(self, name: str, base: Any, xp: Any) -> None:
        self.name, self.xp, self._base = name, xp, base

    def vjp(self, fn: Any, primals: Any, cotangent: Any) -> Any:
        return self._base.vjp(fn, primals, cotangent)

    def jvp(self, fn: Any, primals: Any, tangents: Any) -> Any:
        return self._base.jvp(fn, primals, tangents)


class _Naive:
    """``xp`` whose norm, std and hypot are √(Σ a²), √(mean((a − ā)²)) and √(a² + b²), nothing kept from sqrt's
    infinite slope at 0: autodiff gives ∞·0 = NaN at the zero vector and a constant one (the libraries' bug)."""

    def __init__(self, xp: Any) -> None:
        self._xp = xp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)

    def norm(self, a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return self._xp.sqrt(self._xp.sum(a * a, axis=axis, keepdims=keepdims))

    def std(self, a: Any, axis: int | None = None, keepdims: bool = False, ddof: int = 0) -> Any:
        count = int(np.prod(a.shape)) if axis is None else a.shape[axis]
        d = a - self._xp.sum(a, axis=axis, keepdims=True) / count
        return self._xp.sqrt(self._xp.sum(d * d, axis=axis, keepdims=keepdims) / (count - ddof))

    def hypot(self, a: Any, b: Any) -> Any:
        return self._xp.sqrt(a * a + b * b)


#: (case, the optional entry it calls, its differentiable argument)
NATIVE = [("reduce.norm2_native", "norm", "x"), ("reduce.std_native", "std", "X"), ("binary.hypot_native", "hypot", "a")]


@pytest.mark.parametrize("prop", ["vjp", "kink"])
@pytest.mark.parametrize(("case", "entry", "arg"), NATIVE)
def test_an_engine_without_the_entry_skips_the_case_and_says_why(case: str, entry: str, arg: str, prop: str) -> None:
    engine = _With(f"fd-without-{entry}", FD, _Without(FD.xp, entry))
    verdict = run_check(CheckSpec(prop, case, arg, None, engine.name, "float64"), engine, "dev", seed=1)
    assert verdict.status == "skip" and f"has no xp.{entry} (optional vocabulary" in verdict.message, verdict.message


@pytest.mark.parametrize(("case", "entry", "arg"), NATIVE)
def test_an_engine_with_a_correct_entry_passes_at_the_kink(case: str, entry: str, arg: str) -> None:
    verdict = run_check(CheckSpec("kink", case, arg, None, "fd", "float64"), FD, "dev", seed=1)
    assert verdict.status == "pass", verdict.message


@pytest.mark.parametrize(("case", "entry", "arg"), NATIVE)
def test_a_native_entry_that_is_nan_at_its_kink_is_caught_as_non_finite(case: str, entry: str, arg: str) -> None:
    """The bug of several libraries' norm and std, on an engine verigrad builds itself (torch's autodiff)."""
    torch = load_engine("torch")
    engine = _With(f"torch-naive-{entry}", torch, _Naive(torch.xp))
    verdict = run_check(CheckSpec("kink", case, arg, None, engine.name, "float64"), engine, "dev", seed=1)
    assert verdict.status == "fail" and verdict.diagnosis["kind"] == "non_finite", verdict.message
    drawn = np.ravel(verdict.counterexample["inputs"][arg])
    assert np.all(drawn == drawn[0]), drawn  # the zero vector, or a constant one


def test_the_composed_norm_case_needs_no_optional_entry() -> None:
    engine = _With("fd-without-norm", FD, _Without(FD.xp, "norm"))
    verdict = run_check(CheckSpec("kink", "reduce.norm2", "x", None, engine.name, "float64"), engine, "dev", seed=1)
    assert verdict.status == "pass", verdict.message


def test_requiring_a_name_outside_the_optional_vocabulary_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"\['nrom'\].*not optional vocabulary \(norm, std, hypot, sinc, det\)"):
        missing_vocabulary(("nrom",), FD)


def test_the_native_cases_declare_what_they_call() -> None:
    assert [get_case(case).requires for case, _, _ in NATIVE] == [(entry,) for _, entry, _ in NATIVE]
    assert get_case("reduce.norm2").requires == ()


def test_the_inf_norm_of_a_matrix_is_its_largest_entry_not_numpys_matrix_norm() -> None:
    """``xp.norm(A, ord=inf)`` is max |A_ij| on every adapter; numpy's own ord=inf of a 2-d array is the max row sum."""
    from verigrad.oracles.namespaces import numpy_style_norm

    a = np.array([[1.0, -2.0], [0.5, 0.25]])
    assert numpy_style_norm(np.linalg.norm, np.ravel)(a, ord=np.inf) == 2.0 == FD.xp.norm(a, ord=np.inf)
    assert np.linalg.norm(a, ord=np.inf) == 3.0  # what the flattening avoids


@pytest.mark.parametrize("ord", [1, 3, "fro"])
def test_an_order_outside_the_vocabulary_is_a_clear_error(ord: object) -> None:
    with pytest.raises(ValueError, match=r"ord=.*the vocabulary's orders are 2 and inf"):
        FD.xp.norm(np.ones(3), ord=ord)
