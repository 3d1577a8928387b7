"""The closed-form Hessians (``reference.hessians``): proved equal to sympy's second derivatives of the
primal, and their float64 values within their declared rounding bound of the exact value.

The sympy proof runs the primal (the very function the engines run) on real
symbols, differentiates it twice, and compares every entry of every block
(a, b), written, transposed or zero, at sizes n = 1..3 (N = 1..2), every
parameter value, and on every open region of the case's kinks.  The exact test
evaluates the same numpy closed form on Fractions or 50-digit mpmath numbers at
hypothesis-drawn float64 inputs and checks |H64 − H| ≤ ops · 2⁻⁵³ · magnitude.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from verigrad import prove, symbolic
from verigrad.reference import CASES, Point, get_case, resolve_shape
from verigrad.reference.hessians import HESSIANS, WITHOUT_HESSIAN, block

HESSIAN_CASES = sorted(HESSIANS)
SIZES = {"n": (1, 2, 3), "m": (1, 2), "N": (1, 2)}


def test_every_scalar_output_case_has_a_closed_form_hessian() -> None:
    """Every one, except the few listed (with the reason) in WITHOUT_HESSIAN, and no other."""
    scalar = sorted(case.id for case in CASES if tuple(case.output) == ())
    assert sorted(set(scalar) - set(WITHOUT_HESSIAN)) == HESSIAN_CASES
    assert set(WITHOUT_HESSIAN) <= set(scalar)


def _object_block(blocks: dict, a: str, b: str, shapes: dict[str, tuple[int, ...]]) -> np.ndarray:
    """Block (a, b) with exact entries: as written, the transpose of (b, a), or zeros."""
    if (a, b) in blocks:
        value = np.asarray(blocks[(a, b)], dtype=object)
    elif (b, a) in blocks:
        value = np.asarray(blocks[(b, a)], dtype=object)
        value = np.transpose(value, tuple(range(len(shapes[b]), len(shapes[b]) + len(shapes[a]))) + tuple(range(len(shapes[b]))))
    else:
        value = np.zeros(shapes[a] + shapes[b], dtype=object)
    return np.broadcast_to(value, shapes[a] + shapes[b])


def _mismatches(case_id: str, hessian: Any = None, first_only: bool = False) -> list[str]:
    """Entries where the closed form differs from sympy's second derivative (``first_only``: stop at one)."""
    case = get_case(case_id)
    hessian = hessian or HESSIANS[case_id]
    found, proved = [], 0
    for sizes in symbolic.size_grid(case, SIZES):
        arrays = symbolic.symbolic_arrays(case, dict(sizes))
        shapes = {a: resolve_shape(case.arg(a).shape, dict(sizes)) for a in case.differentiable_args}
        for params in symbolic.param_grid(case):
            keys = symbolic.kink_keys(case, sizes, params)
            if len(keys) > prove.MAX_REGION_KEYS:  # 2^k sign patterns: a max over 6 elements has 2^15; smaller sizes prove it
                continue
            proved += 1
            for region in symbolic.regions(keys):
                (output,) = symbolic.evaluate_primal(case, arrays, dict(params), symbolic.Region(dict(region)))
                point = symbolic.RegionPoint({**arrays, **dict(params)}, symbolic.Region(dict(region)))
                blocks = hessian.blocks(point)
                firsts = {(a, i): sympy.diff(output, symbolic.to_sympy(arrays[a][i]))
                          for a in case.differentiable_args for i in np.ndindex(shapes[a])}
                for a, b in itertools.product(case.differentiable_args, repeat=2):
                    actual = _object_block(blocks, a, b, shapes)
                    for i, j in itertools.product(np.ndindex(shapes[a]), np.ndindex(shapes[b])):
                        expected = symbolic.drop_kink_deltas(sympy.diff(firsts[a, i], symbolic.to_sympy(arrays[b][j])), keys)
                        if not symbolic.is_zero(symbolic.to_sympy(actual[i + j]) - expected):
                            found.append(f"sizes {dict(sizes)} params {dict(params)} ∂²/∂{a}{i}∂{b}{j}: "
                                         f"closed form {actual[i + j]}, sympy {expected}")
                            if first_only:
                                return found
    if not proved:
        found.append(f"no size of {SIZES} has at most {prove.MAX_REGION_KEYS} kink expressions: nothing proved")
    return found


#: Proofs that take seconds (a two-layer network: 11 parameters and up to 16 regions at the largest sizes).
SLOW_PROOFS = {"losses.mlp_relu"}


@pytest.mark.parametrize(
    "case_id",
    [pytest.param(c, marks=[pytest.mark.verigrad_full_only] if c in SLOW_PROOFS else []) for c in HESSIAN_CASES],
)
def test_hessian_is_sympy_second_derivative_of_primal(case_id: str) -> None:
    mismatches = _mismatches(case_id)
    assert not mismatches, f"{case_id}:\n" + "\n".join(mismatches[:10])


def _drop(blocks: Any, dropped: tuple[str, str]) -> Any:
    return lambda p: {key: value for key, value in blocks(p).items() if key != dropped}


def _without_outer(p: Any) -> dict:
    """I/‖x‖ without the -x xᵀ/‖x‖³ term."""
    return {("x", "x"): np.eye(np.size(p.x)) / np.sqrt(np.sum(p.x * p.x))}


def _xent_diagonal_only(p: Any) -> dict:
    """diag(p)/N without the -p pᵀ/N term."""
    blocks = HESSIANS["losses.softmax_xent"].blocks(p)[("Z", "Z")]
    N, m = np.shape(p.Z)
    return {("Z", "Z"): blocks * (np.eye(N)[:, None, :, None] * np.eye(m)[None, :, None, :])}


#: Wrong Hessians the symbolic proof must reject: (case, wrong blocks, what is wrong).
WRONG_HESSIANS = [
    ("grad.f", lambda p: {("x", "x"): 6 * p.y}, "missing the cross term ∂²/∂x∂y = 6x"),
    ("reduce.norm2", _without_outer, "missing -x xᵀ/‖x‖³"),
    ("losses.softmax_xent", _xent_diagonal_only, "missing -p pᵀ/N"),
    ("losses.mlp_relu", _drop(HESSIANS["losses.mlp_relu"].blocks, ("b1", "w2")), "missing the b1-w2 block (e_i s_ij and the Gauss-Newton part)"),
]


@pytest.mark.parametrize(("case_id", "wrong", "what"), WRONG_HESSIANS, ids=[w[0] for w in WRONG_HESSIANS])
def test_symbolic_proof_rejects_a_wrong_hessian(case_id: str, wrong: Any, what: str) -> None:
    from verigrad.reference.hessians import Hessian

    right = HESSIANS[case_id]
    assert _mismatches(case_id, Hessian(wrong, right.magnitude, right.ops), first_only=True), what


def test_kink_deltas_are_dropped_only_on_a_kink() -> None:
    """2δ(x) is 0 on the open regions of the kink x² = 0, but δ(x - y) is kept there (its support is no kink)."""
    x, y = sympy.symbols("x y", real=True)
    assert symbolic.drop_kink_deltas(2 * sympy.DiracDelta(x) + x, (x**2,)) == x
    assert symbolic.drop_kink_deltas(sympy.DiracDelta(x - y), (x**2,)) == sympy.DiracDelta(x - y)


@pytest.mark.parametrize("case_id", HESSIAN_CASES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_float64_hessian_within_its_rounding_bound(case_id: str, data: st.DataObject) -> None:
    case = get_case(case_id)
    sizes, params, values, _ = data.draw(prove.exact_points(case))
    hessian = HESSIANS[case_id]
    shapes = {a: resolve_shape(case.arg(a).shape, sizes) for a in case.differentiable_args}
    point64 = Point({**values, **params})
    blocks64, magnitude64, ops = hessian.blocks(point64), hessian.magnitude(point64), hessian.ops(point64)
    with mpmath.workdps(50):
        for kind in (symbolic.RatNum, symbolic.BigNum):
            exact_point = symbolic.ExactPoint({**symbolic.wrap_values(values, kind), **params})
            try:
                with symbolic.object_array_creation():
                    exact_blocks = hessian.blocks(exact_point)
                break
            except symbolic.Transcendental:
                continue
        assume(prove.same_kink_side(case, point64, exact_point))
        violations = []
        for a, b in itertools.product(case.differentiable_args, repeat=2):
            ref = block(blocks64, a, b, shapes)
            mag = np.abs(block(magnitude64, a, b, shapes))
            exact = _object_block(exact_blocks, a, b, shapes)
            for index in np.ndindex(ref.shape):
                value = symbolic.exact_entry(exact[index], kind)
                if kind is symbolic.RatNum:
                    error, bound = abs(Fraction(float(ref[index])) - value), Fraction(ops) * symbolic.U64 * Fraction(float(mag[index]))
                else:
                    error = abs(mpmath.mpf(float(ref[index])) - value)
                    bound = mpmath.mpf(ops) * mpmath.mpf(2) ** -53 * mpmath.mpf(float(mag[index]))
                if error > bound:
                    violations.append(f"({a}, {b}) {index}: ref64 {ref[index]!r}, exact {value}, error {float(error):.3g} > {float(bound):.3g}")
    assert not violations, f"{case_id} at sizes {sizes} params {params}:\n" + "\n".join(violations[:10])
