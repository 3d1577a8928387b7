"""The second-order properties catch wrong Hessian-vector products, and skip engines that have none."""

from __future__ import annotations

import numpy as np
import pytest
from mutant_table import SHRUNK_OR_NOT

from verigrad.oracles import load_engine
from verigrad.records import FAIL, PASS, SKIP
from verigrad.runner import CheckSpec, run_check

# torch loads its forward-AD decompositions through the deprecated torch.jit.script.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class _Wrapped:
    def __init__(self, name: str) -> None:
        self.inner = load_engine("torch")
        self.name, self.xp = name, self.inner.xp

    def vjp(self, fn, primals, cotangent):
        return self.inner.vjp(fn, primals, cotangent)

    def jvp(self, fn, primals, tangents):
        return self.inner.jvp(fn, primals, tangents)


class NoCrossTerms(_Wrapped):
    """H v with the mixed blocks ∂²f/∂a∂b (a ≠ b) dropped: each argument sees only its own vector."""

    def hvp(self, fn, primals, vectors):
        return tuple(
            self.inner.hvp(fn, primals, tuple(v if j == k else np.zeros_like(v) for j, v in enumerate(vectors)))[k]
            for k in range(len(primals))
        )


class NanAtTiedSpectrum:
    """jax, except that its H v is NaN at a permuted diagonal matrix with a repeated entry (as torch's det's is at I)."""

    name = "nan-at-tied-spectrum"

    def __init__(self) -> None:
        self.inner = load_engine("jax")
        self.xp = self.inner.xp

    def vjp(self, fn, primals, cotangent):
        return self.inner.vjp(fn, primals, cotangent)

    def hvp(self, fn, primals, vectors):
        products = self.inner.hvp(fn, primals, vectors)
        (matrix,) = primals
        entries = matrix[matrix != 0]
        tied = len(entries) == len(matrix) == np.count_nonzero(np.any(matrix, axis=0)) and len(set(entries)) < len(entries)
        return tuple(np.full_like(p, np.nan) for p in products) if tied else products


class ReverseModeSlip(_Wrapped):
    """A correct forward-over-reverse product, and a reverse-over-reverse one off by a relative 2⁻²⁰."""

    def hvp(self, fn, primals, vectors):
        return self.inner.hvp(fn, primals, vectors)

    def hvp_reverse(self, fn, primals, vectors):
        return tuple(r * (1 + 2.0**-20) for r in self.inner.hvp_reverse(fn, primals, vectors))


def _run(prop: str, case: str, engine, shrink: bool = True) -> object:
    return run_check(CheckSpec(prop, case, None, None, engine.name, "float64"), engine, seed=3, max_examples=10, shrink=shrink)


@pytest.mark.parametrize("shrink", SHRUNK_OR_NOT)
def test_hvp_without_cross_terms_is_caught(shrink: bool) -> None:
    verdict = _run("hvp", "grad.f", NoCrossTerms("no-cross-terms"), shrink)
    assert verdict.status == FAIL, verdict.message


@pytest.mark.parametrize("shrink", SHRUNK_OR_NOT)
def test_the_two_modes_disagreeing_is_caught(shrink: bool) -> None:
    verdict = _run("hvp_modes", "loss.relu_mse", ReverseModeSlip("reverse-slip"), shrink)
    assert verdict.status == FAIL
    assert verdict.message.startswith("forward-over-reverse H v differs from reverse-over-reverse"), verdict.message


def test_a_hessian_wrong_only_at_a_tied_spectrum_is_caught() -> None:
    """Random draws never repeat a pivot or singular value exactly; the square-matrix draws do (strategies)."""
    spec = CheckSpec("hvp", "linalg.det_native", None, None, NanAtTiedSpectrum.name, "float64")
    verdict = run_check(spec, NanAtTiedSpectrum(), "ci", seed=1, shrink=False)
    assert verdict.status == FAIL and verdict.diagnosis["kind"] == "non_finite", verdict.message
    found = np.array(verdict.counterexample["inputs"]["A"])
    assert np.count_nonzero(found) == 3 and len(set(found[found != 0])) < 3, found


@pytest.mark.parametrize("case", ["grad.f", "loss.relu_mse", "scalar.chain"])
def test_a_correct_engine_passes_both(case: str) -> None:
    engine = load_engine("torch")
    for prop in ("hvp", "hvp_modes"):
        verdict = _run(prop, case, engine)
        assert verdict.status == PASS, verdict.message


def test_an_engine_without_hvp_is_skipped_with_the_reason() -> None:
    verdict = _run("hvp", "grad.f", _Wrapped("first-order-only"))
    assert verdict.status == SKIP
    assert verdict.message == "first-order-only has no hvp method (optional in the Engine protocol)"


@pytest.mark.parametrize(("dtype", "inside"), [("float16", False), ("float32", True)])
def test_hvp_draws_stay_inside_the_format(dtype: str, inside: bool) -> None:
    """‖x‖ at x = 2⁻⁸ (float16): forward over reverse forms 1/‖x‖³ = 2²⁴ > 65504 (jax: -inf); float32 holds it."""
    from verigrad.reference import get_case
    from verigrad.second_order import _in_range
    from verigrad.strategies import Example

    x = np.array([2.0**-8], dtype=dtype)
    example = Example({"x": x}, {}, np.zeros((), dtype), {"x": np.ones(1, dtype)})
    assert _in_range(get_case("reduce.norm2"), example, float(np.finfo(dtype).max)) is inside
