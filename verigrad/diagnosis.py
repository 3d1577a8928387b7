"""What kind of mistake a failed check is, from the evidence, never from the engine's name.

Each diagnosis kind is one row of :data:`KINDS`.  Contract violations (raised,
wrong container, shape, dtype, non-finite, mutated inputs, non-determinism,
timeout) are recognised where the engine is called (``verigrad.calls``), a
worker process that dies under ``--jobs`` by ``verigrad.parallel``; numeric
mismatches go through :func:`diagnose_values`, which tries the value rules in
:data:`VALUE_RULES` in order and says "unclassified" when none fits.  A result
of the wrong shape goes through :func:`diagnose_shape`, which tells a broadcast
left unreduced and a transposed matrix from any other shape.

``verigrad.oracles.mutants`` holds one deliberately broken engine per kind (but
"unclassified" and "crashed"); ``tests/selftest`` checks each is diagnosed as its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from verigrad.records import KINDS
from verigrad.tolerance import Tolerance

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


def _transposed_matrix(ev: Evidence) -> Diagnosis | None:
    """A square matrix argument whose gradient came back transposed (the reference's transpose fits)."""
    if ev.reference.ndim == 2 and ev.reference.shape[0] == ev.reference.shape[1] > 1:
        if np.any(ev.reference != ev.reference.T) and ev.matches(ev.reference.T):
            return Diagnosis("transposed", "the gradient of a square matrix argument is transposed")
    return None


def _partials(ev: Evidence) -> tuple[np.ndarray, np.ndarray] | None:
    """The two terms of an aliased total: the "missing_term" alternative (one partial) and the rest."""
    one = ev.alternatives.get("missing_term")
    if one is None:
        return None
    one = np.asarray(one, dtype=np.float64)
    return one, ev.reference - one


def _one_term(ev: Evidence) -> Diagnosis | None:
    """The total equals either partial alone: the other path's term never arrived."""
    terms = _partials(ev)
    if terms is None:
        return None
    for which, term in zip(("first", "second"), terms, strict=True):
        if ev.matches(term):
            return Diagnosis("missing_term", f"the result equals the {which} partial alone: the other path's term is missing",
                             details={"term": which})
    return None


def _same_term_twice(ev: Evidence) -> Diagnosis | None:
    """The total is twice one partial: every slot holds the same single partial (overwritten, not accumulated)."""
    terms = _partials(ev)
    if terms is None:
        return None
    for which, term in zip(("first", "second"), terms, strict=True):
        if np.any(term != ev.reference / 2) and ev.matches(2 * term):
            return Diagnosis("missing_term", f"the result is twice the {which} partial: each slot holds that one term, "
                             "the other path's term is missing (overwritten instead of accumulated)",
                             details={"term": which, "repeated": True})
    return None


#: Relative spacing under which a factor "equals" a size or a simple constant.
FACTOR_RTOL = 1e-6


def _factor_name(factor: float, sizes: dict[str, int]) -> tuple[str, str | None, float] | None:
    """The label, size name and exact value of a factor that is a size (n, 1/n, m·n) or a simple constant;
    None for any other."""
    named = {name: size for name, size in sizes.items() if size > 1}
    names = sorted(named)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            named[f"{a}·{b}"] = named[a] * named[b]
    for name, size in sorted(named.items(), key=lambda item: (len(item[0]), item[0])):
        if np.isclose(factor, size, rtol=FACTOR_RTOL, atol=0):
            return f"×{name} (= {size})", name, float(size)
        if np.isclose(factor, 1.0 / size, rtol=FACTOR_RTOL, atol=0):
            return f"×1/{name} (= 1/{size})", name, 1.0 / size
    for label, value in (("×2", 2.0), ("×½", 0.5), ("×3", 3.0), ("×⅓", 1 / 3), ("×4", 4.0), ("×¼", 0.25)):
        if np.isclose(factor, value, rtol=FACTOR_RTOL, atol=0):
            return label, None, value
    return None


def _scaled(ev: Evidence) -> Diagnosis | None:
    """engine ≈ c · reference for one constant c (not ±1, and not within precision of 1)."""
    reference = ev.reference.ravel()
    engine = ev.engine.ravel()
    norm = float(reference @ reference)
    if norm == 0.0 or np.count_nonzero(reference) == 0:
        return None
    factor = float(engine @ reference) / norm
    if factor == 0.0 or abs(abs(factor) - 1.0) <= PRECISION_RELATIVE:
        return None  # ±1 is a sign or a rounding question, not a scale
    named = _factor_name(factor, ev.sizes)
    if np.count_nonzero(reference) == 1 and named is None:
        return None  # one number fits any factor: only a meaningful one is evidence
    if named is not None:
        factor = named[2]  # the exact size: the fitted one carries the rounding of its own dot products
    scaled_bound = ev.bound * max(abs(factor), 1.0)
    if np.all(np.abs(ev.engine - factor * ev.reference) <= scaled_bound):
        label = named[0] if named else f"×{factor:.6g}"
        details: dict[str, Any] = {"factor": factor}
        if named and named[1]:
            details["size"] = named[1]
        return Diagnosis("scaled", f"the result is the derivative {label}", details=details)
    return None


def _vanished(ev: Evidence) -> Diagnosis | None:
    """Every entry exactly zero, the derivative not: no path's term arrived at all (a detached graph, a
    stop-gradient, a count or normaliser that overflowed to infinity).  No factor is evidence here."""
    if ev.engine.size and not np.any(ev.engine) and np.any(np.abs(ev.reference) > ev.bound):
        return Diagnosis("vanished", "every entry is exactly zero where the derivative is not: no term reached the result")
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
    _transposed_matrix,
    _one_term,
    _alternative("double_counted", "the result counts one path's term twice"),
    _same_term_twice,
    _scaled,
    _vanished,
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


#: Roundings assumed for a result whose own bound the caller did not pass (see :func:`diagnose_shape`).
SHAPE_FALLBACK_OPS = 32


def _shape_bound(bound: np.ndarray | None, dtype: np.dtype, ops: float, magnitude: np.ndarray) -> np.ndarray:
    """The caller's bound when it has one, else the tolerance model's with an assumed op count."""
    if bound is not None:
        return np.asarray(bound, dtype=np.float64)
    return Tolerance(dtype).bound(ops, magnitude)


def _sum_to(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast result back to ``shape`` (the reverse of NumPy broadcasting)."""
    lead = values.ndim - len(shape)
    summed = np.sum(values, axis=tuple(range(lead))) if lead > 0 else values
    axes = tuple(i for i, (got, want) in enumerate(zip(summed.shape, shape, strict=True)) if want == 1 and got != 1)
    return np.sum(summed, axis=axes, keepdims=True).reshape(shape) if axes else summed.reshape(shape)


def _broadcasts_to(small: tuple[int, ...], large: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(small, large) == large
    except ValueError:
        return False


def diagnose_shape(
    result: np.ndarray,
    expected_shape: tuple[int, ...],
    reference: np.ndarray | None,
    broadcast_shape: tuple[int, ...] | None,
    bound: np.ndarray | None = None,
) -> Diagnosis:
    """A result of the wrong shape: not reduced over a broadcast, transposed, or just wrong.

    A shape alone says "broadcast output's shape" or "reversed"; the values confirm
    it when a ``reference`` (float64, the expected shape) is given: summed over the
    broadcast axes, or transposed, the result must match it within ``bound`` (the
    check's rounding bound; without one, the tolerance model's for the result's
    dtype with :data:`SHAPE_FALLBACK_OPS` roundings of terms the size of the values).
    """
    shape, expected_shape = tuple(np.shape(result)), tuple(expected_shape)
    raw = np.asarray(result)
    values = raw.astype(np.float64) if raw.dtype.kind in "fiu" else None
    dtype = raw.dtype if raw.dtype.kind == "f" else np.dtype(np.float64)
    ref = None if reference is None or np.shape(reference) != expected_shape else np.asarray(reference, dtype=np.float64)
    if broadcast_shape is not None and shape == tuple(broadcast_shape) and _broadcasts_to(expected_shape, shape):
        what = f"shape {shape} (the broadcast output's) instead of {expected_shape}"
        if ref is None or values is None:
            return Diagnosis("broadcast_not_reduced", f"{what}: a broadcast argument's gradient was not summed back")
        summed = _sum_to(values, expected_shape)
        count = max(values.size // max(int(np.prod(expected_shape)), 1), 1)
        terms = _sum_to(np.abs(values), expected_shape)
        # The fallback counts the summation's own roundings (count terms); a passed bound already does.
        limit = _shape_bound(bound, dtype, SHAPE_FALLBACK_OPS + count, np.maximum(terms, np.abs(ref)))
        if np.all(np.abs(summed - ref) <= limit):
            return Diagnosis("broadcast_not_reduced", f"{what}: summed over the broadcast axes it is the right answer, "
                             "so the gradient of a broadcast argument was not reduced")
        return Diagnosis("broadcast_not_reduced", f"{what}; even summed back it differs from the reference")
    if len(shape) == 2 and shape == expected_shape[::-1] and shape != expected_shape:
        if ref is not None and values is not None:
            limit = _shape_bound(bound, dtype, SHAPE_FALLBACK_OPS, np.maximum(np.abs(values.T), np.abs(ref)))
            if np.all(np.abs(values.T - ref) <= limit):
                return Diagnosis("transposed", f"shape {shape} instead of {expected_shape}, and its transpose is the right answer")
            return Diagnosis("wrong_shape", f"shape {shape} instead of {expected_shape} (reversed, but its transpose is not the right answer)")
        return Diagnosis("wrong_shape", f"shape {shape} instead of {expected_shape} (reversed: possibly transposed; no reference to tell)")
    return Diagnosis("wrong_shape", f"shape {shape} instead of {expected_shape}")
