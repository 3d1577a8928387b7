"""Checking any function's gradients: the properties, their comparison with the reference, and the driver.

A :class:`FunctionTarget` is one (function, engine, dtype): the function written
in the engine's own arrays, and the :class:`~verigrad.function_reference.Reference`
it is compared with.  Each property checks one :class:`~verigrad.function_points.Point`
and returns the catalog's :class:`~verigrad.checks.Outcome`, compared by the
catalog's own comparison (``checks._compare``) and diagnosed by the catalog's
rules (``verigrad.diagnosis``); :func:`run_property` drives it with hypothesis
(the user's inputs first, then drawn points, a failure shrunk) to a
:class:`~verigrad.records.Verdict`.

The rounding bound of an arbitrary function
-------------------------------------------
The catalog declares, per case, the magnitude of the terms of each closed form
and the number of roundings.  For a user's function both are estimated:

* magnitude: |u|ᵀ|J| (VJP) or |J||v| (JVP) from the reference Jacobian, and,
  where the comparison fails with that alone, the sensitivity of J to a relative
  change of the inputs and of the output (:func:`sensitivity`, ε = 2⁻¹⁰): a
  derivative whose terms cancel (sin x + x cos x near its root, 1 - tanh² x
  where tanh saturates) is computed from terms of that size, and errs on their
  scale, not on its own;
* roundings: :data:`FUNCTION_OPS` per Jacobian entry (``ops=`` changes it), plus
  what the VJP (a sum over the outputs) or JVP (over the inputs) accumulates.

The bound is the tolerance model's ``γ_k(u)·magnitude`` for the dtype under
test (``verigrad.tolerance``), plus the reference's own error estimate (finite
differences carry one; a closed form has none).  No fixed atol or rtol.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, example, given, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky

from verigrad.calls import ContractViolation, _check_array, _guarded_call, _snapshot, call_jvp, call_vjp
from verigrad.checks import _compare
from verigrad.compare import Outcome, failed_verdict, new_verdict, record_failure, skipped_verdict, summarize
from verigrad.compare import violation as _violation
from verigrad.diagnosis import Diagnosis
from verigrad.function_points import Box, Point, points, user_point
from verigrad.function_reference import (
    FiniteDifferenceReference,
    Forward,
    Jacobian,
    Reference,
    Sided,
    kinked,
    one_sided,
)
from verigrad.oracles.fd import FiniteDifferences
from verigrad.oracles.protocol import error_estimate
from verigrad.records import Verdict
from verigrad.tolerance import FLOAT64_U, Tolerance

#: Roundings assumed per Jacobian entry of a function verigrad knows nothing about
#: (the catalog declares its own per case).  32 is the fallback the diagnosis of
#: a shape mismatch assumes too (``diagnosis.SHAPE_FALLBACK_OPS``).
FUNCTION_OPS = 32
#: Relative change of the inputs that measures how J depends on them (the magnitude's second term).
SENSITIVITY_STEP = 2.0**-10
#: A reference entry whose error estimate exceeds this fraction of the Jacobian's scale
#: straddles a kink (the fd oracle widens its estimate there): look at the one-sided derivatives.
KINK_SUSPECT = 2.0**-20


@dataclass
class FunctionTarget:
    """One function on one engine in one dtype, and everything a property needs to judge it."""

    fn: Callable[..., Any]
    engine: Any
    dtype: np.dtype
    mode: str
    reference: Reference
    forward: Forward | None  # the float64 forward (for kinks): engine.evaluate, when the engine has it
    names: tuple[str, ...]
    out_shape: tuple[int, ...]
    ops: float = FUNCTION_OPS
    forward_mode: bool = True  # False: the engine has no JVP for this function (a reverse-only custom rule)
    aliased_reference: Callable[[int, int], Reference] | None = None
    _jacobians: dict[bytes, list[Jacobian]] = field(default_factory=dict)

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(self.dtype, self.mode)

    def jacobians(self, primals: tuple[np.ndarray, ...], reference: Reference | None = None) -> list[Jacobian]:
        """The reference Jacobians at a float64 point (cached: hypothesis replays points while shrinking)."""
        reference = reference or self.reference
        key = id(reference).to_bytes(8, "little") + b"".join(p.tobytes() + str(p.shape).encode() for p in primals)
        if key not in self._jacobians:
            if len(self._jacobians) > 256:
                self._jacobians.clear()
            self._jacobians[key] = reference.jacobians(primals)
        return self._jacobians[key]


def _float64(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(a, dtype=np.float64) for a in arrays)


def sensitivity(target: FunctionTarget, primals: tuple[np.ndarray, ...], reference: Reference | None = None) -> list[np.ndarray]:
    """Per input, how the Jacobian's terms scale: with the inputs, and with the output a backward may reuse.

    ΔJ = J(x(1+ε)) - J(x(1-ε)) along a relative change of every input.  The
    first term, |ΔJ| / 2ε, is J's sensitivity to a relative change of the inputs
    (x·cos x in sin x + x cos x).  The second, |f|·|ΔJ| / |Δf| per output, is its
    sensitivity to a relative change of the output: a backward that computes
    1 - tanh²(x) from the saved output y = tanh x errs by u·|y|·2|y|, not by u
    times the tiny result.
    """
    up_point = tuple(p * (1 + SENSITIVITY_STEP) for p in primals)
    down_point = tuple(p * (1 - SENSITIVITY_STEP) for p in primals)
    up, down = target.jacobians(up_point, reference), target.jacobians(down_point, reference)
    changes = [np.abs(a.value - b.value) for a, b in zip(up, down, strict=True)]
    result = [change / (2 * SENSITIVITY_STEP) for change in changes]
    if target.forward is not None:
        value = np.abs(np.asarray(target.forward(*primals), dtype=np.float64)).ravel()
        moved = np.abs(np.asarray(target.forward(*up_point), dtype=np.float64) - np.asarray(target.forward(*down_point), dtype=np.float64)).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            per_output = np.where(moved > 0, value / moved, 0.0)
        result = [r + np.nan_to_num(per_output[:, None] * change, posinf=0.0) for r, change in zip(result, changes, strict=True)]
    return result


# -------------------------------------------------------------- comparison


@dataclass
class Expected:
    """The reference side of one comparison, flat: value, its error estimate, term magnitude, roundings."""

    value: np.ndarray
    estimate: np.ndarray
    magnitude: np.ndarray
    ops: float
    sides: Sided | None = None  # one-sided derivatives where the point may be a kink
    alternatives: dict[str, np.ndarray] = field(default_factory=dict)


def compare(target: FunctionTarget, engine_value: np.ndarray, expected: Expected, what: str) -> Outcome:
    """The engine's value against the reference; at a kink, against the interval between the one-sided derivatives.

    Kinks are per entry: an entry where the one-sided derivatives disagree beyond
    their estimates is compared with the nearest point of the interval between
    them, and its share t = (value - left) / (right - left) along the probe
    direction is the engine's convention (0: the left derivative, 1: the right
    one, ½ their mean; ReLU's 0 at 0 is t = 0, whatever the probe's sign); the
    outcome records the median over the kinked entries.  Every other entry is
    compared with the reference value.  The comparison itself is the catalog's.
    """
    g = np.asarray(engine_value, dtype=np.float64).ravel()
    reference, estimate = expected.value.copy(), expected.estimate.copy()
    kink = np.zeros(g.shape, bool)
    share = np.full(g.shape, np.nan)
    if expected.sides is not None:
        s = expected.sides
        kink = kinked(s.left, s.right, s.left_error, s.right_error)
        low, high = np.minimum(s.left, s.right), np.maximum(s.left, s.right)
        reference = np.where(kink, np.clip(g, low, high), reference)
        estimate = np.where(kink, s.left_error + s.right_error, estimate)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(kink, (g - s.left) / (s.right - s.left), np.nan)
    # The reference's own error widens the bound; unlike an engine's estimate it says nothing of the terms' magnitude.
    bound = target.tolerance.bound(expected.ops, expected.magnitude) + estimate
    outcome = _compare(target, g, (reference, reference), bound, expected.magnitude, {}, expected.alternatives)  # type: ignore[arg-type]
    shares = share[kink]
    if outcome.passed:
        outcome.convention = float(np.median(shares)) if shares.size else None
    elif outcome.diagnosis is not None and outcome.diagnosis.index and kink[outcome.diagnosis.index[0]]:
        i = outcome.diagnosis.index[0]
        t = float(share[i])
        outcome.diagnosis = Diagnosis(
            "outside_subdifferential",
            f"at a kink (one-sided derivatives {float(expected.sides.left[i])!r} and {float(expected.sides.right[i])!r}) the value "
            f"{float(g[i])!r} corresponds to share t = {t:.6g}, outside [0, 1]",
            index=[i], reference=float(reference[i]), engine=float(g[i]), details={"t": t},
        )
        outcome.message = f"outside_subdifferential: {outcome.diagnosis.summary}"
    if not outcome.passed:
        outcome.message = f"{what}: {outcome.message}"
    outcome.evidence = {**outcome.evidence, "kink_entries": np.flatnonzero(kink).tolist()} if kink.any() else outcome.evidence
    return outcome


def _suspect_kink(jacobians: list[Jacobian]) -> bool:
    scale = max((float(np.max(np.abs(j.value), initial=0.0)) for j in jacobians), default=0.0)
    return any(bool(np.any(j.error > KINK_SUSPECT * max(scale, np.finfo(np.float64).tiny))) for j in jacobians)


def _worst(outcomes: list[Outcome]) -> Outcome:
    """All passed: the one nearest its bound (with every kink's convention); else the first failure."""
    failed = [o for o in outcomes if not o.passed]
    if failed:
        return failed[0]
    worst = max(outcomes, key=lambda o: o.bound_fraction)
    conventions = [o.convention for o in outcomes if o.convention is not None]
    worst.convention = float(np.median(conventions)) if conventions else None
    return worst


# ------------------------------------------------------------ the VJP side


def _vjp_expected(target: FunctionTarget, jacobians: list[Jacobian], u: np.ndarray, k: int,
                  extra: list[np.ndarray] | None, sides: list[Sided] | None) -> Expected:
    jac = jacobians[k]
    magnitude = np.abs(u) @ (np.abs(jac.value) + (extra[k] if extra else 0.0))
    estimate = np.abs(u) @ jac.error + u.size * FLOAT64_U * (np.abs(u) @ np.abs(jac.value))
    alternatives = {}
    if jac.value.shape[0] == jac.value.shape[1] > 1 and not np.array_equal(jac.value, jac.value.T):
        alternatives["transposed"] = jac.value @ u
    ops = target.ops + u.size + 1
    return Expected(u @ jac.value, estimate, magnitude, ops, sides[k] if sides else None, alternatives)


def _vjp_sides(target: FunctionTarget, primals: tuple[np.ndarray, ...], u: np.ndarray) -> list[Sided]:
    """Per input, the one-sided derivatives of uᵀf along each of its elements (a VJP entry's section)."""
    result = []
    for k, primal in enumerate(primals):
        columns = []
        for j in range(primal.size):
            direction = tuple(np.zeros_like(p) for p in primals)
            direction[k].flat[j] = 1.0
            columns.append(one_sided(target.forward, primals, direction))
        result.append(Sided(*(np.array([(np.abs(u) if "error" in attr else u) @ getattr(c, attr) for c in columns])
                              for attr in ("left", "right", "left_error", "right_error"))))
    return result


def vjp_outcome(target: FunctionTarget, inputs: tuple[np.ndarray, ...], cotangent: np.ndarray,
                values: tuple[np.ndarray, ...], reference: Reference | None = None, combine: tuple[int, int] | None = None) -> Outcome:
    """Engine VJP ``values`` (one per input) against the reference at ``inputs``; ``combine`` sums an aliased pair first."""
    primals = _float64(inputs)
    u = np.asarray(cotangent, dtype=np.float64).ravel()
    jacobians = target.jacobians(primals, reference)
    values = tuple(np.asarray(v, dtype=np.float64) for v in values)
    indices = range(len(primals))
    if combine is not None:
        first, second = combine
        values = (values[first] + values[second],)
        indices = range(first, first + 1)
    extra: list[np.ndarray] | None = None
    sides: list[Sided] | None = None

    def judge() -> Outcome:
        outcomes = []
        for slot, k in enumerate(indices):
            expected = _vjp_expected(target, jacobians, u, k, extra, sides)
            if combine is not None:  # what one path's term alone, or the total twice, would give
                expected.alternatives = {"missing_term": u @ target.jacobians(primals)[combine[0]].value,
                                         "double_counted": 2 * expected.value}
            outcomes.append(compare(target, values[slot], expected, f"VJP of input {target.names[k]!r}"))
        return _worst(outcomes)

    outcome = judge()
    if target.forward is not None and combine is None and (not outcome.passed or _suspect_kink(jacobians)):
        sides = _vjp_sides(target, primals, u)
        outcome = judge()
    if not outcome.passed:
        extra = sensitivity(target, primals, reference)
        outcome = judge()
    return outcome


# ------------------------------------------------------------ the JVP side


def _jvp_expected(target: FunctionTarget, jacobians: list[Jacobian], tangents: tuple[np.ndarray, ...],
                  extra: list[np.ndarray] | None, sides: Sided | None) -> Expected:
    value = sum((j.value @ v.ravel() for j, v in zip(jacobians, tangents, strict=True)), np.zeros(jacobians[0].value.shape[0]))
    magnitude = sum(((np.abs(j.value) + (extra[k] if extra else 0.0)) @ np.abs(v.ravel())
                     for k, (j, v) in enumerate(zip(jacobians, tangents, strict=True))), np.zeros_like(value))
    estimate = sum((j.error @ np.abs(v.ravel()) for j, v in zip(jacobians, tangents, strict=True)), np.zeros_like(value))
    size = sum(v.size for v in tangents)
    return Expected(value, estimate + size * FLOAT64_U * magnitude, magnitude, target.ops + size + 1, sides)


def jvp_outcome(target: FunctionTarget, inputs: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...], value: np.ndarray) -> Outcome:
    """Engine JVP ``value`` against the reference J v at ``inputs``; at a kink, against the one-sided derivatives along v."""
    primals = _float64(inputs)
    v = _float64(tangents)
    jacobians = target.jacobians(primals)
    extra: list[np.ndarray] | None = None
    sides: Sided | None = None
    outcome = compare(target, value, _jvp_expected(target, jacobians, v, extra, sides), "JVP")
    if target.forward is not None and (not outcome.passed or _suspect_kink(jacobians)):
        sides = one_sided(target.forward, primals, v)
        outcome = compare(target, value, _jvp_expected(target, jacobians, v, extra, sides), "JVP")
    if not outcome.passed:
        extra = sensitivity(target, primals)
        outcome = compare(target, value, _jvp_expected(target, jacobians, v, extra, sides), "JVP")
    return outcome


# -------------------------------------------------------------- properties


def _engine_vjp(target: FunctionTarget, point: Point) -> tuple[np.ndarray, ...]:
    return call_vjp(target.engine, target.fn, point.inputs, point.cotangent, target.names)


def _engine_jvp(target: FunctionTarget, point: Point) -> np.ndarray:
    return call_jvp(target.engine, target.fn, point.inputs, point.tangents, target.names, target.out_shape)


class NotDifferentiableHere(Exception):
    """The function has no finite derivative at this point (outside its domain, or an infinite slope): not checked."""


def outside_domain(target: FunctionTarget, point: Point) -> bool:
    """Whether the float64 forward is not finite at the point (log at 0): outside the function's domain."""
    if target.forward is None:
        return False
    with np.errstate(all="ignore"):
        value = np.asarray(target.forward(*_float64(point.inputs)), dtype=np.float64)
    return not bool(np.all(np.isfinite(value)))


def _non_finite(target: FunctionTarget, point: Point, error: ContractViolation) -> Outcome:
    """A non-finite engine result is a failure, unless the reference has no finite derivative there either (√x at 0)."""
    if error.diagnosis.kind == "non_finite":
        jacobians = target.jacobians(_float64(point.inputs))
        if any(not (np.all(np.isfinite(j.value)) and np.all(np.isfinite(j.error))) for j in jacobians):
            raise NotDifferentiableHere(error.diagnosis.summary)
    return _violation(error)


def check_vjp(target: FunctionTarget, point: Point) -> Outcome:
    """uᵀJ from the engine matches the reference within the rounding bound (at a kink: lies between the one-sided derivatives)."""
    try:
        values = _engine_vjp(target, point)
    except ContractViolation as error:
        return _non_finite(target, point, error)
    return vjp_outcome(target, point.inputs, point.cotangent, values)


def check_jvp(target: FunctionTarget, point: Point) -> Outcome:
    """J v from the engine matches the reference within the rounding bound (at a kink: between the one-sided derivatives along v)."""
    try:
        value = _engine_jvp(target, point)
    except ContractViolation as error:
        return _non_finite(target, point, error)
    return jvp_outcome(target, point.inputs, point.tangents, value)


def check_adjoint(target: FunctionTarget, point: Point) -> Outcome:
    """⟨u, J v⟩ from the engine's JVP equals ⟨Jᵀu, v⟩ from its VJP; a mismatch says which mode matches the reference."""
    try:
        pulled = _engine_vjp(target, point)
        pushed = _engine_jvp(target, point)
    except ContractViolation as error:
        return _violation(error)
    u = np.asarray(point.cotangent, dtype=np.float64).ravel()
    v = np.concatenate([np.asarray(t, dtype=np.float64).ravel() for t in point.tangents])
    left = float(u @ np.asarray(pushed, dtype=np.float64).ravel())
    right = float(np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in pulled]) @ v)
    jacobians = target.jacobians(_float64(point.inputs))
    dense = np.concatenate([j.value for j in jacobians], axis=1)
    scale = float(np.abs(u) @ np.abs(dense) @ np.abs(v))
    ops = target.ops + u.size + v.size + 1
    expected = Expected(np.array([right]), np.array([2 * (u.size + v.size) * FLOAT64_U * scale]), np.array([scale]), ops)
    outcome = compare(target, np.array([left]), expected, f"⟨u, J v⟩ = {left!r} (engine JVP) but ⟨Jᵀu, v⟩ = {right!r} (engine VJP)")
    if outcome.passed:
        return outcome
    vjp_ok = vjp_outcome(target, point.inputs, point.cotangent, pulled).passed
    jvp_ok = jvp_outcome(target, point.inputs, point.tangents, pushed).passed
    if vjp_ok and jvp_ok:  # each mode picks a valid subgradient at a kink; the adjoint identity needs differentiability
        return Outcome(True, message="VJP and JVP each lie in the subdifferential; they pick different subgradients")
    evidence = {(True, False): "the VJP matches the reference, the JVP does not: the forward-mode rule is wrong",
                (False, True): "the JVP matches the reference, the VJP does not: the reverse-mode rule is wrong",
                (False, False): "neither the VJP nor the JVP matches the reference"}[(vjp_ok, jvp_ok)]
    outcome.message += f"; mode evidence: {evidence}"
    if outcome.diagnosis is not None:
        outcome.diagnosis.details.update({"vjp_matches_reference": vjp_ok, "jvp_matches_reference": jvp_ok, "evidence": evidence})
    return outcome


def check_shape_dtype(target: FunctionTarget, point: Point) -> Outcome:
    """The VJP gives one array per input with its shape and dtype; the JVP has the output's shape and the inputs' dtype."""
    try:
        _engine_vjp(target, point)
        if target.forward_mode:
            _engine_jvp(target, point)
    except ContractViolation as error:
        return _violation(error)
    return Outcome(True)


def check_deterministic(target: FunctionTarget, point: Point) -> Outcome:
    """Two identical VJP calls give bitwise identical results."""
    try:
        first, second = _engine_vjp(target, point), _engine_vjp(target, point)
    except ContractViolation as error:
        return _violation(error)
    for name, a, b in zip(target.names, first, second, strict=True):
        if not np.array_equal(a, b):
            k = int(np.argmax(np.ravel(a != b)))
            diagnosis = Diagnosis("nondeterministic", f"two identical calls differ in the gradient of {name!r} at flat index {k}: "
                                  f"{float(np.ravel(a)[k])!r} then {float(np.ravel(b)[k])!r}", index=[k],
                                  reference=float(np.ravel(a)[k]), engine=float(np.ravel(b)[k]))
            return Outcome(False, f"nondeterministic: {diagnosis.summary}", float("inf"), float("inf"), diagnosis)
    return Outcome(True)


def check_mutated_inputs(target: FunctionTarget, point: Point) -> Outcome:
    """Evaluating and differentiating leave the caller's arrays (inputs and probes) as they were."""
    try:
        _engine_vjp(target, point)
        if target.forward_mode:
            _engine_jvp(target, point)
    except ContractViolation as error:
        return _violation(error)
    evaluate = getattr(target.engine, "evaluate", None)
    if evaluate is not None:
        before = _snapshot(point.inputs)
        try:
            evaluate(target.fn, point.inputs)
        except Exception as error:
            diagnosis = Diagnosis("engine_raised", f"{target.engine.name}.evaluate raised {type(error).__name__}: {error}")
            return Outcome(False, f"engine_raised: {diagnosis.summary}", float("inf"), float("inf"), diagnosis)
        for name, old, new in zip(target.names, before, point.inputs, strict=True):
            if not np.array_equal(old, new, equal_nan=True):
                diagnosis = Diagnosis("mutated_input", f"{target.engine.name}.evaluate modified its input {name!r} in place")
                return Outcome(False, f"mutated_input: {diagnosis.summary}", float("inf"), float("inf"), diagnosis)
    return Outcome(True)


def _gradient_function(target: FunctionTarget) -> Callable[..., np.ndarray]:
    """x ↦ ∇f(x) in float64, all inputs' gradients end to end: the closed form's or other engine's where one is given,
    else the engine's own VJP (itself checked against the forward by ``vjp``): the HVP must be its derivative."""
    reference = target.reference
    if not isinstance(reference, FiniteDifferenceReference):
        return lambda *xs: np.concatenate([j.value.ravel() for j in reference.jacobians(tuple(np.asarray(x) for x in xs))])
    one = np.ones(target.out_shape)
    return lambda *xs: np.concatenate([np.asarray(g, dtype=np.float64).ravel()
                                       for g in target.engine.vjp(target.fn, tuple(np.asarray(x) for x in xs), one)])


def check_hvp(target: FunctionTarget, point: Point) -> Outcome:
    """H v from the engine (a scalar function's Hessian-vector product) is the derivative of the gradient along v."""
    where = f"{target.engine.name}.hvp"
    try:
        # The VJP's and JVP's guard: a raise is engine_raised (retried in float32 on float16 and bfloat16 inputs,
        # so that a missing rule is no dtype skip), a write into an input is mutated_input.
        result = _guarded_call(target.engine, "hvp", target.fn, point.inputs, point.tangents, target.names,
                               tuple(f"vector for {n}" for n in target.names))
        if not isinstance(result, tuple) or len(result) != len(point.inputs):
            raise ContractViolation(Diagnosis("bad_return", f"{where} returned {type(result).__name__}, not one array per input"))
        values = [_check_array(v, f"{where}[{n}]", x.shape, x.dtype, None, None)
                  for v, n, x in zip(result, target.names, point.inputs, strict=True)]
    except ContractViolation as error:
        return _violation(error)
    primals, v = _float64(point.inputs), _float64(point.tangents)
    gradient = _gradient_function(target)
    hessians = [FiniteDifferences().jacobian(gradient, primals, k) for k in range(len(primals))]
    value = sum((np.asarray(h, dtype=np.float64) @ t.ravel() for h, t in zip(hessians, v, strict=True)), 0.0)
    magnitude = sum((np.abs(np.asarray(h, dtype=np.float64)) @ np.abs(t.ravel()) for h, t in zip(hessians, v, strict=True)), 0.0)
    estimate = sum((np.asarray(error_estimate(h), dtype=np.float64) @ np.abs(t.ravel()) for h, t in zip(hessians, v, strict=True)), 0.0)
    size = sum(t.size for t in v)
    expected = Expected(np.asarray(value), np.asarray(estimate), np.asarray(magnitude), target.ops + size + 1)
    return compare(target, np.concatenate([x.astype(np.float64).ravel() for x in values]), expected, "HVP")


def aliasable_pairs(inputs: tuple[np.ndarray, ...]) -> list[tuple[int, int]]:
    """Pairs of inputs of one shape: one array may be passed as both."""
    return [(i, j) for i in range(len(inputs)) for j in range(i + 1, len(inputs)) if inputs[i].shape == inputs[j].shape]


def check_aliased(target: FunctionTarget, point: Point) -> Outcome:
    """One array passed as two inputs: the two gradients add up to the total derivative."""
    outcomes = []
    for first, second in aliasable_pairs(point.inputs):
        shared = point.inputs[first]
        inputs = tuple(shared if k == second else x for k, x in enumerate(point.inputs))
        try:
            values = call_vjp(target.engine, target.fn, inputs, point.cotangent, target.names)
        except ContractViolation as error:
            return _violation(error)
        reference = target.aliased_reference(first, second) if target.aliased_reference else None
        outcome = vjp_outcome(target, inputs, point.cotangent, values, reference, combine=(first, second))
        if not outcome.passed:
            _shares_must_add_up(target, inputs, point.cotangent, values, outcome)
            outcome.message = f"{target.names[first]!r} and {target.names[second]!r} one array: {outcome.message}"
            return outcome
        outcomes.append(outcome)
    return _worst(outcomes) if outcomes else Outcome(True)


def _shares_must_add_up(target: FunctionTarget, inputs: tuple[np.ndarray, ...], cotangent: np.ndarray,
                        values: tuple[np.ndarray, ...], outcome: Outcome) -> None:
    """Each partial a valid subgradient, the sum not the total derivative: the shares at the tie do not add up to 1."""
    d = outcome.diagnosis
    if d is None or d.kind in ("missing_term", "double_counted") or target.forward is None:
        return
    if vjp_outcome(target, inputs, cotangent, values).passed:
        outcome.diagnosis = Diagnosis(
            "outside_subdifferential",
            f"each partial lies in its own subdifferential, but they add up to {d.engine!r} where the total derivative "
            f"is {d.reference!r}: at a tie the subgradient shares (t, 1 - t) must add up to 1",
            index=d.index, reference=d.reference, engine=d.engine,
        )
        outcome.message = f"outside_subdifferential: {outcome.diagnosis.summary}"


@dataclass(frozen=True)
class FunctionProperty:
    """One row of the property table for functions: the check, and which probes its points draw."""

    name: str
    check: Callable[[FunctionTarget, Point], Outcome]
    cotangent: bool
    tangents: bool
    forward_mode: bool  # needs the engine's JVP
    description: str


FUNCTION_PROPERTIES: dict[str, FunctionProperty] = {
    p.name: p
    for p in (
        FunctionProperty("vjp", check_vjp, True, False, False, "engine VJP matches the reference within the rounding bound"),
        FunctionProperty("jvp", check_jvp, False, True, True, "engine JVP matches the reference within the rounding bound"),
        FunctionProperty("adjoint", check_adjoint, True, True, True, "⟨u, J v⟩ (JVP) = ⟨Jᵀu, v⟩ (VJP)"),
        FunctionProperty("shape_dtype", check_shape_dtype, True, True, False, "gradients keep each input's shape and dtype"),
        FunctionProperty("deterministic", check_deterministic, True, False, False, "identical calls give identical results"),
        FunctionProperty("mutated_inputs", check_mutated_inputs, True, True, False, "the caller's arrays are left unchanged"),
        FunctionProperty("aliased", check_aliased, True, False, False, "one array as two inputs: the gradients add up"),
        FunctionProperty("hvp", check_hvp, False, True, False, "H v of a scalar function is the derivative of its gradient along v"),
    )
}


# ------------------------------------------------------------------ driver


class _Falsified(Exception):
    def __init__(self, outcome: Outcome, point: Point) -> None:
        super().__init__(outcome.message)
        self.outcome, self.point = outcome, point


def custom_function_class(fn: Callable[..., Any]) -> type | None:
    """The class of a ``torch.autograd.Function``-style rule passed as ``MyRule.apply``, else None."""
    owner = getattr(fn, "__self__", None)
    return owner if inspect.isclass(owner) and hasattr(owner, "forward") and hasattr(owner, "backward") else None


def function_name(fn: Callable[..., Any]) -> str:
    """A readable name for ids: a custom Function's class, else the function's name (qualified for methods)."""
    owner = custom_function_class(fn)
    if owner is not None:
        return f"{owner.__qualname__}.{getattr(fn, '__name__', 'apply')}"
    qualname = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__)
    return getattr(fn, "__name__", qualname) if qualname.startswith("_") else qualname  # torch.log: "log"


def _hypothesis_test(target: FunctionTarget, prop: FunctionProperty, user_inputs: tuple[np.ndarray, ...],
                     domains: list[Box | None], examples: int, seed: int, outcomes: list[Outcome]) -> Callable[[], None]:
    strategy = points(user_inputs, target.dtype, domains, target.out_shape, prop.cotangent, prop.tangents)

    def body(point: Point) -> None:
        if outside_domain(target, point):
            reject()
        try:
            outcome = prop.check(target, point)
        except NotDifferentiableHere:
            reject()
        outcomes.append(outcome)
        if not outcome.passed:
            raise _Falsified(outcome, point)

    # examples=0: the user's inputs only (hypothesis then runs its explicit examples alone).
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink] if examples else [Phase.explicit]
    test = settings(
        max_examples=max(examples, 1), database=None, deadline=None, print_blob=False,
        suppress_health_check=list(HealthCheck), phases=phases,
    )(given(strategy)(example(user_point(user_inputs, target.dtype, target.out_shape))(body)))
    test._hypothesis_internal_database_key = None
    return hypothesis_seed(seed)(test)


def run_property(target: FunctionTarget, prop: FunctionProperty, user_inputs: tuple[np.ndarray, ...], domains: list[Box | None],
                 examples: int, seed: int, reproduction: Callable[[Point, str], str]) -> Verdict:
    """Drive one property with hypothesis (the user's inputs first) and return its verdict."""
    name = function_name(target.fn)
    verdict = new_verdict(prop.name, name, "all", str(target.engine.name), str(target.dtype), target.mode)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    try:
        _hypothesis_test(target, prop, user_inputs, domains, examples, seed, outcomes)()
    except _Falsified as failure:
        _fail(verdict, failure.outcome, failure.point, target, reproduction(failure.point, prop.name))
    except Flaky as error:
        failed_verdict(verdict, Diagnosis("nondeterministic", f"a failure did not reproduce when re-run: {type(error).__name__}"))
    verdict.seconds = time.perf_counter() - started
    summarize(verdict, outcomes)
    return verdict


def skipped(prop: str, name: str, engine: str, dtype: str, reason: str, mode: str) -> Verdict:
    """A property that cannot run here (no forward mode, no aliasable pair, an unsupported dtype), with the reason."""
    return skipped_verdict(new_verdict(prop, name, "all", engine, dtype, mode), reason)


def _fail(verdict: Verdict, outcome: Outcome, point: Point, target: FunctionTarget, reproduction: str) -> None:
    record_failure(verdict, outcome)
    verdict.counterexample = {
        "inputs": {n: np.asarray(v).tolist() for n, v in zip(target.names, point.inputs, strict=True)},
        "dtype": str(target.dtype),
        "pattern": point.pattern,
        "cotangent": np.asarray(point.cotangent).tolist(),
        "tangents": {n: np.asarray(t).tolist() for n, t in zip(target.names, point.tangents, strict=True)},
    }
    verdict.reproduction = reproduction
