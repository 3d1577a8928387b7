"""The tolerance model at its edges: a vacuous worst case, float16's gradual underflow, and fits against it."""

from __future__ import annotations

import numpy as np

from verigrad.compare import fit_shares, member_bound
from verigrad.dtypes import bfloat16
from verigrad.tolerance import WORST, Tolerance, underflow_floor


def test_a_vacuous_worst_case_bounds_terms_by_inf_and_no_terms_by_the_floor() -> None:
    """k·u ≥ 1 (bfloat16, 10⁵ roundings): γ is infinite, yet an entry with no terms has no error (never NaN)."""
    tolerance = Tolerance(np.dtype(bfloat16()), WORST)
    bound = tolerance.bound(100_000, np.array([0.0, 1.0]))
    assert np.isfinite(bound[0]) and bound[0] == 100_000 * float(np.finfo(np.float32).tiny)
    assert bound[1] == np.inf


def test_shares_fit_against_infinite_bounds_without_nan() -> None:
    reference, shares = fit_shares(np.array([0.5]), np.array([0.0]), [np.array([1.0])], bound=np.array([np.inf]))
    assert shares == [0.5] and reference.tolist() == [0.5]


def test_float16_loses_half_a_subnormal_spacing_near_zero_and_the_others_may_flush() -> None:
    assert underflow_floor("float16") == 2.0**-25
    assert underflow_floor("float32") == float(np.finfo(np.float32).tiny)
    assert underflow_floor(bfloat16()) == float(np.finfo(np.float32).tiny)


def test_a_member_share_near_zero_is_bounded_by_its_last_rounding() -> None:
    """The even split of 10⁵ float16 ties, 1e-5 each, is a subnormal: a share of 0 is outside the member's bound."""
    tolerance = Tolerance(np.dtype(np.float16))
    member = np.full(100_000, 1e-5)
    bound, _ = member_bound(tolerance, 3, np.ones_like(member), member)
    assert np.all(bound < 1e-5)  # an all-zero gradient fails; the general floor (k·6.1e-5) would pass it
    assert np.all(tolerance.bound(3, np.zeros(1)) > 1e-5)
