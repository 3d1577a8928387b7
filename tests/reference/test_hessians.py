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


def _mismatches(case_id: str, hessian: Any = None) -> list[str]:
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
                for a, b in itertools.product(case.differentiable_args, repeat=2):
                    actual = _object_block(blocks, a, b, shapes)
                    for i in np.ndindex(shapes[a]):
                        first = sympy.diff(output, symbolic.to_sympy(arrays[a][i]))
                        for j in np.ndindex(shapes[b]):
                            expected = sympy.diff(first, symbolic.to_sympy(arrays[b][j]))
                            if not symbolic.is_zero(symbolic.to_sympy(actual[i + j]) - expected):
                                found.append(f"sizes {dict(sizes)} params {dict(params)} ∂²/∂{a}{i}∂{b}{j}: "
                                             f"closed form {actual[i + j]}, sympy {expected}")
    if not proved:
        found.append(f"no size of {SIZES} has at most {prove.MAX_REGION_KEYS} kink expressions: nothing proved")
    return found


@pytest.mark.parametrize("case_id", HESSIAN_CASES)
def test_hessian_is_sympy_second_derivative_of_primal(case_id: str) -> None:
    mismatches = _mismatches(case_id)
    assert not mismatches, f"{case_id}:\n" + "\n".join(mismatches[:10])


def test_symbolic_proof_rejects_a_wrong_hessian() -> None:
    """A Hessian missing its cross term (grad.f without ∂²/∂x∂y = 6x) is caught."""
    from verigrad.reference.hessians import Hessian

    wrong = Hessian(lambda p: {("x", "x"): 6 * p.y}, HESSIANS["grad.f"].magnitude, HESSIANS["grad.f"].ops)
    assert _mismatches("grad.f", wrong)


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
