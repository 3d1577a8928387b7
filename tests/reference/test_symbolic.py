"""The reference's closed forms, proved equal to sympy's derivative of the primal.

For every case and differentiable argument, at every size n = 1..3 (m, N = 1..2;
n = 1..4 and m, N = 1..3 under ``--verigrad-full``: ``proof_depth``)
and every parameter value, the primal (``case.primal``, the very function the
engines run) is evaluated on real sympy symbols through a sympy-backed namespace,
differentiated by sympy, and compared entry by entry with the closed form
evaluated on the same symbols (the closed form's numpy code runs on object
arrays of :class:`verigrad.symbolic.SymNum`; the proof is
``verigrad.prove``, the one users call on their own cases).  Each difference must simplify to 0: a proof
for those sizes, not a sample.  For the element-wise cases (diagonal or identity
Jacobians) a further test shows, at n = 4, that every diagonal entry is the n = 1
formula with the entry's index substituted and every other entry is 0: one
formula per element, the same at every position.

Piecewise cases are proved on each open region of their kinks (every sign
pattern of z_i = w·x_i + b, or of w_i − x_i), where the primal is smooth.  On a
kink, the closed form with share t ∈ {0, ½, 1} must be the convex combination
t·(limit from z > 0) + (1 − t)·(limit from z < 0): a member of the Clarke
subdifferential, with the kink equation substituted (b = −w·x, w_i = x_i, z = 0).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import proof_depth
import pytest
import sympy

from verigrad import prove, symbolic
from verigrad.reference import CASES, Case, Partial, get_case

CASE_ARGS = [(case, arg) for case in CASES for arg in case.differentiable_args]
#: Kinks whose subdifferential is the segment between the two sides' limits (one kink at a time):
#: ReLU, max(w, x) at a tie, abs and clip per element.  A reduction's many-way ties (a simplex) and
#: the 2-norm at 0 (a ball) have tests of their own below.
KINK_CASE_ARGS = [(case, arg) for case, arg in CASE_ARGS if prove.segment_kink(case, arg)]

SECOND_DERIVATIVES = [(case, arg) for case in CASES for arg in case.second_derivatives]


def _ids(pairs: list[tuple[Case, str]]) -> list[str]:
    return [f"{case.id}-{arg}" for case, arg in pairs]


def _listed(mismatches: list[prove.Mismatch]) -> str:
    return "\n".join(str(m) for m in mismatches[:10])


@pytest.mark.parametrize(("case", "arg"), CASE_ARGS, ids=_ids(CASE_ARGS))
@pytest.mark.verigrad_cover("case", rotate="arg")  # default run: each case, one argument in turn
def test_closed_form_is_sympy_derivative_of_primal(case: Case, arg: str) -> None:
    mismatches = prove.closed_form_mismatches(case, arg, proof_depth.symbolic_sizes())
    assert not mismatches, f"{case.id} ∂/∂{arg}:\n" + _listed(mismatches)


@pytest.mark.parametrize(("case", "arg"), KINK_CASE_ARGS, ids=_ids(KINK_CASE_ARGS))
@pytest.mark.verigrad_cover("case", rotate="arg")  # default run: each case, one argument in turn
def test_closed_form_on_kink_is_in_subdifferential(case: Case, arg: str) -> None:
    mismatches = prove.kink_mismatches(case, arg, proof_depth.kink_sizes())
    assert not mismatches, f"{case.id} ∂/∂{arg} on its kink:\n" + _listed(mismatches)


@pytest.mark.parametrize(("case", "arg"), SECOND_DERIVATIVES, ids=_ids(SECOND_DERIVATIVES))
def test_second_derivative_is_sympy_hessian_of_primal(case: Case, arg: str) -> None:
    mismatches = []
    for sizes in symbolic.size_grid(case, proof_depth.symbolic_sizes()):
        arrays = symbolic.symbolic_arrays(case, dict(sizes))
        for params in symbolic.param_grid(case):
            for region in symbolic.regions(symbolic.kink_keys(case, sizes, params)):
                expected = symbolic.primal_hessian(case, arg, sizes, params, region)
                point = symbolic.RegionPoint({**arrays, **dict(params)}, symbolic.Region(dict(region)))
                with symbolic.object_array_creation():
                    value = case.second_derivatives[arg](point)
                actual = np.asarray(value, dtype=object).reshape(expected.shape)
                for index in np.ndindex(expected.shape):
                    if not symbolic.is_zero(symbolic.to_sympy(actual[index]) - expected[index]):
                        mismatches.append(
                            f"sizes {dict(sizes)} params {dict(params)} region {dict(region)} entry {index}: "
                            f"closed form {actual[index]}, sympy {expected[index]}"
                        )
    assert not mismatches, f"{case.id} ∂²/∂{arg}²:\n" + "\n".join(mismatches[:10])


ELEMENTWISE = [
    (case, arg)
    for case, arg in CASE_ARGS
    if case.partials[arg].structure.value in ("diagonal", "identity") and case.output == case.arg(arg).shape == ("n",)
]


@pytest.mark.parametrize(("case", "arg"), ELEMENTWISE, ids=_ids(ELEMENTWISE))
def test_elementwise_jacobian_is_one_formula_per_element(case: Case, arg: str) -> None:
    """At n = 4, J[i, i] is J[0, 0] at n = 1 with index 0 renamed i, and J[i, j] = 0 off the diagonal."""
    n = 4
    for params in symbolic.param_grid(case):
        for side in (1, 0):
            big_keys = symbolic.kink_keys(case, (("n", n),), params)
            small_keys = symbolic.kink_keys(case, (("n", 1),), params)
            big = symbolic.primal_jacobians(case, (("n", n),), params, tuple((k, side) for k in big_keys))[arg]
            small = symbolic.primal_jacobians(case, (("n", 1),), params, tuple((k, side) for k in small_keys))[arg]
            for i in range(n):
                rename = {s: sympy.Symbol(s.name.replace("_0", f"_{i}"), real=True) for s in small[0, 0].free_symbols}
                assert symbolic.is_zero(big[i, i] - small[0, 0].xreplace(rename)), (case.id, arg, i, big[i, i])
                for j in range(n):
                    assert i == j or big[i, j] == 0, (case.id, arg, i, j, big[i, j])


def test_every_case_and_argument_is_proved() -> None:
    assert {(c.id, a) for c, a in CASE_ARGS} == {(c.id, a) for c in CASES for a in c.partials}
    # At some size: a max over one element (n = m = 1) compares nothing.
    assert all(
        case.kink is None
        or any(symbolic.kink_keys(case, sizes, params) for sizes in symbolic.size_grid(case)[:3] for params in symbolic.param_grid(case))
        for case in CASES
    ), "a case with a Kink must have a max or comparison in its primal"


# ------------------------------------------- the proof rejects wrong closed forms


def _mutated(case_id: str, arg: str, closed_form: Any) -> Case:
    case = get_case(case_id)
    partial: Partial = dataclasses.replace(case.partials[arg], closed_form=closed_form)
    return dataclasses.replace(case, partials={**case.partials, arg: partial})


MUTANTS = {
    # the seed's §6.1 final form: [z_i > 0] dropped
    "relu_mse-dw-no-condition": _mutated(
        "loss.relu_mse", "w", lambda p: 2.0 / p.y.size * ((p.X @ p.w + p.b - p.y) @ p.X)
    ),
    # denominator layout of a non-square Jacobian, stored as numerator
    "matvec-dx-transposed": _mutated(
        "chain.matvec_sin", "x", lambda p: (np.cos(p.W @ p.x)[:, None] * p.W).T.reshape(p.W.shape)
    ),
    # the seed's §4.5.2 double count
    "total-derivative-double-count": _mutated("scalar.total_derivative", "x", lambda p: 1 + 4 * p.x),
    # max: [w >= x] vs [w > x] is a convention, but [x > w] for ∂/∂w is wrong
    "max-dw-swapped": _mutated("elementwise.max", "w", lambda p: 1.0 - p.step(p.w - p.x)),
    # the power rule off by one in the exponent
    "power-exponent-off-by-one": _mutated("scalar.power", "x", lambda p: p.n * p.x**p.n),
}

KINK_MUTANTS = {
    # a "subgradient" with mass 2 at a tie of max(w, x)
    "max-dw-mass-two": _mutated("elementwise.max", "w", lambda p: 2 * p.step(p.w - p.x)),
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_symbolic_proof_rejects_wrong_closed_form(name: str) -> None:
    case = MUTANTS[name]
    arg = next(a for a in case.partials if case.partials[a] is not get_case(case.id).partials[a])
    grid = {"n": (2,), "m": (3,), "N": (2,)}
    assert prove.closed_form_mismatches(case, arg, grid), f"mutant {name} passed the symbolic check"


@pytest.mark.parametrize("name", sorted(KINK_MUTANTS))
def test_kink_check_rejects_mass_outside_subdifferential(name: str) -> None:
    case = KINK_MUTANTS[name]
    sizes = (("n", 1),)
    arrays = symbolic.symbolic_arrays(case, dict(sizes))
    (kink,) = symbolic.kink_keys(case, sizes, ())
    point = symbolic.RegionPoint(arrays, symbolic.Region({kink: symbolic.SymNum(sympy.Rational(1, 2))}))
    actual = symbolic.closed_form_dense(case, "w", point, dict(sizes))
    positive = symbolic.primal_jacobians(case, sizes, (), ((kink, 1),))["w"]
    negative = symbolic.primal_jacobians(case, sizes, (), ((kink, 0),))["w"]
    member = sympy.Rational(1, 2) * positive[0, 0] + sympy.Rational(1, 2) * negative[0, 0]
    assert not symbolic.is_zero(actual[0, 0] - member)


def test_symbolic_numbers_compare_by_value_and_expressions_by_formula() -> None:
    """What a closed form's ``==`` means inside a proof: numbers by value (simplified), an expression only as itself."""
    x = sympy.Symbol("x", real=True)
    assert symbolic.SymNum(sympy.sqrt(2) ** 2) == 2
    assert symbolic.SymNum(sympy.sin(1) ** 2 + sympy.cos(1) ** 2) == 1  # simplify decides numbers
    expression = symbolic.SymNum(x + 1)
    assert expression == symbolic.SymNum(x + 1)  # the same formula: the difference is 0 by sympy's own arithmetic
    assert not expression == symbolic.SymNum((x**2 - 1) / (x - 1))  # equal only after simplify: not the same formula
    assert not expression == 0  # so `y == 0` in a closed form takes its general branch
