"""Kinks found without knowing where they are: one-sided derivatives, conventions, outside_subdifferential."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rules import DoubleClamp, HalfClamp

from verigrad import check_function
from verigrad.function_reference import kinked, one_sided

AT_BOUNDS = np.array([-1.0, 0.25, 1.0, 3.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_clamp_with_gradient_half_at_its_bounds_passes_with_its_convention(dtype: str) -> None:
    result = check_function(HalfClamp.apply, (AT_BOUNDS,), "torch", dtypes=[dtype], properties=["vjp"], examples=10, seed=0)
    (verdict,) = result.verdicts
    assert verdict.status == "pass", verdict.message
    assert verdict.convention == pytest.approx(0.5)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_clamp_with_gradient_two_at_its_bounds_is_outside_the_subdifferential(dtype: str) -> None:
    result = check_function(DoubleClamp.apply, (AT_BOUNDS,), "torch", dtypes=[dtype], properties=["vjp"], examples=5, seed=0)
    (verdict,) = result.verdicts
    assert verdict.status == "fail"
    assert verdict.diagnosis["kind"] == "outside_subdifferential"
    assert verdict.diagnosis["details"]["t"] in (pytest.approx(2.0), pytest.approx(-1.0))  # lower bound: 2; upper: -1


def test_torch_relu_at_zero_records_its_convention_zero() -> None:
    result = check_function(torch.relu, (np.array([0.0, 1.5, -2.0]),), "torch", dtypes=["float64"], properties=["vjp"],
                            examples=5, seed=0)
    (verdict,) = result.verdicts
    assert verdict.status == "pass", verdict.message
    assert verdict.convention == pytest.approx(0.0)


def test_one_sided_derivatives_of_abs_at_zero_disagree() -> None:
    sides = one_sided(np.abs, (np.array([0.0, 2.0]),), (np.array([1.0, 1.0]),))
    assert sides.left == pytest.approx([-1.0, 1.0])
    assert sides.right == pytest.approx([1.0, 1.0])
    assert kinked(sides.left, sides.right, sides.left_error, sides.right_error).tolist() == [True, False]


@pytest.mark.parametrize("x", [0.0, 1e-3, 2.0, 30.0], ids=lambda x: f"x={x}")
def test_one_sided_derivatives_of_a_smooth_function_agree_within_their_estimates(x: float) -> None:
    sides = one_sided(lambda t: np.sin(t) * np.exp(t / 8), (np.array([x]),), (np.array([1.0]),))
    exact = np.cos(x) * np.exp(x / 8) + np.sin(x) * np.exp(x / 8) / 8
    assert not kinked(sides.left, sides.right, sides.left_error, sides.right_error).any()
    assert abs(sides.right[0] - exact) <= sides.right_error[0]
    assert abs(sides.left[0] - exact) <= sides.left_error[0]
