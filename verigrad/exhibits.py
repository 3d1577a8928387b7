"""What the report shows of a run, computed while the run happens and stored in its records.

The report renders from records alone (and the static reference), so everything
that needs an engine is computed here, by the check:

- :func:`jacobian_exhibit`: for a failing check, the reference's and the engine's
  full Jacobians at the counterexample (the engine's from VJPs with basis
  cotangents), when they are small enough to draw; stored in the verdict's
  ``evidence["jacobian"]``.  It runs under what is left of the check's time limit.
- :func:`fd_step_scan`: the error of plain central differences against the step,
  with the fd engine's chosen step; stored in the run header (``fd_steps``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from verigrad import truth
from verigrad.calls import CheckTimeout, ContractViolation, call_vjp, time_limit
from verigrad.oracles.fd import FiniteDifferences
from verigrad.reference import Case, get_case

__all__ = ["MAX_COLS", "MAX_ROWS", "fd_step_scan", "jacobian_exhibit"]

#: Largest Jacobian drawn as a heat map (outputs × argument elements).
MAX_ROWS = 12
MAX_COLS = 16
#: The point and steps of the finite-difference step scan.
FD_CASE = "scalar.chain"
FD_POINT = 1.3
FD_STEPS = tuple(float(h) for h in np.logspace(-14, -1, 27))
#: Seed of the generic point where a Jacobian that is all zeros at the counterexample is drawn instead.
GENERIC_POINT_SEED = 20240531


def _not_drawn(note: str) -> dict[str, Any]:
    return {"reference": None, "engine": None, "note": note}


def _generic_values(case: Case, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Deterministic inputs of the same shapes away from zero (a shrunk counterexample is often all zeros)."""
    rng = np.random.default_rng(GENERIC_POINT_SEED)
    out = {}
    for arg in case.args:
        value = values[arg.name]
        magnitude = rng.uniform(0.5, 2.0, size=np.shape(value))
        sign = np.where(rng.random(size=np.shape(value)) < 0.5, -1.0, 1.0)
        out[arg.name] = np.asarray(np.round(sign * magnitude, 2), dtype=np.asarray(value).dtype)
    return out


def _engine_jacobian(
    engine: Any, fn: Callable[..., Any], case: Case, arg: str, values: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Rows eᵢᵀJ from the engine's VJP with basis cotangents (a :class:`ContractViolation` if it misbehaves)."""
    names = case.arg_names
    out = truth.out_shape(case, values)
    dtype = np.asarray(values[arg]).dtype
    size = int(np.prod(out))
    rows = []
    for i in range(size):
        basis = np.zeros(size, dtype=dtype)
        basis[i] = 1
        primals = tuple(np.array(values[name], copy=True) for name in names)
        rows.append(np.ravel(call_vjp(engine, fn, primals, basis.reshape(out), names)[names.index(arg)]))
    return np.array(rows, dtype=np.float64).reshape(size, -1)


def jacobian_exhibit(
    case: Case,
    arg: str | None,
    engine: Any,
    fn: Callable[..., Any],
    values: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    share: float | None,
    *,
    at_kink: bool = False,
    engine_jacobian: Any = None,
    seconds: float | None = None,
) -> dict[str, Any] | None:
    """Reference and engine Jacobians of ``arg`` at a failing example, as JSON data; None if nothing applies.

    ``share`` is the subgradient share t the check fitted (clipped to [0, 1]);
    ``engine_jacobian`` one the check already has (the structure property's).
    When the Jacobian is all zeros there (shrinking often ends at zeros) and the
    check is not about a kink, both are drawn at a generic point of the same
    shapes, which the note gives.  ``seconds`` is the time left of the check's limit.
    """
    if arg is None or arg not in case.partials:
        return None
    t = 0.0 if share is None or not np.isfinite(share) else float(min(max(share, 0.0), 1.0))
    reference = truth.jacobian(case, arg, values, params, t).dense()
    if reference.shape[0] > MAX_ROWS or reference.shape[1] > MAX_COLS:
        return _not_drawn(f"the Jacobian ({reference.shape[0]}×{reference.shape[1]}) is too large to draw")
    if engine_jacobian is not None:
        engine_matrix = np.asarray(engine_jacobian, dtype=np.float64).reshape(reference.shape)
        if np.any(reference) or np.any(engine_matrix):
            return {"reference": reference.tolist(), "engine": engine_matrix.tolist(), "note": ""}
    note = ""
    if not np.any(reference) and not at_kink:
        values = _generic_values(case, values)
        reference = truth.jacobian(case, arg, values, params, t).dense()
        note = ("the Jacobian at the shrunk counterexample is all zeros, so both are drawn at a generic point of the "
                "same shapes: " + ", ".join(f"{k} = {np.asarray(v, dtype=np.float64).round(6).tolist()}" for k, v in values.items()))
    if seconds is not None and seconds <= 0:
        return _not_drawn("the check's time limit was spent before the engine's Jacobian could be computed")
    try:
        with time_limit(seconds):
            engine_matrix = _engine_jacobian(engine, fn, case, arg, values)
    except CheckTimeout:
        return _not_drawn("the engine's basis VJPs did not finish within the check's time limit")
    except ContractViolation as error:
        return _not_drawn(f"the engine's basis VJPs failed ({error.diagnosis.kind}: {error.diagnosis.summary})")
    if engine_matrix.shape != reference.shape:
        return _not_drawn(f"the engine's Jacobian has shape {engine_matrix.shape}, not {reference.shape}")
    return {"reference": reference.tolist(), "engine": engine_matrix.tolist(), "note": note}


def seconds_left(timeout: float | None, started: float) -> float | None:
    """What is left of a ``timeout`` started at ``started`` (``time.perf_counter``); None: no limit."""
    return None if timeout is None else timeout - (time.perf_counter() - started)


def fd_step_scan() -> dict[str, Any]:
    """Error of plain central differences of sin(x²) at x = 1.3 against the step, and the fd engine's choice.

    ``steps``/``errors`` draw the V-shaped curve; ``chosen`` is the step the fd
    engine picks, ``chosen_error`` the plain central difference's error there and
    ``engine_error`` the error of the engine's own (extrapolated) result.
    """
    case = get_case(FD_CASE)
    exact = float(truth.reference_jvp(case, "x", (np.asarray(FD_POINT),), np.asarray(1.0)))
    fd = FiniteDifferences()
    fn = case.bind(fd.xp)
    primals, tangents = (np.asarray(FD_POINT, dtype=np.float64),), (np.asarray(1.0, dtype=np.float64),)
    scan = fd.step_scan(fn, primals, tangents, list(FD_STEPS))
    chosen = float(fd.chosen_step(fn, primals, tangents))
    plain = case.bind(np)
    x = np.asarray(FD_POINT)
    return {
        "case": FD_CASE,
        "x": FD_POINT,
        "exact": exact,
        "steps": [h for h, _ in scan],
        "errors": [abs(float(np.ravel(value)[0]) - exact) for _, value in scan],
        "chosen": chosen,
        "chosen_error": abs(float((plain(x + chosen) - plain(x - chosen)) / (2 * chosen)) - exact),
        "engine_error": abs(float(np.ravel(fd.jvp(fn, primals, tangents))[0]) - exact),
        "source": "the fd engine's step_scan (plain central differences)",
    }
