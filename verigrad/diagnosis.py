"""What kind of mistake a failed check is, from the evidence, never from the engine's name.

Each diagnosis kind is one row of :data:`KINDS`.  Contract violations (raised,
wrong container, shape, dtype, non-finite, mutated inputs, non-determinism,
timeout) are recognised where the engine is called (``verigrad.calls``); numeric
mismatches go through :func:`diagnose_values`, which tries the value rules in
:data:`VALUE_RULES` in order and says "unclassified" when none fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: Every diagnosis verigrad can give, with the one-line meaning shown in reports.
KINDS: dict[str, str] = {
    "wrong_sign": "the result is the negated derivative",
    "scaled": "the result is the derivative times a constant factor",
    "transposed": "the Jacobian is transposed (denominator layout where numerator is meant)",
    "missing_term": "one path's contribution is missing (aliased or equal-valued inputs)",
    "double_counted": "one path's contribution is counted twice",
    "outside_subdifferential": "at a kink, the value lies outside the subdifferential",
    "broadcast_not_reduced": "a broadcast argument's gradient was not summed back to its shape",
    "dtype_changed": "the result's dtype differs from the primal's (upcast or downcast)",
    "precision": "the error is far above the rounding bound for this dtype, yet small",
    "non_finite": "the result holds NaN or Inf where the derivative is finite",
    "nondeterministic": "two identical calls gave different results",
    "mutated_input": "the engine modified the input arrays it was given",
    "engine_raised": "the engine raised an exception",
    "bad_return": "the engine returned something that is not one array per primal",
    "wrong_shape": "the result has the wrong shape",
    "structure": "entries that must be exactly zero (or one) are not",
    "timeout": "the check did not finish within the time limit",
    "unclassified": "the evidence fits none of the known kinds of mistake",
}

#: Relative error (to the term magnitudes) under which a mismatch counts as a precision loss.
PRECISION_RELATIVE = 1e-4


@dataclass
class Diagnosis:
    """A classified failure with the worst element's evidence."""

    kind: str
    summary: str
    index: list[int] | None = None
    reference: float | None = None
    engine: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown diagnosis kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    """What a numeric comparison saw: engine and reference values, bound, magnitudes, context."""

    engine: np.ndarray
    reference: np.ndarray
    bound: np.ndarray
    magnitude: np.ndarray
    dtype: np.dtype
    sizes: dict[str, int] = field(default_factory=dict)
    #: Alternative answers a specific mistake would give: name -> array (e.g. "transposed": J·u).
    alternatives: dict[str, np.ndarray] = field(default_factory=dict)

    def worst(self) -> tuple[list[int], float, float]:
        error = np.abs(self.engine - self.reference)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(self.bound > 0, error / self.bound, np.where(error > 0, np.inf, 0.0))
        score = np.where(np.isnan(score), np.inf, score)
        flat = int(np.argmax(score)) if score.size else 0
        index = [int(i) for i in np.unravel_index(flat, np.shape(self.engine))] if np.ndim(self.engine) else []
        return index, float(np.ravel(self.reference)[flat]), float(np.ravel(self.engine)[flat])

    def matches(self, candidate: np.ndarray) -> bool:
        candidate = np.asarray(candidate, dtype=np.float64)
        if candidate.shape != np.shape(self.engine):
            return False
        return bool(np.all(np.abs(self.engine - candidate) <= self.bound))


def _sign(ev: Evidence) -> Diagnosis | None:
    if np.any(ev.reference != 0) and ev.matches(-ev.reference):
        return Diagnosis("wrong_sign", "every entry has the right size but the opposite sign")
    return None


def _alternative(kind: str, summary: str) -> Callable[[Evidence], Diagnosis | None]:
    def rule(ev: Evidence) -> Diagnosis | None:
        candidate = ev.alternatives.get(kind)
        if candidate is not None and ev.matches(candidate):
            return Diagnosis(kind, summary)
        return None

    return rule


def _named_factor(factor: float, sizes: dict[str, int]) -> str:
    for name, size in sorted(sizes.items()):
        if size > 1 and np.isclose(factor, size, rtol=1e-6):
            return f"×{name} (= {size})"
        if size > 1 and np.isclose(factor, 1.0 / size, rtol=1e-6):
            return f"×1/{name} (= 1/{size})"
    for label, value in (("×2", 2.0), ("×½", 0.5), ("×3", 3.0), ("×⅓", 1 / 3)):
        if np.isclose(factor, value, rtol=1e-6):
            return label
    return f"×{factor:.6g}"


def _scaled(ev: Evidence) -> Diagnosis | None:
    reference = ev.reference.ravel()
    engine = ev.engine.ravel()
    norm = float(reference @ reference)
    if norm == 0.0 or np.count_nonzero(reference) == 0:
        return None
    factor = float(engine @ reference) / norm
    if factor == 0.0 or np.isclose(factor, 1.0, rtol=1e-12) or np.isclose(factor, -1.0, rtol=1e-12):
        return None
    scaled_bound = ev.bound * max(abs(factor), 1.0)
    if np.all(np.abs(ev.engine - factor * ev.reference) <= scaled_bound):
        label = _named_factor(factor, ev.sizes)
        return Diagnosis("scaled", f"the result is the derivative {label}", details={"factor": factor})
    return None


def _precision(ev: Evidence) -> Diagnosis | None:
    error = np.abs(ev.engine - ev.reference)
    scale = np.maximum(np.abs(ev.reference), ev.magnitude)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(scale > 0, error / scale, np.where(error > 0, np.inf, 0.0))
    worst = float(np.nanmax(relative)) if relative.size else 0.0
    if worst <= PRECISION_RELATIVE:
        digits = -np.log10(worst) if worst > 0 else np.inf
        hint = ""
        if ev.dtype == np.float64 and worst < 1e-5 and worst > 10 * np.finfo(np.float64).eps:
            hint = "; consistent with float32 arithmetic inside a float64 computation, or a slightly wrong formula"
        return Diagnosis(
            "precision",
            f"relative error {worst:.2g} (about {digits:.1f} correct digits): above the {ev.dtype} bound, but small{hint}",
            details={"relative_error": worst},
        )
    return None


#: The value rules, tried in order; the first that fits is the diagnosis.
VALUE_RULES: tuple[Callable[[Evidence], Diagnosis | None], ...] = (
    _sign,
    _alternative("transposed", "the result equals J·u: a transposed (denominator-layout) Jacobian"),
    _alternative("missing_term", "the result equals one partial alone: the other path's term is missing"),
    _alternative("double_counted", "the result counts one path's term twice"),
    _scaled,
    _precision,
)


def diagnose_values(ev: Evidence) -> Diagnosis:
    """Classify a numeric mismatch; 'unclassified' when no rule fits."""
    index, reference, engine = ev.worst()
    for rule in VALUE_RULES:
        found = rule(ev)
        if found is not None:
            break
    else:
        found = Diagnosis("unclassified", "the values differ in a way no known mistake explains")
    found.index, found.reference, found.engine = index, reference, engine
    return found


def diagnose_shape(result: np.ndarray, expected_shape: tuple[int, ...], reference: np.ndarray | None, broadcast_shape: tuple[int, ...] | None) -> Diagnosis:
    """A result of the wrong shape: not reduced over a broadcast, transposed, or just wrong."""
    shape = tuple(np.shape(result))
    values = np.asarray(result, dtype=np.float64) if np.asarray(result).dtype.kind in "fiu" else None
    if reference is not None and values is not None:
        if broadcast_shape is not None and shape == tuple(broadcast_shape) and shape != expected_shape:
            summed = np.sum(values).reshape(expected_shape) if not expected_shape else None
            if summed is not None and np.allclose(summed, reference, rtol=1e-5, atol=0):
                return Diagnosis(
                    "broadcast_not_reduced",
                    f"shape {shape} instead of {expected_shape}: the gradient of a broadcast argument was not summed",
                )
            return Diagnosis("broadcast_not_reduced", f"shape {shape} (the broadcast output's) instead of {expected_shape}")
        if len(shape) == 2 and shape == tuple(expected_shape)[::-1] and np.allclose(values.T, reference, rtol=1e-5, atol=0):
            return Diagnosis("transposed", f"shape {shape} instead of {expected_shape}, and its transpose is the right answer")
    return Diagnosis("wrong_shape", f"shape {shape} instead of {expected_shape}")
