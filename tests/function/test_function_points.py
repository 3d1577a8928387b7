"""The points a function is checked at: the user's inputs, drawn points near them or in the domain, patterns on purpose."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given, settings

from verigrad.function_points import NEAR_RADIUS, boxes, points, user_point

USER = (np.array([3.0, -0.5, 10.0]), np.array([1.0, 2.0, 3.0]))
DTYPE = np.dtype(np.float32)


def _points(domains=None, **kwargs):
    return points(USER, DTYPE, domains or [None, None], (3,), **kwargs)


@given(_points())
@settings(max_examples=50, deadline=None)
def test_drawn_points_lie_near_the_users_values(point) -> None:
    for drawn, user in zip(point.inputs, USER, strict=True):
        assert drawn.dtype == DTYPE and drawn.shape == user.shape
        if point.pattern == "as drawn":
            assert np.all(np.abs(drawn - user) <= NEAR_RADIUS * np.maximum(np.abs(user), 1) * (1 + 1e-6))


@given(_points(domains=[(0.0, 1.0), (-2.0, -1.0)]))
@settings(max_examples=50, deadline=None)
def test_drawn_points_stay_inside_the_domain(point) -> None:
    assert np.all((point.inputs[0] >= 0) & (point.inputs[0] <= 1))
    assert np.all((point.inputs[1] >= -2) & (point.inputs[1] <= -1))


@given(_points())
@settings(max_examples=30, deadline=None)
def test_probes_are_non_zero_and_unused_ones_are_zero(point) -> None:
    assert np.all(point.cotangent != 0) and all(np.all(t != 0) for t in point.tangents)


def test_unused_probes_are_zeros() -> None:
    point = find(_points(cotangent=False, tangents=False), lambda p: True)
    assert not point.cotangent.any() and not any(t.any() for t in point.tangents)


@pytest.mark.parametrize("pattern", ["zeros", "ties", "repeated"])
def test_each_pattern_is_drawn_on_purpose(pattern: str) -> None:
    point = find(_points(), lambda p: p.pattern == pattern, settings=settings(max_examples=500, database=None))
    values = np.concatenate([x.ravel() for x in point.inputs])
    if pattern == "zeros":
        assert np.any(values == 0)
    else:
        assert len(np.unique(values)) < values.size


def test_a_failure_shrinks_to_the_users_inputs() -> None:
    # Any point "fails": the minimal one is the user's own inputs, unperturbed.
    point = find(_points(), lambda p: True, settings=settings(database=None))
    for drawn, user in zip(point.inputs, USER, strict=True):
        assert np.array_equal(drawn, user.astype(DTYPE))


def test_the_users_point_comes_with_probes_of_both_signs() -> None:
    point = user_point(USER, DTYPE, (3,))
    assert point.cotangent.tolist() == [1.0, -0.5, 1.0]
    assert point.pattern == "user's inputs"


@pytest.mark.parametrize(
    ("domain", "expected"),
    [(None, [None, None]), ((0, 1), [(0.0, 1.0), (0.0, 1.0)]), ([(0, 1), None], [(0.0, 1.0), None])],
    ids=["none", "one-box", "per-input"],
)
def test_domain_forms(domain, expected) -> None:
    assert boxes(domain, 2) == expected


@pytest.mark.parametrize("domain", [(1, 0), (0, np.inf), [(0, 1)], "wide", [(0, 1), (2, 1)]],
                         ids=["reversed", "infinite", "too-few", "string", "bad-second"])
def test_a_malformed_domain_is_a_clear_error(domain) -> None:
    with pytest.raises(ValueError, match="domain"):
        boxes(domain, 2)


def test_ties_across_inputs_are_drawn() -> None:
    # maximum(a, b) has its kink at a == b: such ties must come up, not only ties within one input.
    point = find(_points(), lambda p: p.pattern == "ties" and bool(np.any(p.inputs[0] == p.inputs[1])),
                 settings=settings(max_examples=1000, database=None))
    assert np.any(point.inputs[0] == point.inputs[1])
