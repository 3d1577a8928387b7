"""The float64 reference lies within its own rounding-error bound of the exact closed form.

For every case and differentiable argument, on float64 inputs drawn by
hypothesis, the closed form is evaluated twice by the same numpy code: in
float64 (what the harness compares engines against) and exactly, on object
arrays of ``fractions.Fraction`` (rational cases) or of 50-digit mpmath numbers
(sin/cos/log cases; their error, ~1e-50, is far below the ~1e-16 being bounded).
The declared bound must hold entrywise on the structured data:

    |ref64 − exact| ≤ ops(p) · 2⁻⁵³ · magnitude(p).

The bound must also not be vacuous: for closed forms without cancellation the
magnitude is |exact| up to a factor 2 (and an exact 0 is returned as 0), and at
a benign point (all inputs positive, targets negative) it is within a factor 8
of |exact| for every case.

Points where float64 and exact arithmetic disagree on the side of a kink
(z = w·x + b rounds across 0) are skipped: there the reference's value is the
other side's, which the harness covers with ``Point.u`` (it blurs the kink by
the same rounding bound), not a first-order error.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import pytest
import refsym
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from verigrad.reference import CASES, LABEL, NONZERO, NONZERO_MIN_ABS, POSITIVE, Case, Point, resolve_shape
from verigrad.reference.jacobian import data_shape

CASE_ARGS = [(case, arg) for case in CASES for arg in case.differentiable_args]

#: Sizes drawn per symbol (a superset of the harness's buckets).
EXACT_SIZES = {"n": (1, 2, 3, 5), "m": (1, 2, 3), "N": (1, 2, 4)}

#: Inputs: 0 or 2⁻¹⁰ ≤ |v| ≤ 8 (no underflow in x⁸ or a product: the bound is first-order and relative).
VALUE_MAX = 8.0
VALUE_MIN_ABS = 2.0**-10

#: Closed forms whose every entry is one product or quotient of inputs (or a 0/1 mask times one):
#: no cancellation, so magnitude ≈ |exact| and an exact 0 must come out as 0.
NON_CANCELLING = {
    "scalar.constant", "scalar.multiple", "scalar.power", "grad.f", "grad.g", "jacobian.fg",
    "vector.identity", "elementwise.add", "elementwise.sub", "elementwise.mul", "elementwise.div",
    "elementwise.max", "scalar_expansion.add", "scalar_expansion.sub", "scalar_expansion.mul",
    "scalar_expansion.div", "reduction.sum", "reduction.dot", "neuron.affine", "neuron.relu",
    "neuron.activation",
}  # fmt: skip
NON_CANCELLING_FACTOR = 2.0
BENIGN_FACTOR = 8.0

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ids(pairs: list[tuple[Case, str]]) -> list[str]:
    return [f"{case.id}-{arg}" for case, arg in pairs]


def _element(domain: str) -> st.SearchStrategy[float]:
    if domain in (NONZERO, POSITIVE):
        magnitude = st.floats(NONZERO_MIN_ABS, VALUE_MAX)
        signs = (1.0,) if domain == POSITIVE else (1.0, -1.0)
        return st.tuples(st.sampled_from(signs), magnitude).map(lambda sm: sm[0] * sm[1])
    return st.floats(-VALUE_MAX, VALUE_MAX, allow_subnormal=False).map(lambda v: 0.0 if abs(v) < VALUE_MIN_ABS else v)


@st.composite
def inputs(draw: Any, case: Case) -> tuple[dict[str, int], dict[str, Any], dict[str, np.ndarray], float]:
    """Sizes, parameters, float64 arrays and a subgradient share for one case."""
    sizes = {name: draw(st.sampled_from(EXACT_SIZES[name])) for name in refsym.size_names(case)}
    params = {name: draw(st.sampled_from(values)) for name, values in sorted(case.params.items())}
    values = {
        arg.name: draw(hnp.arrays(np.int64, resolve_shape(arg.shape, sizes), elements=st.integers(0, sizes[arg.classes] - 1)))
        if arg.domain == LABEL
        else draw(hnp.arrays(np.float64, resolve_shape(arg.shape, sizes), elements=_element(arg.domain)))
        for arg in case.args
    }
    t = draw(st.sampled_from((0.0, 0.5, 1.0)))
    return sizes, params, values, t


def exact_closed_form(
    case: Case, arg: str, sizes: dict[str, int], params: dict[str, Any], values: dict[str, np.ndarray], t: float
):
    """The closed form's structured data in exact arithmetic: (data, kind, exact point)."""
    for kind in (refsym.RatNum, refsym.BigNum):
        point = refsym.ExactPoint({**refsym.wrap_values(values, kind), **params}, t=t)
        try:
            return refsym.closed_form_data(case, arg, point, sizes), kind, point
        except refsym.Transcendental:
            continue
    raise AssertionError("unreachable: BigNum evaluates every closed form")


def _exact_entry(value: Any, kind: type) -> Any:
    """An exact closed-form entry as Fraction (RatNum) or mpf (BigNum)."""
    if isinstance(value, refsym.Num):
        return value.v
    if isinstance(value, (float, np.floating)):
        value = refsym.recover_constant(float(value))
    else:
        value = Fraction(int(value))
    return value if kind is refsym.RatNum else mpmath.mpf(value.numerator) / value.denominator


def _same_kink_side(case: Case, point64: Point, exact_point: Point) -> bool:
    """Whether float64 and exact arithmetic put every kink variable on the same side of 0."""
    if case.kink is None:
        return True
    z64 = np.ravel(np.asarray(case.kink.locus(point64)[0], dtype=np.float64))
    exact = np.ravel(np.asarray(case.kink.locus(exact_point)[0], dtype=object))
    exact_sign = [0 if v == 0 else (1 if v > 0 else -1) for v in exact]
    return list(np.sign(z64).astype(int)) == exact_sign


@pytest.mark.parametrize(("case", "arg"), CASE_ARGS, ids=_ids(CASE_ARGS))
@SETTINGS
@given(data=st.data())
def test_float64_reference_within_its_rounding_bound(case: Case, arg: str, data: st.DataObject) -> None:
    sizes, params, values, t = data.draw(inputs(case))
    partial = case.partials[arg]
    point64 = Point({**values, **params}, t=t)
    out_shape = case.output_shape(sizes, params)
    arg_shape = resolve_shape(case.arg(arg).shape, sizes)
    reference = partial.jacobian(point64, out_shape, arg_shape).data
    with mpmath.workdps(50):
        exact, kind, exact_point = exact_closed_form(case, arg, sizes, params, values, t)
        if reference is None:
            assert exact is None
            return
        assume(_same_kink_side(case, point64, exact_point))
        magnitude = partial.magnitude_jacobian(point64, out_shape, arg_shape).data
        ops = partial.ops(point64)
        violations = []
        for index in np.ndindex(reference.shape):
            ref, mag = float(reference[index]), float(magnitude[index])
            value = _exact_entry(exact[index], kind)
            if kind is refsym.RatNum:
                error, bound = abs(Fraction(ref) - value), Fraction(ops) * refsym.U64 * Fraction(mag)
                exact_abs = abs(value)
            else:
                error, bound = abs(mpmath.mpf(ref) - value), mpmath.mpf(ops) * mpmath.mpf(2) ** -53 * mpmath.mpf(mag)
                exact_abs = abs(value)
            if error > bound:
                violations.append(
                    f"entry {index}: ref64 {ref!r}, exact {value}, |error| {float(error):.3g} > bound {float(bound):.3g}"
                )
            if case.id in NON_CANCELLING:
                if exact_abs == 0:
                    if ref != 0:
                        violations.append(f"entry {index}: exact 0 but ref64 {ref!r}")
                elif mag > NON_CANCELLING_FACTOR * float(exact_abs):
                    violations.append(
                        f"entry {index}: magnitude {mag:.3g} > {NON_CANCELLING_FACTOR}·|exact| = {float(exact_abs):.3g} (vacuous bound)"
                    )
    assert not violations, f"{case.id} ∂/∂{arg} at sizes {sizes} params {params} t {t} (ops {ops}):\n" + "\n".join(
        violations[:10]
    )


def benign_values(case: Case, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Positive inputs 0.2 .. 0.35, targets (``y`` of the loss) negative: nothing cancels."""
    values = {}
    for arg in case.args:
        shape = resolve_shape(arg.shape, sizes)
        if arg.domain == LABEL:
            values[arg.name] = (np.arange(int(np.prod(shape))) % sizes[arg.classes]).reshape(shape)
            continue
        pattern = 0.2 + 0.05 * (np.arange(int(np.prod(shape))) % 4)
        sign = -1.0 if case.id.startswith(("loss.", "losses.")) and arg.name == "y" else 1.0
        values[arg.name] = sign * pattern.reshape(shape)
    return values


@pytest.mark.parametrize(("case", "arg"), CASE_ARGS, ids=_ids(CASE_ARGS))
def test_rounding_bound_is_not_vacuous_at_benign_point(case: Case, arg: str) -> None:
    sizes = {"n": 3, "m": 2, "N": 2}
    sizes = {name: sizes[name] for name in refsym.size_names(case)}
    partial = case.partials[arg]
    arg_shape = resolve_shape(case.arg(arg).shape, sizes)
    values = benign_values(case, sizes)
    for params in refsym.param_grid(case):
        out_shape = case.output_shape(sizes, dict(params))
        point64 = Point({**values, **dict(params)})
        with mpmath.workdps(50):
            exact, kind, _ = exact_closed_form(case, arg, sizes, dict(params), values, 0.0)
        if exact is None:
            continue
        magnitude = np.broadcast_to(
            partial.magnitude_jacobian(point64, out_shape, arg_shape).data,
            data_shape(partial.structure, out_shape, arg_shape),
        )
        for index in np.ndindex(magnitude.shape):
            value = abs(float(_exact_entry(exact[index], kind)))
            if value == 0:
                assert magnitude[index] == 0 or partial.ops(point64) * refsym.U64 * magnitude[index] < 1e-12, index
            else:
                assert magnitude[index] <= BENIGN_FACTOR * value, (
                    f"{case.id} ∂/∂{arg} params {dict(params)} entry {index}: magnitude {magnitude[index]:.3g} "
                    f"> {BENIGN_FACTOR}·|exact| = {value:.3g}"
                )


def test_exact_evaluation_refuses_to_round() -> None:
    """The exact kinds refuse float(): a closed form that rounds through float64 cannot pass silently."""
    with pytest.raises(TypeError):
        float(refsym.RatNum(Fraction(1, 3)))
    filled = np.zeros(2)
    with pytest.raises(TypeError):
        filled[0] = refsym.RatNum(Fraction(1, 3))


def test_exact_check_catches_too_small_magnitude() -> None:
    """A magnitude of 0 for an inexact closed form (2x + cos x) is a violation the check finds."""
    case = next(c for c in CASES if c.id == "scalar.sum")
    values = {"x": np.asarray(0.7)}
    with mpmath.workdps(50):
        exact, kind, _ = exact_closed_form(case, "x", {}, {}, values, 0.0)
        reference = case.partials["x"].closed_form(Point(values))
        error = abs(mpmath.mpf(float(reference)) - _exact_entry(exact[()], kind))
    assert error > 0, "2·0.7 + cos 0.7 is not exact in float64: a zero magnitude would be violated"
