"""The tolerance model: how far a correct engine's result may lie from the exact value.

Every bound is ``u · k · S`` where u is the unit roundoff of the engine's dtype,
k the number of roundings along the computation (the case's ``ops`` plus the
terms a VJP/JVP accumulates), and S the magnitude of the terms (the case's
``magnitude`` Jacobian applied to |probe|).  Two modes:

``worst``
    Wilkinson's γ_k = k·u / (1 - k·u): never exceeded by a correct engine
    (first order in u), so a failure is proof of a wrong result.
``probabilistic`` (default)
    Higham & Mary (2019): with rounding errors modelled as independent and mean
    zero, the error exceeds λ·√k·u·S with probability at most
    2·exp(-λ²(1-u)²/2) (≈ 7.5e-6 for λ = 5).  Used only where it is tighter than
    the worst case (k > λ²), i.e. for long reductions.

The float64 reference's own error (same analysis with u = 2⁻⁵³) is added, as is
an absolute floor of k times the smallest normal number, because engines may
flush subnormal results to zero, and because an underflow early in a chain is
amplified by the factors after it.  Where a result is one rounding away from
exact values (a share c/k of a max's ties) the floor is what that rounding may
lose (:func:`underflow_floor`).
Errors are reported in ulps of the larger of the exact value and the term
magnitude (so a result that cancels to ~0 is not measured in ulps of itself),
and as a fraction of the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from verigrad.dtypes import finfo

WORST = "worst"
PROBABILISTIC = "probabilistic"
MODES = (WORST, PROBABILISTIC)

#: λ of the probabilistic bound and the failure probability it gives per entry.
LAMBDA = 5.0
PROBABILISTIC_CONFIDENCE = 1.0 - 2.0 * math.exp(-(LAMBDA**2) / 2.0)

FLOAT64_U = float(np.finfo(np.float64).eps) / 2


def unit_roundoff(dtype: np.dtype | type | str) -> float:
    """u = ε/2 for a floating dtype (2⁻²⁴ for float32, 2⁻⁵³ for float64)."""
    return float(finfo(dtype).eps) / 2


def gamma(k: float, u: float, mode: str = PROBABILISTIC) -> float:
    """The relative error factor for k roundings: γ_k, or λ√k·u where that is smaller."""
    if mode not in MODES:
        raise ValueError(f"unknown tolerance mode {mode!r}; use one of {MODES}")
    k = max(float(k), 1.0)
    worst = k * u / (1.0 - k * u) if k * u < 1 else math.inf
    if mode == WORST:
        return worst
    return min(worst, LAMBDA * math.sqrt(k) * u)


#: Formats whose results no CPU engine flushes: float16 is computed in float32 (or emulated) and
#: converted, and the conversion keeps float16's subnormals (gradual underflow).  Allowing a flush
#: of a float16 max's 1/k shares (k·6.1e-5 each) would pass 10⁵ ties whose every share is 0
#: (tinygrad #12296), where the correct shares, 1e-5, are subnormals the conversion represents.
GRADUAL_UNDERFLOW = ("float16",)


def underflow_floor(dtype: np.dtype | type | str) -> float:
    """The absolute error one final rounding may add near zero, in ``dtype``.

    float32 and float64 arithmetic may run with flush-to-zero (XLA on CPU does), so a subnormal
    result may lose up to the smallest normal number.  A :data:`GRADUAL_UNDERFLOW` format loses at
    most half its subnormal spacing, the float32 intermediates' own flush (1.2e-38) aside.  Only
    for a result that no later factor amplifies: :meth:`Tolerance.bound` keeps k·tiny otherwise.
    """
    info = finfo(dtype)
    if str(np.dtype(dtype)) in GRADUAL_UNDERFLOW:
        return max(float(info.smallest_subnormal) / 2, float(np.finfo(np.float32).tiny))
    return float(info.tiny)


def share_floor(share: bool, dtype: np.dtype | type | str) -> float | None:
    """The underflow floor per rounding of a VJP: :func:`underflow_floor` where each entry is a share
    (``Partial.share``: a mean's c/N), else None (the bound's default, the smallest normal number)."""
    return underflow_floor(dtype) if share else None


@dataclass(frozen=True)
class Tolerance:
    """Bounds for one dtype under one mode."""

    dtype: np.dtype
    mode: str = PROBABILISTIC

    @property
    def u(self) -> float:
        return unit_roundoff(self.dtype)

    def bound(self, ops: float, magnitude: np.ndarray, floor_per_rounding: float | None = None) -> np.ndarray:
        """Entry-wise bound for a result computed with ``ops`` roundings from terms of size ``magnitude``.

        Includes the float64 reference's own error and an underflow floor: ``floor_per_rounding``
        (default the smallest normal number, see the module docstring) per rounding.
        """
        magnitude = np.asarray(magnitude, dtype=np.float64)
        engine = gamma(ops, self.u, self.mode)
        reference = gamma(ops, FLOAT64_U, self.mode)
        per_rounding = float(finfo(self.dtype).tiny) if floor_per_rounding is None else floor_per_rounding
        floor = max(ops, 1.0) * per_rounding
        # γ is infinite once k·u ≥ 1 (bfloat16 past 256 roundings, worst case): vacuous where there are terms,
        # but no terms still means no error (inf·0 would be NaN).
        with np.errstate(invalid="ignore"):
            scaled = np.where(magnitude == 0, 0.0, (engine + reference) * magnitude)
        return scaled + floor

    def ulps(self, error: np.ndarray, exact: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
        """|error| in ulps (of the engine's dtype) of max(|exact|, magnitude)."""
        scale = np.maximum(np.abs(np.asarray(exact, dtype=np.float64)), np.asarray(magnitude, dtype=np.float64))
        spacing = np.spacing(scale.astype(self.dtype)).astype(np.float64)
        with np.errstate(over="ignore", divide="ignore"):
            return np.abs(error) / spacing


def bound_fraction(error: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """|error| / bound entry-wise: ≤ 1 passes.  0/0 is 0, x/0 is inf."""
    error = np.abs(np.asarray(error, dtype=np.float64))
    bound = np.asarray(bound, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(error == 0, 0.0, error / bound)
    return np.where(np.isnan(fraction), np.inf, fraction)
