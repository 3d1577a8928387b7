"""Each property catches its mistake: the catalog's mutant engines, a wrong forward-mode rule, wrong closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mutant_table import load_mutant  # tests/selftest (on pytest's pythonpath)
from rules import Sin, SquareWrongJvp, sin_product

from verigrad import check_function
from verigrad.oracles import BUILTIN_ENGINES, load_engine

A, B = np.array([0.5, -1.25, 2.0]), np.array([1.5, 0.75, -0.5])

#: mutant -> (property that catches it, dtype, expected diagnosis kind), all on ``sin_product``.
FUNCTION_MUTANTS = {
    "mutant-wrong-sign": ("vjp", "float64", "wrong_sign"),
    "mutant-scale-2": ("jvp", "float64", "scaled"),
    "mutant-missing-term": ("aliased", "float64", "missing_term"),
    "mutant-overwrites-aliased": ("aliased", "float64", "missing_term"),
    "mutant-double-counted": ("aliased", "float64", "double_counted"),
    "mutant-upcast": ("shape_dtype", "float32", "dtype_changed"),
    "mutant-float32-inside": ("vjp", "float64", "precision"),
    "mutant-relative-error": ("jvp", "float64", "precision"),
    "mutant-non-finite": ("vjp", "float64", "non_finite"),
    "mutant-nondeterministic": ("deterministic", "float64", "nondeterministic"),
    "mutant-mutates-inputs": ("mutated_inputs", "float64", "mutated_input"),
    "mutant-raises": ("vjp", "float64", "engine_raised"),
    "mutant-returns-none": ("vjp", "float64", "bad_return"),
    "mutant-returns-list": ("vjp", "float64", "bad_return"),
    "mutant-downcast": ("shape_dtype", "float64", "dtype_changed"),
    "mutant-wrong-shape": ("vjp", "float64", "wrong_shape"),
}


#: mutants whose mistake needs a function of another shape: mutant -> (function, inputs, property, kind).
SHAPED_MUTANTS = {
    "mutant-kink-outside": (torch.maximum, (A, np.array([0.5, 2.0, -1.0])), "vjp", "outside_subdifferential"),
    "mutant-transposed": (lambda x: torch.cumsum(x, 0), (A,), "vjp", "transposed"),
}


@pytest.mark.parametrize("mutant", sorted(SHAPED_MUTANTS))
def test_a_mutant_needing_a_kink_or_a_square_jacobian_is_caught(mutant: str) -> None:
    fn, inputs, prop, kind = SHAPED_MUTANTS[mutant]
    result = check_function(fn, inputs, load_mutant(mutant), dtypes=["float64"], properties=[prop], examples=20, seed=0)
    (verdict,) = result.verdicts
    assert verdict.status == "fail", verdict.message
    assert verdict.diagnosis["kind"] == kind, verdict.message


@pytest.mark.parametrize("mutant", sorted(FUNCTION_MUTANTS))
def test_a_mutant_engine_is_caught_with_its_diagnosis(mutant: str) -> None:
    prop, dtype, kind = FUNCTION_MUTANTS[mutant]
    result = check_function(sin_product, (A, B), load_mutant(mutant), dtypes=[dtype], properties=[prop], examples=10, seed=0)
    (verdict,) = result.verdicts
    assert verdict.status == "fail", verdict.message
    assert verdict.diagnosis["kind"] == kind, verdict.message


@pytest.mark.parametrize("prop", ["vjp", "jvp", "adjoint", "shape_dtype", "deterministic", "mutated_inputs", "aliased"])
def test_the_unmutated_engine_passes_the_same_check(prop: str) -> None:
    result = check_function(sin_product, (A, B), "torch",
                            dtypes=["float32"], properties=[prop], examples=10, seed=0)
    assert result.passed, result.summary()


def test_a_wrong_forward_mode_rule_fails_the_adjoint_with_the_mode_evidence() -> None:
    result = check_function(SquareWrongJvp.apply, (A,), "torch", dtypes=["float64"], properties=["adjoint", "vjp", "jvp"],
                            examples=5, seed=0)
    adjoint, vjp, jvp = result.verdicts
    assert adjoint.status == "fail"
    assert "the VJP matches the reference, the JVP does not" in adjoint.message
    assert adjoint.diagnosis["details"]["vjp_matches_reference"] is True
    assert (vjp.status, jvp.status) == ("pass", "fail")
    assert jvp.diagnosis["kind"] == "scaled"


def test_a_closed_form_reference_is_used_exactly() -> None:
    result = check_function(Sin.apply, (A,), "torch", reference=lambda g, x: (g * np.cos(x),), dtypes=["float64"],
                            properties=["vjp"], examples=10, seed=0)
    assert result.passed, result.summary()
    # An exact reference leaves only the engine's rounding: well under one float64 ulp-scale bound.
    assert result.verdicts[0].max_bound_fraction < 1


def test_a_wrong_closed_form_reference_disagrees_with_a_right_rule() -> None:
    result = check_function(Sin.apply, (A,), "torch", reference=lambda g, x: (g * np.cos(x) * (1 + 1e-9),), dtypes=["float64"],
                            properties=["vjp"], examples=5, seed=0)
    assert result.verdicts[0].status == "fail"
    assert result.verdicts[0].diagnosis["kind"] == "precision"


def test_another_engine_as_the_reference() -> None:
    cube = lambda x: x * x * x  # operators only: the same function runs on torch tensors and jax arrays
    result = check_function(cube, (A,), "torch", reference="jax", properties=["vjp"], examples=5, seed=0)
    assert result.passed, result.summary()


def test_a_user_engine_by_module_attribute() -> None:
    result = check_function(sin_product, (A, B), "verigrad.oracles.mutants:WrongSign", dtypes=["float64"],
                            properties=["vjp"], examples=3, seed=0)
    assert result.verdicts[0].diagnosis["kind"] == "wrong_sign"
    assert result.verdicts[0].engine == "mutant-wrong-sign"


@pytest.mark.skipif("mlx" not in BUILTIN_ENGINES, reason="no MLX adapter on this branch (issue 11 adds it)")
def test_mlx_functions_are_checked() -> None:
    engine = load_engine("mlx")
    # A polynomial: mlx 0.32's float64 sin/cos/exp are only float32-accurate (oracles/known_outcomes.txt), which
    # spoils the finite-difference reference built from the engine's float64 forward.
    result = check_function(lambda x: x * x * x - 2.0 * x, (A,), engine, properties=["vjp"], examples=5, seed=0)
    assert result.passed, result.summary()


def test_jax_custom_vjp_rule_is_checked() -> None:
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def softplus(x):
        return jnp.logaddexp(x, 0.0)

    # A relative error of 1e-6 in every entry: gradcheck's defaults (rtol 1e-3) would pass it.
    softplus.defvjp(lambda x: (softplus(x), x), lambda x, g: (g * jax.nn.sigmoid(x) * 1.000001,))
    result = check_function(softplus, (A,), "jax", dtypes=["float64"], properties=["vjp"], examples=5, seed=0)
    assert result.verdicts[0].status == "fail"
    assert result.verdicts[0].diagnosis["kind"] == "precision"


def test_torch_functions_with_float32_tensors_inside_do_not_fail_float64_spuriously() -> None:
    scale = torch.tensor(0.5)  # a float32 constant: torch promotes it, the forward stays float64
    result = check_function(lambda x: torch.tanh(x) * scale, (A,), "torch", properties=["vjp"], examples=10, seed=0)
    assert result.passed, result.summary()


@pytest.mark.parametrize(("factor", "status"), [(1.0, "pass"), (2.0, "fail")], ids=["right", "doubled"])
def test_hvp_where_asked_and_the_engine_has_it(factor: float, status: str) -> None:
    from rules import TorchWithHvp

    fn = lambda a, b: torch.sum(torch.sin(a) * b * b)
    result = check_function(fn, (A, B), TorchWithHvp(factor), dtypes=["float64"], properties=["hvp"], examples=5, seed=0)
    (verdict,) = result.verdicts
    assert verdict.status == status, verdict.message
    if status == "fail":
        assert verdict.diagnosis["kind"] == "scaled"


def test_hvp_is_skipped_saying_why_without_an_engine_method() -> None:
    from rules import TorchFirstOrderOnly

    result = check_function(lambda a: torch.sum(a * a), (A,), TorchFirstOrderOnly(), properties=["hvp"], examples=1, seed=0)
    assert {v.status for v in result.verdicts} == {"skip"}
    assert "no hvp()" in result.verdicts[0].message


def test_an_hvp_that_raises_in_every_dtype_fails_in_float16_too() -> None:
    """A raise on float16 inputs is retried in float32: raising alike there, it is the engine's, not the format's."""
    from rules import TorchWithHvp

    class HvpRaises(TorchWithHvp):
        def hvp(self, fn, primals, vectors):
            raise NotImplementedError("no second-order rule for this op")

    fn = lambda a: torch.sum(torch.sin(a))
    result = check_function(fn, (A,), HvpRaises(), dtypes=["float16"], properties=["hvp"], examples=2, seed=0)
    (verdict,) = result.verdicts
    assert verdict.status == "fail" and verdict.diagnosis["kind"] == "engine_raised", verdict.message
    assert "in float32 too" in verdict.message
