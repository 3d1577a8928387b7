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

import mpmath
import numpy as np
import proof_depth
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from verigrad import prove, symbolic
from verigrad.reference import CASES, LABEL, Case, Point, resolve_shape
from verigrad.reference.jacobian import data_shape

CASE_ARGS = [(case, arg) for case in CASES for arg in case.differentiable_args]

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
#: Closed forms that cancel at every point whose inputs share a sign and scale, with the factor their
#: magnitudes reach at the benign point, and why (``BENIGN_FACTOR`` holds for every other case).
CANCELLING_AT_BENIGN = {
    # X − X̄ at 0.2, 0.25, 0.3, 0.35, 0.2, 0.25: an entry 0.008 from the mean 0.258 loses 33× its size.
    "reduce.std_native": (64.0, "X − X̄ cancels wherever the spread is below the values: mean|X|/|X − X̄| per entry"),
    # t cos t − sin t at t = πx ≈ 0.63 (x = 0.2): 0.508 − 0.588, the two terms 13× their difference.
    "unary.sinc_native": (32.0, "πx cos πx − sin πx cancels for |πx| below about 2 (both ≈ πx near 0)"),
    # Cofactors ad − bc of like entries (0.2 ... 0.35) are 0.005 from terms of 0.06, and an LU's normwise error
    # adds the largest cofactor's terms to every entry: 0.33 for an exact 0.005.
    "linalg.det_native": (128.0, "the cofactors ad − bc of a matrix of like entries cancel; LU errs normwise"),
}

SETTINGS = settings(max_examples=proof_depth.exact_examples(), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ids(pairs: list[tuple[Case, str]]) -> list[str]:
    return [f"{case.id}-{arg}" for case, arg in pairs]


def _not_vacuous(case: Case, row: prove.EntryError) -> list[str]:
    """A non-cancelling closed form: an exact 0 stays 0, and the magnitude is |exact| up to a factor."""
    if case.id not in NON_CANCELLING:
        return []
    if row.exact == 0:
        return [f"entry {row.index}: exact 0 but ref64 {row.float64!r}"] if row.float64 != 0 else []
    if row.magnitude > NON_CANCELLING_FACTOR * float(abs(row.exact)):
        return [f"entry {row.index}: magnitude {row.magnitude:.3g} > {NON_CANCELLING_FACTOR}·|exact| = "
                f"{float(abs(row.exact)):.3g} (vacuous bound)"]
    return []


@pytest.mark.parametrize(("case", "arg"), CASE_ARGS, ids=_ids(CASE_ARGS))
@pytest.mark.verigrad_cover("case", rotate="arg")  # default run: each case, one argument in turn
@SETTINGS
@given(data=st.data())
def test_float64_reference_within_its_rounding_bound(case: Case, arg: str, data: st.DataObject) -> None:
    sizes, params, values, t = data.draw(prove.exact_points(case))
    rows = prove.rounding_errors(case, arg, sizes, params, values, t)
    # None: float64 and exact arithmetic on different sides of a kink (Point.u covers it in the harness).
    assume(rows is not None)
    violations = []
    for row in rows:
        if not row.within_bound:
            violations.append(f"entry {row.index}: ref64 {row.float64!r}, exact {row.exact}, "
                              f"|error| {float(row.error):.3g} > bound {float(row.bound):.3g}")
        violations += _not_vacuous(case, row)
    ops = case.partials[arg].ops(Point({**values, **params}, t=t))
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
    sizes = {name: sizes[name] for name in symbolic.size_names(case)}
    partial = case.partials[arg]
    arg_shape = resolve_shape(case.arg(arg).shape, sizes)
    values = benign_values(case, sizes)
    for params in symbolic.param_grid(case):
        out_shape = case.output_shape(sizes, dict(params))
        point64 = Point({**values, **dict(params)})
        with mpmath.workdps(50):
            exact, kind, _ = symbolic.exact_closed_form(case, arg, sizes, dict(params), values, 0.0)
        if exact is None:
            continue
        magnitude = np.broadcast_to(
            partial.magnitude_jacobian(point64, out_shape, arg_shape).data,
            data_shape(partial.structure, out_shape, arg_shape),
        )
        for index in np.ndindex(magnitude.shape):
            value = abs(float(symbolic.exact_entry(exact[index], kind)))
            if value == 0:
                assert magnitude[index] == 0 or partial.ops(point64) * symbolic.U64 * magnitude[index] < 1e-12, index
            else:
                factor = CANCELLING_AT_BENIGN.get(case.id, (BENIGN_FACTOR, ""))[0]
                assert magnitude[index] <= factor * value, (
                    f"{case.id} ∂/∂{arg} params {dict(params)} entry {index}: magnitude {magnitude[index]:.3g} "
                    f"> {factor}·|exact| = {value:.3g}"
                )


def test_exact_evaluation_refuses_to_round() -> None:
    """The exact kinds refuse float(): a closed form that rounds through float64 cannot pass silently."""
    with pytest.raises(TypeError):
        float(symbolic.RatNum(Fraction(1, 3)))
    filled = np.zeros(2)
    with pytest.raises(TypeError):
        filled[0] = symbolic.RatNum(Fraction(1, 3))


def test_exact_check_catches_too_small_magnitude() -> None:
    """A magnitude of 0 for an inexact closed form (2x + cos x) is a violation the check finds."""
    case = next(c for c in CASES if c.id == "scalar.sum")
    values = {"x": np.asarray(0.7)}
    with mpmath.workdps(50):
        exact, kind, _ = symbolic.exact_closed_form(case, "x", {}, {}, values, 0.0)
        reference = case.partials["x"].closed_form(Point(values))
        error = abs(mpmath.mpf(float(reference)) - symbolic.exact_entry(exact[()], kind))
    assert error > 0, "2·0.7 + cos 0.7 is not exact in float64: a zero magnitude would be violated"
