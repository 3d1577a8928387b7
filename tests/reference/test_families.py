"""The subdifferentials of the new families that are not a segment: many-way ties and the 2-norm at 0.

The symbolic proof (test_symbolic.py) checks a kink one expression at a time,
where the subdifferential is the segment between the two sides.  A k-way tie of
a max is a (k-1)-simplex and the 2-norm at 0 a ball: these tests check that the
closed forms stay in them for every share t, in exact arithmetic, and that
``Kink.nearest`` returns members (and leaves a member where it is).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from verigrad import symbolic
from verigrad.reference import Point, get_case
from verigrad.reference.families import tie_weights

SHARES = (0.0, 0.5, 1.0)

#: Integer matrices from a small range: many-way ties in most rows.
tied_matrices = hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 9)), elements=st.integers(-2, 2).map(float))


@pytest.mark.parametrize("sign", [1, -1], ids=["max", "min"])
@pytest.mark.parametrize("t", SHARES)
@settings(max_examples=40, deadline=None)
@given(values=tied_matrices)
def test_tie_weights_lie_in_the_simplex_of_the_tied_set(values: np.ndarray, t: float, sign: int) -> None:
    """Exact: weights ≥ 0, zero off the tied set, total mass 1 per row; floats give the same weights."""
    exact = symbolic.wrap_values({"X": values}, symbolic.RatNum)["X"]
    weights = tie_weights(exact, t, sign)
    tied = sign * values == np.max(sign * values, axis=-1, keepdims=True)
    for row in range(values.shape[0]):
        shares = [Fraction(w) for w in weights[row]]
        assert sum(shares) == 1 and min(shares) >= 0
        assert all(share == 0 for share, on in zip(shares, tied[row], strict=True) if not on)
    np.testing.assert_array_equal(tie_weights(values, t, sign), np.asarray(weights, dtype=np.float64))


@pytest.mark.parametrize("case_id", ["reduce.max", "reduce.min_keepdims", "reduce.max_all"])
@settings(max_examples=30, deadline=None)
@given(values=tied_matrices, data=st.data())
def test_simplex_nearest_keeps_members_and_returns_members(case_id: str, values: np.ndarray, data: st.DataObject) -> None:
    """An even split is a member and stays put; any vector is moved to a member (mass u on the tied set)."""
    case = get_case(case_id)
    params = {name: data.draw(st.sampled_from(choices)) for name, choices in case.params.items()}
    point = Point({"X": values, **params})
    out_shape = case.output_shape({"m": values.shape[0], "n": values.shape[1]}, params)
    cotangent = data.draw(hnp.arrays(np.float64, out_shape, elements=st.floats(-2, 2)))
    sign = -1 if "min" in case_id else 1
    axis = params.get("axis")
    x = sign * values
    tied = x == (np.max(x) if axis is None else np.max(x, axis=axis, keepdims=True))
    counts = np.sum(tied) if axis is None else np.sum(tied, axis=axis, keepdims=True)
    u = np.reshape(cotangent, (1, 1) if axis is None else counts.shape)
    even = tied * u / counts
    nearest = case.kink.nearest
    np.testing.assert_allclose(nearest(point, "X", "vjp", cotangent, even), even, rtol=0, atol=1e-12)
    noise = data.draw(hnp.arrays(np.float64, values.shape, elements=st.floats(-4, 4)))
    member = nearest(point, "X", "vjp", cotangent, noise)
    assert np.all(member[~tied] == 0)
    totals = np.sum(member) if axis is None else np.sum(member, axis=axis, keepdims=True)
    np.testing.assert_allclose(np.reshape(totals, np.shape(u)), u, rtol=0, atol=1e-12)
    assert np.all(member * np.broadcast_to(u, values.shape) >= -1e-12), "each share has the cotangent's sign"


@pytest.mark.parametrize("t", SHARES)
def test_norm_closed_form_at_zero_is_in_the_unit_ball(t: float) -> None:
    case = get_case("reduce.norm2")
    grad = case.partials["x"].closed_form(Point({"x": np.zeros(3)}, t=t))
    assert np.all(np.isfinite(grad)) and np.linalg.norm(grad) <= 1


def test_norm_nearest_projects_onto_the_ball_at_zero() -> None:
    nearest = get_case("reduce.norm2").kink.nearest
    point = Point({"x": np.zeros(3)})
    inside = np.array([0.3, -0.4, 0.0]) * 2.0
    np.testing.assert_array_equal(nearest(point, "x", "vjp", np.asarray(2.0), inside), inside)
    outside = np.array([6.0, 8.0, 0.0])  # u = 2: s = (3, 4, 0), ‖s‖ = 5
    np.testing.assert_allclose(nearest(point, "x", "vjp", np.asarray(2.0), outside), [1.2, 1.6, 0.0])
    assert nearest(point, "x", "jvp", np.array([3.0, 4.0, 0.0]), np.asarray(7.0)) == 5.0


def test_clip_nearest_allows_a_different_share_at_each_bound() -> None:
    """At x = lo take 1, at x = hi take 0: valid per element, though no single t fits both."""
    case = get_case("unary.clip")
    point = Point({"x": np.array([-1.5, 2.0, 0.5])})
    probe = np.array([1.0, 1.0, 1.0])
    engine = np.array([1.0, 0.0, 1.0])
    np.testing.assert_array_equal(case.kink.nearest(point, "x", "vjp", probe, engine), engine)
    np.testing.assert_array_equal(case.kink.nearest(point, "x", "vjp", probe, np.array([2.0, -1.0, 1.0])), [1.0, 0.0, 1.0])
