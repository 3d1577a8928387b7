"""The properties, as library code: each checks one example and returns an :class:`Outcome`.

A property is one row of :data:`PROPERTIES`: the function that checks an example,
which (case, argument) pairs it applies to, and which examples it draws.  The
runner (``verigrad.runner``) feeds hypothesis examples through these; the
pytest suite and ``verigrad check`` both go through the runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from verigrad import strategies as vs
from verigrad import truth
from verigrad.calls import ContractViolation, call_jvp, call_vjp
from verigrad.compare import (
    CONVENTION_SLACK,
    Outcome,
    compare,
    failed_outcome,
    member_bound,
    operation_count,
    violation,
)
from verigrad.diagnosis import Diagnosis
from verigrad.modes import diagnose_mode_mismatch
from verigrad.oracles.protocol import error_estimate
from verigrad.reference import Case, Structure
from verigrad.tolerance import FLOAT64_U, Tolerance, share_floor

__all__ = ["CONVENTION_SLACK", "PROPERTIES", "Outcome", "Property", "Target"]


@dataclass(frozen=True)
class Target:
    """What a check is about: a case, an argument (or a pair), an engine, a dtype, a mode."""

    case: Case
    arg: str | None
    engine: Any
    dtype: np.dtype
    mode: str
    fn: Callable[..., Any]
    pair: tuple[str, str] | None = None

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(self.dtype, self.mode)


# ----------------------------------------------------------------- comparison


def _kink_u(target: Target) -> float:
    """Unit roundoff under which a kink variable counts as zero (engine's or reference's)."""
    return max(target.tolerance.u, FLOAT64_U)


def _reference_pair(target: Target, ex: vs.Example, apply: Callable[[Any], np.ndarray], arg: str) -> tuple[np.ndarray, np.ndarray]:
    """The reference at subgradient share t = 0 and t = 1 (equal away from kinks)."""
    u = _kink_u(target)
    at0 = apply(truth.jacobian(target.case, arg, ex.values, ex.params, 0.0, u))
    if target.case.kink is None:
        return at0, at0
    return at0, apply(truth.jacobian(target.case, arg, ex.values, ex.params, 1.0, u))


def _nearest_member(
    target: Target, ex: vs.Example, arg: str, kind: str, probe: np.ndarray, value: np.ndarray,
    reference_at: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Where the case's subdifferential is not a segment, its member nearest the engine's value (twice)."""
    kink = target.case.kink
    if kink is None or kink.nearest is None:
        return reference_at
    p = truth.point(target.case, ex.values, ex.params, u=_kink_u(target))
    member = kink.nearest(p, arg, kind, np.asarray(probe, dtype=np.float64), np.asarray(value, dtype=np.float64))
    return member, member


def _outside_of(target: Target, ex: vs.Example) -> str:
    """On a kink whose subdifferential is a simplex or a ball (the reference is its nearest member),
    that set as :func:`verigrad.compare.compare` names it in a failure; elsewhere ""."""
    kink = target.case.kink
    if kink is None or kink.nearest is None or not _on_kink(target, ex):
        return ""
    return f"({kink.subdifferential}) at {kink.where}"


def _compare(
    target: Target,
    engine_value: np.ndarray,
    reference_at: tuple[np.ndarray, np.ndarray],
    bound: np.ndarray,
    magnitude: np.ndarray,
    sizes: dict[str, int],
    alternatives: dict[str, np.ndarray] | None = None,
    estimate: np.ndarray | float = 0.0,
    **how: Any,
) -> Outcome:
    """:func:`verigrad.compare.compare` with the reference at shares 0 and 1 (equal away from kinks)."""
    r0, r1 = (np.asarray(r, dtype=np.float64) for r in reference_at)
    per_variable = how.pop("directions", None)
    outcome = compare(engine_value, r0, [r1 - r0], bound, magnitude, target.tolerance, sizes, alternatives, estimate, **how)
    if outcome.passed or per_variable is None:
        return outcome
    # One share for all kink variables did not fit; one share each (unconstrained least squares, then each
    # share clipped to [0, 1], so a pass is still a member of the subdifferential).
    directions = per_variable()
    if not directions:
        return outcome
    alternative = compare(engine_value, r0, directions, bound, magnitude, target.tolerance, sizes, alternatives, estimate, **how)
    return alternative if alternative.passed else outcome


#: Kink variables of one property check that get a subgradient share of their own (the rest share one).
MAX_KINK_SHARES = 32


def _share_directions(target: Target, ex: vs.Example, apply: Callable[[Any], np.ndarray],
                      reference_at: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray] | None:
    """One kink direction per kink variable within its rounding blur whose share moves the result.

    An engine resolves each kink variable on its own: an exact zero by its convention, a near-zero
    one by its own rounding (in bfloat16 a pre-activation of 0.17 may land on either side), so one
    share for all of them cannot fit an engine that took 0 at one and 1 at another.  None: the
    single direction of ``reference_at`` (no kink nearby, a subdifferential that is no product of
    segments, or a closed form that steps on several kink variables of different shapes).
    """
    case, arg, u = target.case, target.arg, _kink_u(target)
    r0, r1 = reference_at
    if case.kink is None or case.kink.nearest is not None or np.array_equal(r0, r1):
        return None
    p = truth.point(case, ex.values, ex.params, 0.0, u)
    z, z_magnitude, z_ops = case.kink.locus(p)
    z = np.asarray(z, dtype=np.float64)
    near = np.flatnonzero(np.abs(z) <= np.broadcast_to(z_ops * u * np.asarray(z_magnitude, dtype=np.float64), z.shape))
    out, shape = truth.out_shape(case, ex.values, ex.params), np.shape(ex.values[arg])
    inputs = {**{name: np.asarray(value, dtype=np.float64) for name, value in ex.values.items()}, **ex.params}
    directions, lumped = [], np.zeros(z.size)
    lumped[near[4 * MAX_KINK_SHARES :]] = 1.0  # a large example's thousands of ties: not one closed form each
    for k in near[: 4 * MAX_KINK_SHARES]:
        share = np.zeros(z.size)
        share[k] = 1.0
        try:
            moved = np.asarray(apply(case.partials[arg].jacobian(truth.SharePoint(inputs, share, u), out, shape)), np.float64) - r0
        except ValueError:  # the closed form steps on another kink variable
            return None
        if not np.any(moved):
            continue
        if len(directions) < MAX_KINK_SHARES - 1:
            directions.append(moved)
        else:
            lumped[k] = 1.0
    if np.any(lumped):
        directions.append(np.asarray(apply(case.partials[arg].jacobian(truth.SharePoint(inputs, lumped, u), out, shape)), np.float64) - r0)
    return directions or None


def _estimate(result: np.ndarray) -> np.ndarray | float:
    """The engine's own error estimate for a result (finite differences carry one), else 0."""
    estimate = error_estimate(result)
    if estimate is None:
        return 0.0
    return np.nan_to_num(np.asarray(estimate, dtype=np.float64), nan=np.inf)


_violation = violation


def _vjp_bound(target: Target, ex: vs.Example, arg: str, cotangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    case = target.case
    magnitude = truth.magnitude(case, arg, ex.values, ex.params, _kink_u(target)).vjp(np.abs(cotangent))
    out_size = int(np.prod(truth.out_shape(case, ex.values, ex.params)))
    k = operation_count(truth.ops(case, arg, ex.values, ex.params), case.partials[arg].structure, "vjp", out_size, 0)
    return target.tolerance.bound(k, magnitude, share_floor(case.partials[arg].share, target.tolerance.dtype)), magnitude


def _jvp_bound(target: Target, ex: vs.Example, arg: str, tangent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    case = target.case
    magnitude = truth.magnitude(case, arg, ex.values, ex.params, _kink_u(target)).jvp(np.abs(tangent))
    arg_size = int(np.size(ex.values[arg]))
    k = operation_count(truth.ops(case, arg, ex.values, ex.params), case.partials[arg].structure, "jvp", 0, arg_size)
    return target.tolerance.bound(k, magnitude), magnitude


def _transposed_alternative(target: Target, ex: vs.Example, arg: str, cotangent: np.ndarray) -> dict[str, np.ndarray]:
    """For a square Jacobian, what a transposed one would give for this cotangent: J·u."""
    jac = truth.jacobian(target.case, arg, ex.values, ex.params)
    dense = jac.dense()
    if dense.shape[0] != dense.shape[1] or dense.shape[0] < 2 or np.allclose(dense, dense.T, rtol=0, atol=0):
        return {}
    return {"transposed": (dense @ np.ravel(cotangent).astype(np.float64)).reshape(np.shape(ex.values[arg]))}


def _broadcast_shape(target: Target, ex: vs.Example) -> tuple[int, ...]:
    return truth.out_shape(target.case, ex.values, ex.params)


# ------------------------------------------------------------------ properties


def check_vjp(target: Target, ex: vs.Example) -> Outcome:
    """uᵀJ from the engine matches the closed form within the rounding bound."""
    case, arg = target.case, target.arg
    names = case.arg_names
    r0, r1 = _reference_pair(target, ex, lambda j: j.vjp(ex.cotangent.astype(np.float64)), arg)
    try:
        result = call_vjp(target.engine, target.fn, ex.primals(names), ex.cotangent, names, {arg: r0}, _broadcast_shape(target, ex))
    except ContractViolation as error:
        return _violation(error)
    return _vjp_outcome(target, ex, result[names.index(arg)], (r0, r1))


def _vjp_outcome(target: Target, ex: vs.Example, value: np.ndarray, reference_pair: tuple[np.ndarray, np.ndarray]) -> Outcome:
    """The engine's uᵀJ for ``target.arg`` against the closed form (the subdifferential's nearest member at a kink)."""
    arg = target.arg
    bound, magnitude = _vjp_bound(target, ex, arg, ex.cotangent)
    alternatives = _transposed_alternative(target, ex, arg, ex.cotangent)
    reference_at = _nearest_member(target, ex, arg, "vjp", ex.cotangent, value, reference_pair)
    if target.case.kink is not None and target.case.kink.nearest is not None and _near_kink(target, ex):
        bound, magnitude = _member_bound(target, ex, arg, reference_at[0], magnitude)

    def directions() -> list[np.ndarray] | None:
        return _share_directions(target, ex, lambda j: j.vjp(ex.cotangent.astype(np.float64)), reference_at)

    return _compare(target, value, reference_at, bound, magnitude, ex.sizes, alternatives, _estimate(value),
                    outside_of=_outside_of(target, ex), directions=directions)


def _near_kink(target: Target, ex: vs.Example) -> bool:
    """Whether some kink variable lies within its rounding blur of 0: where a set-valued subdifferential's member,
    not the closed form with its declared magnitudes, is what the engine's value is held to."""
    return truth.near_kink(target.case, ex.values, ex.params, _kink_u(target))


def _member_bound(target: Target, ex: vs.Example, arg: str, member: np.ndarray, magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The VJP bound against a member of a set-valued subdifferential (:func:`verigrad.compare.member_bound`)."""
    out_size = int(np.prod(truth.out_shape(target.case, ex.values, ex.params)))
    k = operation_count(truth.ops(target.case, arg, ex.values, ex.params), target.case.partials[arg].structure, "vjp", out_size, 0)
    return member_bound(target.tolerance, k, magnitude, member)


def _single_tangent(names: tuple[str, ...], ex: vs.Example, arg: str) -> tuple[np.ndarray, ...]:
    return tuple(ex.tangents[name] if name == arg else np.zeros_like(ex.values[name]) for name in names)


def check_jvp(target: Target, ex: vs.Example) -> Outcome:
    """J v from the engine matches the closed form within the rounding bound."""
    case, arg = target.case, target.arg
    names = case.arg_names
    tangent = ex.tangents[arg]
    r0, r1 = _reference_pair(target, ex, lambda j: j.jvp(tangent.astype(np.float64)), arg)
    try:
        result = call_jvp(target.engine, target.fn, ex.primals(names), _single_tangent(names, ex, arg), names,
                          truth.out_shape(case, ex.values, ex.params), r0)
    except ContractViolation as error:
        return _violation(error)
    return _jvp_outcome(target, ex, result, (r0, r1))


def _jvp_outcome(target: Target, ex: vs.Example, result: np.ndarray, reference_pair: tuple[np.ndarray, np.ndarray]) -> Outcome:
    """The engine's J v along ``target.arg``'s tangent against the closed form (nearest member at a kink)."""
    arg, tangent = target.arg, ex.tangents[target.arg]
    bound, magnitude = _jvp_bound(target, ex, arg, tangent)
    reference_at = _nearest_member(target, ex, arg, "jvp", tangent, result, reference_pair)
    def directions() -> list[np.ndarray] | None:
        return _share_directions(target, ex, lambda j: j.jvp(tangent.astype(np.float64)), reference_at)

    return _compare(target, result, reference_at, bound, magnitude, ex.sizes, estimate=_estimate(result),
                    outside_of=_outside_of(target, ex), directions=directions)


def check_adjoint(target: Target, ex: vs.Example) -> Outcome:
    """⟨u, J v⟩ from the engine's JVP equals ⟨Jᵀu, v⟩ from its VJP."""
    case, arg = target.case, target.arg
    names = case.arg_names
    u, v = ex.cotangent, ex.tangents[arg]
    try:
        pulled = call_vjp(target.engine, target.fn, ex.primals(names), u, names)[names.index(arg)]
        pushed = call_jvp(target.engine, target.fn, ex.primals(names), _single_tangent(names, ex, arg), names,
                          truth.out_shape(case, ex.values, ex.params))
    except ContractViolation as error:
        return _violation(error)
    left = float(np.sum(u.astype(np.float64) * pushed.astype(np.float64)))
    right = float(np.sum(pulled.astype(np.float64) * v.astype(np.float64)))
    vjp_bound, vjp_mag = _vjp_bound(target, ex, arg, u)
    jvp_bound, _ = _jvp_bound(target, ex, arg, v)
    scale = float(np.sum(vjp_mag * np.abs(v)))
    estimate = float(np.sum(_estimate(pulled) * np.abs(v)) + np.sum(_estimate(pushed) * np.abs(u)))
    bound = np.asarray(float(np.sum(vjp_bound * np.abs(v)) + np.sum(jvp_bound * np.abs(u))) + 2 * u.size * v.size * FLOAT64_U * scale)
    outcome = _compare(target, np.asarray(left), (np.asarray(right), np.asarray(right)), bound, np.asarray(scale), ex.sizes,
                       estimate=np.asarray(estimate), context=f"⟨u, J v⟩ = {left!r} (engine JVP) but ⟨Jᵀu, v⟩ = {right!r} (engine VJP): ")
    if not outcome.passed and _each_mode_in_subdifferential(target, ex, pulled, pushed):
        return Outcome(True, message=SUBGRADIENTS_DIFFER)
    if not outcome.passed:
        _name_wrong_mode(target, ex, outcome, left, right, float(np.sum(jvp_bound * np.abs(u))) + estimate,
                         float(np.sum(vjp_bound * np.abs(v))) + estimate)
    outcome.convention = None
    return outcome


#: Why an adjoint mismatch on a kink passes: the identity ⟨u, J v⟩ = ⟨Jᵀu, v⟩ needs one J for both modes.
SUBGRADIENTS_DIFFER = ("on a kink the VJP and the JVP each lie in the subdifferential but pick different "
                       "subgradients (a convention of each mode, e.g. an even split of ties against the first tie)")


def _each_mode_in_subdifferential(target: Target, ex: vs.Example, pulled: np.ndarray, pushed: np.ndarray) -> bool:
    """On a kink, whether the engine's VJP and its JVP each match some member of the subdifferential."""
    if not _on_kink(target, ex):
        return False
    arg = target.arg
    vjp_pair = _reference_pair(target, ex, lambda j: j.vjp(ex.cotangent.astype(np.float64)), arg)
    jvp_pair = _reference_pair(target, ex, lambda j: j.jvp(ex.tangents[arg].astype(np.float64)), arg)
    return _vjp_outcome(target, ex, pulled, vjp_pair).passed and _jvp_outcome(target, ex, pushed, jvp_pair).passed


def _name_wrong_mode(target: Target, ex: vs.Example, outcome: Outcome, left: float, right: float,
                     jvp_bound: float, vjp_bound: float) -> None:
    """Replace the adjoint failure's diagnosis by "JVP wrong, VJP right" (or the reverse) where the closed form says so."""
    arg, u = target.arg, ex.cotangent.astype(np.float64)
    references = _reference_pair(target, ex, lambda j: j.jvp(ex.tangents[arg].astype(np.float64)), arg)
    exact = tuple(float(np.sum(u * r)) for r in references)
    diagnosis = diagnose_mode_mismatch(left, right, exact, jvp_bound, vjp_bound)
    if diagnosis is not None:
        outcome.diagnosis = diagnosis
        outcome.message = f"{diagnosis.kind}: {diagnosis.summary}"


def check_structure(target: Target, ex: vs.Example) -> Outcome:
    """Element-wise Jacobians have exactly zero off-diagonal; the identity is exactly I."""
    case, arg = target.case, target.arg
    names = case.arg_names
    primals = ex.primals(names)
    out = truth.out_shape(case, ex.values, ex.params)
    rows = []
    try:
        for i in range(int(np.prod(out))):
            basis = np.zeros(int(np.prod(out)), dtype=target.dtype)
            basis[i] = 1
            rows.append(np.ravel(call_vjp(target.engine, target.fn, primals, basis.reshape(out), names)[names.index(arg)]))
    except ContractViolation as error:
        return _violation(error)
    jac = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    off = jac - np.diag(np.diag(jac))
    if np.any(off != 0):
        i, j = (int(k) for k in np.argwhere(off != 0)[0])
        diagnosis = Diagnosis("structure", f"off-diagonal entry J[{i}, {j}] = {jac[i, j]!r} must be exactly 0",
                              index=[i, j], reference=0.0, engine=float(jac[i, j]))
        return failed_outcome(diagnosis, {"engine_jacobian": jac.tolist()})
    if case.partials[arg].structure is Structure.IDENTITY and np.any(np.diag(jac) != 1):
        i = int(np.argwhere(np.diag(jac) != 1)[0][0])
        diagnosis = Diagnosis("structure", f"diagonal entry J[{i}, {i}] = {jac[i, i]!r} of an identity must be exactly 1",
                              index=[i, i], reference=1.0, engine=float(jac[i, i]))
        return failed_outcome(diagnosis, {"engine_jacobian": jac.tolist()})
    return Outcome(True)


def check_shape_dtype(target: Target, ex: vs.Example) -> Outcome:
    """VJP results have each primal's shape and dtype; the JVP has the output's; where an adapter converted a result
    to that dtype, the library's own dtype was it too."""
    case = target.case
    names = case.arg_names
    try:
        call_vjp(target.engine, target.fn, ex.primals(names), ex.cotangent, names, None, _broadcast_shape(target, ex),
                 native=True)
        call_jvp(target.engine, target.fn, ex.primals(names), tuple(ex.tangents[n] for n in names), names,
                 truth.out_shape(case, ex.values, ex.params), native=True)
    except ContractViolation as error:
        return _violation(error)
    return Outcome(True)


def check_deterministic(target: Target, ex: vs.Example) -> Outcome:
    """Two identical VJP calls give bitwise identical results."""
    names = target.case.arg_names
    try:
        first = call_vjp(target.engine, target.fn, ex.primals(names), ex.cotangent, names)
        second = call_vjp(target.engine, target.fn, ex.primals(names), ex.cotangent, names)
    except ContractViolation as error:
        return _violation(error)
    for name, a, b in zip(names, first, second, strict=True):
        if not np.array_equal(a, b):
            k = int(np.argmax(np.ravel(a != b)))
            diagnosis = Diagnosis("nondeterministic", f"two identical calls differ in the gradient of {name!r} at flat index {k}: "
                                  f"{float(np.ravel(a)[k])!r} then {float(np.ravel(b)[k])!r}", index=[k],
                                  reference=float(np.ravel(a)[k]), engine=float(np.ravel(b)[k]))
            return failed_outcome(diagnosis)
    return Outcome(True)


def check_aliased(target: Target, ex: vs.Example) -> Outcome:
    """One array as both operands: the gradients through both add up to the total derivative."""
    case = target.case
    first, second = target.pair
    names = case.arg_names
    cot = ex.cotangent.astype(np.float64)
    parts = {}
    for arg in (first, second):
        parts[arg] = _reference_pair(target, ex, lambda j: j.vjp(cot), arg)
    r0 = parts[first][0] + parts[second][0]
    r1 = parts[first][1] + parts[second][1]
    try:
        result = call_vjp(target.engine, target.fn, ex.primals(names), ex.cotangent, names)
    except ContractViolation as error:
        return _violation(error)
    total = result[names.index(first)].astype(np.float64) + result[names.index(second)].astype(np.float64)
    b1, m1 = _vjp_bound(target, ex, first, ex.cotangent)
    b2, m2 = _vjp_bound(target, ex, second, ex.cotangent)
    first_value, second_value = result[names.index(first)], result[names.index(second)]
    bound = b1 + b2 + target.tolerance.u * (m1 + m2)
    estimate = _estimate(first_value) + _estimate(second_value)
    alternatives = {
        "missing_term": parts[first][0] if not np.allclose(parts[first][0], r0, rtol=0, atol=0) else parts[second][0],
        "double_counted": 2 * r0,
    }
    if case.kink is not None and case.kink.nearest is not None and _near_kink(target, ex):
        # A subdifferential that is no segment (hypot's disc at a = b = 0): each partial's nearest member, summed.
        members = [_nearest_member(target, ex, arg, "vjp", ex.cotangent, value, parts[arg])[0]
                   for arg, value in ((first, first_value), (second, second_value))]
        return _compare(target, total, (members[0] + members[1],) * 2, bound, m1 + m2, ex.sizes, alternatives,
                        estimate, outside_of=_outside_of(target, ex))
    # Aliased operands of max sit on its tie: each partial alone may pick any share,
    # but the shares must add to the whole derivative.
    return _compare(target, total, (r0, r1), bound, m1 + m2, ex.sizes, alternatives, estimate,
                    partials_at_tie=_on_kink(target, ex))


def _on_kink(target: Target, ex: vs.Example) -> bool:
    """Whether some kink variable of the case is exactly zero at this example."""
    if target.case.kink is None:
        return False
    locus, _, _ = target.case.kink.locus(truth.point(target.case, ex.values, ex.params))
    return bool(np.any(np.asarray(locus) == 0))


def check_kink(target: Target, ex: vs.Example) -> Outcome:
    """Exactly at a kink, the engine's value lies in the subdifferential (its choice is recorded)."""
    return check_vjp(target, ex)


@dataclass(frozen=True)
class Property:
    """One row of the property table."""

    name: str
    check: Callable[[Target, vs.Example], Outcome]
    scope: str  # "arg": per differentiable argument; "case": once per case; "pair": per aliasable pair
    applies: Callable[[Case, str | None], bool]
    strategy: Callable[[Case, np.dtype, str | None, tuple[str, str] | None], st.SearchStrategy[vs.Example]]
    description: str


def _probes(
    cotangent: bool, tangent: str, large: bool = False
) -> Callable[[Case, np.dtype, str | None, tuple[str, str] | None], st.SearchStrategy[vs.Example]]:
    """Examples drawing only the probes a property uses: ``tangent`` is "arg", "all" or "none";
    ``large``: now and then a large example (see ``strategies.examples``)."""

    def strategy(case: Case, dtype: np.dtype, arg: str | None, pair: tuple[str, str] | None) -> st.SearchStrategy[vs.Example]:
        tangents = {"arg": (arg,), "all": None, "none": ()}[tangent]
        return vs.examples(case, dtype, cotangent=cotangent, tangents=tangents, large=large)

    return strategy


def _element_wise(case: Case, arg: str | None) -> bool:
    return case.partials[arg].structure in (Structure.IDENTITY, Structure.DIAGONAL)


PROPERTIES: dict[str, Property] = {
    p.name: p
    for p in (
        Property("vjp", check_vjp, "arg", lambda c, a: True, _probes(True, "none", large=True),
                 "engine VJP matches the closed form within the rounding bound"),
        Property("jvp", check_jvp, "arg", lambda c, a: True, _probes(False, "arg"), "engine JVP matches the closed form within the rounding bound"),
        Property("adjoint", check_adjoint, "arg", lambda c, a: True, _probes(True, "arg"), "⟨u, J v⟩ (JVP) = ⟨Jᵀu, v⟩ (VJP)"),
        Property("structure", check_structure, "arg", _element_wise, _probes(False, "none"), "element-wise Jacobians: off-diagonal exactly 0, identity exactly I"),
        Property("shape_dtype", check_shape_dtype, "case", lambda c, a: True, _probes(True, "all"), "gradients keep each primal's shape and dtype"),
        Property("deterministic", check_deterministic, "case", lambda c, a: True, _probes(True, "none"), "identical calls give identical results"),
        Property("aliased", check_aliased, "pair", lambda c, a: True,
                 lambda c, d, a, p: vs.aliased_examples(c, d, *p, same_object=True), "one array as both operands: partials add up"),
        Property("equal_values", check_aliased, "pair", lambda c, a: True,
                 lambda c, d, a, p: vs.aliased_examples(c, d, *p, same_object=False), "distinct equal-valued arrays: partials add up"),
        Property("kink", check_kink, "arg", lambda c, a: c.kink is not None,
                 lambda c, d, a, p: vs.kink_examples(c, d), "at a kink the value lies in the subdifferential (convention recorded)"),
    )
}

# Appended rows: the second-order properties live in their own module, which adds them to PROPERTIES
# when imported (in either order: it imports this module's Property first).
import verigrad.second_order  # noqa: E402, F401
