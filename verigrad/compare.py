"""One comparison and one verdict builder, whatever drove the check (a property, a scale check).

:func:`compare` decides whether an engine's result matches the closed form: the
closest subgradient (kink shares fitted by weighted least squares), the error in
ulps and as a fraction of the rounding bound, pass or fail, and for a failure its
diagnosis and one-line message.  :func:`operation_count` gives the roundings the
bound allows.  The ``*_verdict`` functions and :func:`record_failure` /
:func:`summarize` are the only code that fills in a :class:`Verdict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verigrad.calls import CheckTimeout, ContractViolation
from verigrad.diagnosis import Diagnosis, Evidence, diagnose_values
from verigrad.dtypes import skip_if_unsupported
from verigrad.oracles.protocol import OPTIONAL_VOCABULARY
from verigrad.records import FAIL, PASS, SKIP, Verdict
from verigrad.reference import Structure
from verigrad.tolerance import FLOAT64_U, WORST, Tolerance, bound_fraction, gamma, underflow_floor

__all__ = [
    "CONVENTION_SLACK",
    "Outcome",
    "check_id",
    "compare",
    "failed_verdict",
    "fit_shares",
    "missing_methods",
    "new_verdict",
    "operation_count",
    "record_failure",
    "skipped_verdict",
    "summarize",
    "supports",
    "timed_out",
    "violation",
]

#: How far outside [0, 1] a fitted subgradient share may fall (rounding) and still be recorded as a convention.
CONVENTION_SLACK = 1e-3
#: Results with at most this many entries keep the compared arrays in the outcome's evidence.
EVIDENCE_ENTRIES = 4096
#: How many per-example errors a verdict keeps for the report's distribution plot.
DISTRIBUTION_SAMPLES = 200
#: Optional protocol methods a property needs; an engine without them is skipped with the reason.
REQUIRED_METHODS: dict[str, tuple[str, ...]] = {"hvp": ("hvp",), "hvp_modes": ("hvp", "hvp_reverse")}


@dataclass
class Outcome:
    """The result of one comparison (one property on one example, or one probe of a scale check)."""

    passed: bool
    message: str = ""
    ulps: float = 0.0
    bound_fraction: float = 0.0
    diagnosis: Diagnosis | None = None
    convention: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    #: The entry of largest bound fraction, with the engine's value, the reference and the bound there.
    index: list[int] = field(default_factory=list)
    worst: tuple[float, float, float] | None = None
    #: The fitted subgradient share of each kink direction (None where the direction is zero).
    shares: list[float | None] = field(default_factory=list)


def check_id(prop: str, case: str, subject: str, engine: str, dtype: str, suffix: str = "") -> str:
    """The id of a check: ``PROPERTY[CASE-SUBJECT-ENGINE-DTYPE]`` (a scale check adds ``-n=N``)."""
    return f"{prop}[{case}-{subject}-{engine}-{dtype}{f'-{suffix}' if suffix else ''}]"


def supports(engine: Any, dtype: str) -> bool:
    """Engines may declare ``supported_dtypes``; the protocol does not require it."""
    declared = getattr(engine, "supported_dtypes", None)
    return declared is None or str(dtype) in tuple(str(d) for d in declared)


def operation_count(ops: float, structure: Structure, direction: str, out_size: int, arg_size: int) -> float:
    """Roundings in one entry of a VJP (``direction`` "vjp") or JVP: the closed form's, what the product sums, one more."""
    if direction == "vjp":
        summed = out_size if structure in (Structure.COLUMN, Structure.DENSE) else 1
    else:
        summed = arg_size if structure in (Structure.ROW, Structure.DENSE) else 1
    return ops + summed + 1


# ----------------------------------------------------------------- comparison


def member_bound(tolerance: Tolerance, operations: float, magnitude: np.ndarray, member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bound, and magnitude, of a VJP compared with a member of a set-valued subdifferential (a max's simplex).

    Each entry errs at most as the member's own entry does: magnitude min(declared, |member|), not the
    whole cotangent on every tied entry, which would hide a wrong share (a float16 count of k ties that
    overflows or sticks is off by less than u·|c| per entry).  The roundings add an even split's, c/k:
    the count k of the member's support formed in the format by a pairwise sum (⌈log₂ k⌉ levels), and
    the reciprocal.  A share is the last rounding of its entry, so near zero it loses at most what that
    rounding may (:func:`~verigrad.tolerance.underflow_floor`): a float16 share 1/k = 1e-5 is a subnormal
    float16 holds, and 0 in its place is no rounding of it.
    """
    member = np.abs(np.asarray(member, dtype=np.float64))
    support = max(int(np.count_nonzero(member)), 1)
    magnitude = np.minimum(magnitude, member)
    bound = tolerance.bound(operations + 2 + int(np.ceil(np.log2(support))), magnitude, underflow_floor(tolerance.dtype))
    # The member itself is found in float64 from sums over its k entries (the simplex's projection): it errs by
    # up to float64's γ_k (at 1667 float64 ties the correctly rounded 1/k was 3.3e-14 from it, 8.8x the rest),
    # worst case in every mode: its terms are equal shares, whose roundings do not cancel (9921 ties of a
    # 20-seed sweep: 1.6e-13, 2.7x the probabilistic γ_k).
    return bound + gamma(support, FLOAT64_U, WORST) * magnitude, magnitude


def bounded_lstsq(matrix: np.ndarray, rhs: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """argmin ‖A x − b‖ over 0 ≤ x ≤ upper: scipy's bounded-variable least squares (Stark & Parker's active set,
    exact in finitely many steps), imported here since only a fit that leaves the box needs it."""
    from scipy.optimize import lsq_linear

    upper = np.asarray(upper, dtype=np.float64)
    solution = lsq_linear(matrix, rhs, bounds=(np.zeros_like(upper), upper), method="bvls", tol=1e-12)
    return np.clip(solution.x, 0.0, upper)


def fit_shares(
    engine_value: np.ndarray, r0: np.ndarray, directions: Sequence[np.ndarray], bound: np.ndarray | float = 1.0
) -> tuple[np.ndarray, list[float | None]]:
    """The subgradient closest to the engine's value: r0 + Σ t_c d_c with each t_c in [0, 1], and the shares.

    Least squares with each entry weighted by 1/bound, so that a large entry's
    rounding cannot tilt a share at a small one; columns scaled first so that
    tiny values do not underflow.  A zero direction gets share None.
    """
    g = np.asarray(engine_value, dtype=np.float64)
    shares: list[float | None] = [None] * len(directions)
    live = [(c, np.asarray(d, dtype=np.float64)) for c, d in enumerate(directions) if np.any(np.asarray(d) != 0)]
    # Nothing to fit to a NaN or an infinity (least squares would not converge): such a value fails as it is.
    if not live or not (np.all(np.isfinite(g)) and np.all(np.isfinite(r0))):
        return r0, shares
    weight = 1.0 / np.maximum(np.asarray(bound, dtype=np.float64), np.finfo(np.float64).tiny)
    top = float(np.max(weight))
    # Every bound infinite (a vacuous worst case): no entry is surer than another, so weigh them alike.
    weight = np.broadcast_to(weight / top if top > 0 else np.ones_like(weight), g.shape)
    columns = [np.ravel(d * weight) for _, d in live]
    scales = [float(np.max(np.abs(column))) for column in columns]
    matrix = np.stack([column / scale for column, scale in zip(columns, scales, strict=True)], axis=1)
    rhs = np.ravel((g - r0) * weight)
    fitted = np.linalg.lstsq(matrix, rhs, rcond=None)[0]
    upper = np.asarray(scales)  # a share t_c in [0, 1] is t_c · scale_c in the scaled columns
    boxed = fitted
    if np.any(fitted < 0) or np.any(fitted > upper):
        # The least-squares fit leaves the box: with more kink variables than entries it is one of many exact fits
        # (the minimum-norm one), and clipping it breaks it although a fit inside the box may exist.
        boxed = bounded_lstsq(matrix, rhs, upper)
    reference = r0
    for (_, d), scale, t in zip(live, scales, boxed, strict=True):
        reference = reference + min(max(float(t) / scale, 0.0), 1.0) * d
    if np.all(np.abs(g - reference) <= np.asarray(bound, dtype=np.float64)):
        fitted = boxed  # a member fits: its shares are the engine's convention
    for (c, _), scale, t in zip(live, scales, fitted, strict=True):
        shares[c] = float(t) / scale  # where no member fits, the unconstrained share says how far outside it is
    return reference, shares


def compare(
    engine_value: np.ndarray,
    r0: np.ndarray,
    kink_directions: Sequence[np.ndarray],
    bound: np.ndarray,
    magnitude: np.ndarray,
    tolerance: Tolerance,
    sizes: dict[str, int],
    alternatives: dict[str, np.ndarray] | None = None,
    estimate: np.ndarray | float = 0.0,
    where: str = "",
    context: str = "",
    partials_at_tie: bool = False,
    outside_of: str = "",
) -> Outcome:
    """Engine value vs the closed form r0 (+ the kink directions) within ``bound`` plus the engine's own ``estimate``.

    Errors are in ulps of the term magnitude, or, for an engine that estimates its
    own error (finite differences), of the scale at which that estimate would be
    one rounding.  A failure is diagnosed from the evidence (``alternatives``: what
    known mistakes would give); ``where`` (e.g. "vjp with signs probe") goes in its
    message, ``context`` before it.  ``partials_at_tie``: the value is two partials
    summed at a kink's tie, where each may take any share but they must add up.
    ``outside_of``: at a kink whose subdifferential is no segment (a simplex of
    tied unit vectors, a ball), r0 is its member nearest the engine's value and
    this names the set; a failure then lies outside it.
    """
    g = np.asarray(engine_value, dtype=np.float64)
    bound = np.asarray(bound + estimate, dtype=np.float64)
    magnitude = np.maximum(magnitude, np.asarray(estimate, dtype=np.float64) / tolerance.u)
    r0 = np.asarray(r0, dtype=np.float64)
    reference, shares = fit_shares(g, r0, kink_directions, bound)
    error = np.abs(g - reference)
    fraction = bound_fraction(error, bound)
    worst_fraction = float(np.max(fraction)) if fraction.size else 0.0
    worst_ulps = float(np.max(tolerance.ulps(error, reference, magnitude))) if error.size else 0.0
    flat = int(np.argmax(fraction)) if fraction.size else 0
    index = [int(i) for i in np.unravel_index(flat, g.shape)] if g.ndim else []
    worst = tuple(float(np.ravel(np.broadcast_to(a, g.shape))[flat]) for a in (g, reference, bound)) if g.size else None
    evidence = {"engine": g.tolist(), "reference": reference.tolist(), "bound": bound.tolist()} if g.size <= EVIDENCE_ENTRIES else {}
    live = [t for t in shares if t is not None]
    convention = live[0] if len(live) == 1 else (float(np.median(live)) if live else None)
    outcome = Outcome(worst_fraction <= 1.0, "", worst_ulps, worst_fraction, None, convention, evidence, index, worst, shares)
    if outcome.passed:
        # A share outside [0, 1] can pass only inside an engine's own (wide) error
        # estimate, as finite differences straddling a jump do: that is no convention.
        if any(not -CONVENTION_SLACK <= t <= 1 + CONVENTION_SLACK for t in live):
            outcome.convention = None
        return outcome
    outcome.diagnosis = _diagnose(Evidence(g, reference, bound, np.asarray(magnitude, dtype=np.float64), tolerance.dtype,
                                           sizes, alternatives or {}), live, partials_at_tie, outside_of)
    if partials_at_tie:
        outcome.message = f"{context}{outcome.diagnosis.kind}: {outcome.diagnosis.summary}"
    else:
        outcome.message = context + failure_message(outcome.diagnosis, worst_ulps, worst_fraction, where)
    return outcome


def _diagnose(evidence: Evidence, shares: list[float], partials_at_tie: bool, outside_of: str = "") -> Diagnosis:
    """What kind of mistake a failed comparison is: at a kink, a share outside [0, 1] (or, for two
    partials at a tie, shares that do not add up; or, for a set that is no segment, a value farther
    from it than the bound); elsewhere, the value rules of :func:`diagnose_values`."""
    if outside_of:
        at, ref_value, eng_value = evidence.worst()
        return Diagnosis(
            "outside_subdifferential",
            f"at the kink the value lies outside the subdifferential {outside_of}; "
            "the nearest member differs by more than the bound",
            index=at, reference=ref_value, engine=eng_value,
        )
    if partials_at_tie:
        at, ref_value, eng_value = evidence.worst()
        return Diagnosis(
            "outside_subdifferential",
            f"at the kink the two partials add up to {eng_value!r} where the total derivative is {ref_value!r}: "
            "the subgradient shares (t, 1 - t) must add up to 1",
            index=at, reference=ref_value, engine=eng_value,
        )
    outside = next((t for t in shares if not 0.0 <= t <= 1.0), None)
    if outside is not None:
        at, ref_value, eng_value = evidence.worst()
        return Diagnosis(
            "outside_subdifferential", f"at the kink the engine's value corresponds to share t = {outside:.6g}, outside [0, 1]",
            index=at, reference=ref_value, engine=eng_value, details={"t": outside},
        )
    return diagnose_values(evidence)


def failure_message(diagnosis: Diagnosis, ulps: float, fraction: float, where: str = "") -> str:
    """``kind: summary; [where, ]worst at index I: engine E, reference R (U ulps, F× the bound)``."""
    return (
        f"{diagnosis.kind}: {diagnosis.summary}; {f'{where}, ' if where else ''}worst at index {diagnosis.index}: "
        f"engine {diagnosis.engine!r}, reference {diagnosis.reference!r} ({ulps:.3g} ulps, {fraction:.3g}× the bound)"
    )


def violation(error: ContractViolation) -> Outcome:
    """The engine broke the protocol (raised, bad return, shape, dtype ...): a failure with its diagnosis."""
    return Outcome(False, f"{error.diagnosis.kind}: {error.diagnosis.summary}", float("inf"), float("inf"), error.diagnosis)


def failed_outcome(diagnosis: Diagnosis, evidence: dict[str, Any] | None = None) -> Outcome:
    """A failure with no measured error (exact-zero structure, non-determinism)."""
    return Outcome(False, f"{diagnosis.kind}: {diagnosis.summary}", float("inf"), float("inf"), diagnosis, evidence=evidence or {})


# ------------------------------------------------------------------- verdicts


def new_verdict(prop: str, case: str, subject: str, engine: str, dtype: str, mode: str, suffix: str = "") -> Verdict:
    """A passing verdict with nothing measured yet."""
    return Verdict(check_id(prop, case, subject, engine, dtype, suffix), prop, case, subject, engine, dtype, PASS, mode=mode)


def skipped_verdict(verdict: Verdict, reason: str) -> Verdict:
    verdict.status, verdict.message = SKIP, reason
    return verdict


def missing_methods(prop: str, engine: Any) -> str | None:
    """Why ``engine`` cannot run ``prop`` for want of an optional protocol method (a skip reason), or None."""
    missing = [m for m in REQUIRED_METHODS.get(prop, ()) if not hasattr(engine, m)]
    if not missing:
        return None
    return f"{engine.name} has no {' or '.join(missing)} method (optional in the Engine protocol)"


def missing_vocabulary(requires: tuple[str, ...], engine: Any) -> str | None:
    """Why ``engine`` cannot run a case whose primal calls the optional vocabulary ``requires`` (a skip reason), or None."""
    unknown = [name for name in requires if name not in OPTIONAL_VOCABULARY]
    if unknown:
        raise ValueError(f"a case requires {unknown}, which are not optional vocabulary ({', '.join(OPTIONAL_VOCABULARY)})")
    missing = [name for name in requires if not callable(getattr(engine.xp, name, None))]
    if not missing:
        return None
    names = " or ".join(f"xp.{name}" for name in missing)
    return f"{engine.name} has no {names} (optional vocabulary: the library's own implementation)"


def unsupported(verdict: Verdict, engine: Any, requires: tuple[str, ...] = ()) -> Verdict | None:
    """The verdict as a skip when the engine lacks a method the property needs, an optional vocabulary
    entry the case calls (``requires``), or does not support its dtype (with the engine's
    ``dtype_reasons`` entry, if it declares one), else None."""
    missing = missing_methods(verdict.property, engine) or missing_vocabulary(requires, engine)
    if missing is not None:
        return skipped_verdict(verdict, missing)
    if supports(engine, verdict.dtype):
        return None
    declared = getattr(engine, "dtype_reasons", {}).get(verdict.dtype)
    return skipped_verdict(verdict, f"{verdict.engine} does not support {verdict.dtype}{f': {declared}' if declared else ''}")


def failed_verdict(verdict: Verdict, diagnosis: Diagnosis, message: str | None = None) -> Verdict:
    """A failure known by its diagnosis alone (a timeout, a crashed worker, a broken protocol)."""
    verdict.status = FAIL
    verdict.message = message or f"{diagnosis.kind}: {diagnosis.summary}"
    verdict.diagnosis = diagnosis.to_dict()
    return verdict


def timed_out(verdict: Verdict, error: CheckTimeout) -> Verdict:
    return failed_verdict(verdict, Diagnosis("timeout", f"{verdict.engine}: {error} (limit per check)"))


def record_failure(verdict: Verdict, outcome: Outcome) -> Verdict:
    """A failing outcome's numbers, diagnosis and evidence in the verdict."""
    failed_verdict(verdict, outcome.diagnosis or Diagnosis("unclassified", "no diagnosis"), outcome.message)
    verdict.max_ulps = outcome.ulps
    verdict.max_bound_fraction = outcome.bound_fraction
    verdict.convention = outcome.convention
    verdict.evidence = {**(verdict.evidence or {}), **outcome.evidence} or None
    # An engine that raised on a low-precision dtype lacks that dtype there: a skip naming the operation.
    skip_if_unsupported(verdict)
    return verdict


def summarize(verdict: Verdict, outcomes: Sequence[Outcome]) -> Verdict:
    """Examples checked, error distributions, and for a pass the largest errors and the kink convention."""
    verdict.examples = len(outcomes)
    finite_ulps = [o.ulps for o in outcomes if np.isfinite(o.ulps)]
    finite_fractions = [o.bound_fraction for o in outcomes if np.isfinite(o.bound_fraction)]
    if verdict.status == PASS:
        verdict.max_ulps = max(finite_ulps, default=0.0)
        verdict.max_bound_fraction = max(finite_fractions, default=0.0)
    verdict.ulps = [round(v, 4) for v in finite_ulps[:DISTRIBUTION_SAMPLES]]
    verdict.bound_fractions = [round(v, 6) for v in finite_fractions[:DISTRIBUTION_SAMPLES]]
    conventions = sorted({round(o.convention, 6) for o in outcomes if o.convention is not None and o.passed})
    if conventions and verdict.status == PASS:
        # An engine's subgradient choice is one number when it follows one convention.
        verdict.convention = conventions[0] if len(conventions) == 1 else float(np.median(conventions))
    return verdict
