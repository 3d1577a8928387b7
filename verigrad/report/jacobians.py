"""Full Jacobians at a failing check's counterexample: reference, engine, difference.

The reference comes from the case's closed form (:func:`verigrad.truth.jacobian`).
The engine's is built row by row from its VJP with basis cotangents, but only
when the engine is at hand (:class:`EngineProvider`): passed in by the caller, or
quick to load by name, within a small time budget (importing a framework takes
seconds; the report must not).  Otherwise the page shows the failing probe
vectors (the verdict's evidence).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from verigrad.records import Verdict

__all__ = ["EngineProvider", "JacobianView", "failing_jacobian"]

#: Largest Jacobian drawn as a heatmap (outputs × argument elements).
MAX_ROWS = 12
MAX_COLS = 16
#: Seconds one engine's basis VJPs may take.
ENGINE_CALL_LIMIT = 2.0


def _module_of(name: str) -> str | None:
    """The module an engine name loads from (built-in short name or ``module:attribute``)."""
    try:
        from verigrad.oracles.registry import BUILTIN_ENGINES
    except Exception:
        BUILTIN_ENGINES = {}
    target = BUILTIN_ENGINES.get(name, name)
    module, colon, _ = target.partition(":")
    return module if colon and module else None


class EngineProvider:
    """Engines by name, for drawing their full Jacobians; loading and the basis VJPs share one time budget.

    The caller's engines are used as given.  Others are loaded by name with
    :func:`oracles.load_engine` only when that is quick: their module is already
    imported in this process (as after ``verigrad check``).  Importing a framework
    takes seconds, and an import cannot be abandoned half-way, so it happens only
    with ``import_engines=True`` (in a thread, waited for within the budget).
    When the budget is spent, :meth:`get` answers None and the page falls back to
    the probe vectors.
    """

    def __init__(self, engines: Mapping[str, Any] | None = None, budget_s: float = 1.0, import_engines: bool = False) -> None:
        self._engines: dict[str, Any] = dict(engines or {})
        self._failed: set[str] = set()
        self.budget_s = max(0.0, float(budget_s))
        self.import_engines = import_engines
        self.notes: dict[str, str] = {}

    def spend(self, seconds: float) -> None:
        self.budget_s = max(0.0, self.budget_s - seconds)

    def get(self, name: str) -> Any | None:
        if name in self._engines:
            if self.budget_s <= 0:
                self.notes[name] = "not asked (the report's time budget for engine Jacobians is spent)"
                return None
            return self._engines[name]
        if name in self._failed:
            return None
        if self.budget_s <= 0:
            self._failed.add(name)
            self.notes[name] = "not loaded (the report's time budget for engine Jacobians is spent)"
            return None
        module = _module_of(name)
        if module is None:
            self._failed.add(name)
            self.notes[name] = "cannot be loaded by name"
            return None
        if module in sys.modules:
            return self._load_now(name)
        if not self.import_engines:
            self._failed.add(name)
            self.notes[name] = f"not loaded (its module {module} is not imported in this process)"
            return None
        return self._load_in_thread(name)

    def _load_now(self, name: str) -> Any | None:
        started = time.perf_counter()
        try:
            from verigrad.oracles import load_engine

            engine = load_engine(name)
        except Exception as error:  # any failure just means: show the probes instead
            self._failed.add(name)
            self.notes[name] = f"could not be loaded ({type(error).__name__}: {error})"
            return None
        finally:
            self.spend(time.perf_counter() - started)
        self._engines[name] = engine
        return engine

    def _load_in_thread(self, name: str) -> Any | None:
        result: dict[str, Any] = {}

        def load() -> None:
            try:
                from verigrad.oracles import load_engine

                result["engine"] = load_engine(name)
            except BaseException as error:  # any failure just means: show the probes instead
                result["error"] = f"{type(error).__name__}: {error}"

        started = time.perf_counter()
        thread = threading.Thread(target=load, name=f"verigrad-report-load-{name}", daemon=True)
        thread.start()
        thread.join(self.budget_s)
        self.spend(time.perf_counter() - started)
        if thread.is_alive() or "engine" not in result:
            self._failed.add(name)
            self.notes[name] = "loading took too long" if thread.is_alive() else f"could not be loaded ({result.get('error')})"
            if thread.is_alive():
                self.budget_s = 0.0
            return None
        self._engines[name] = result["engine"]
        return result["engine"]


@dataclass
class JacobianView:
    """What the page shows for one failing (case, argument, engine, dtype)."""

    kind: str  # "jacobian" (full matrices) or "probe" (the failing probe vectors)
    reference: np.ndarray
    engine: np.ndarray
    note: str = ""

    @property
    def difference(self) -> np.ndarray:
        return self.engine - self.reference


def _values(case: Any, counterexample: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any], np.dtype]:
    dtype = np.dtype(counterexample.get("dtype") or "float64")
    inputs = counterexample["inputs"]
    values = {name: np.asarray(inputs[name], dtype=dtype) for name in case.arg_names}
    return values, dict(counterexample.get("params") or {}), dtype


def _generic_values(case: Any, values: dict[str, np.ndarray], dtype: np.dtype) -> dict[str, np.ndarray]:
    """Deterministic inputs of the same shapes away from zero (a shrunk counterexample is often all zeros)."""
    rng = np.random.default_rng(20240531)
    out = {}
    for arg in case.args:
        shape = np.shape(values[arg.name])
        magnitude = rng.uniform(0.5, 2.0, size=shape)
        sign = np.where(rng.random(size=shape) < 0.5, -1.0, 1.0)
        out[arg.name] = np.asarray(np.round(sign * magnitude, 2), dtype=dtype)
    return out


def _share(verdict: Verdict) -> float:
    t = verdict.convention
    return 0.0 if t is None or not np.isfinite(t) else float(min(max(t, 0.0), 1.0))


def _engine_jacobian(engine: Any, case: Any, arg: str, values: dict[str, np.ndarray], params: dict[str, Any],
                     dtype: np.dtype, out_shape: tuple[int, ...], limit: float) -> tuple[np.ndarray, str]:
    """Rows eᵢᵀJ from the engine's VJP with basis cotangents, and a note when their shape is wrong."""
    from verigrad.calls import time_limit

    fn = case.bind(engine.xp, **params)
    primals = tuple(values[name] for name in case.arg_names)
    index = case.arg_names.index(arg)
    size = int(np.prod(out_shape))
    rows = []
    note = ""
    with time_limit(limit):
        for i in range(size):
            basis = np.zeros(size, dtype=dtype)
            basis[i] = 1
            result = engine.vjp(fn, tuple(np.array(p, copy=True) for p in primals), basis.reshape(out_shape))
            row = np.asarray(result[index], dtype=np.float64)
            if row.shape != np.shape(values[arg]) and not note:
                note = f"the engine's VJP for {arg} has shape {row.shape}, not {np.shape(values[arg])} (entries drawn in its order)"
            rows.append(np.ravel(row))
    matrix = np.array(rows, dtype=np.float64)
    return matrix.reshape(size, -1), note


def _probe(verdict: Verdict, note: str) -> JacobianView | None:
    evidence = verdict.evidence or {}
    if "engine" not in evidence or "reference" not in evidence:
        return None
    try:
        engine = np.ravel(np.asarray(evidence["engine"], dtype=np.float64))
        reference = np.ravel(np.asarray(evidence["reference"], dtype=np.float64))
    except (TypeError, ValueError):
        return None
    if engine.shape != reference.shape or engine.size == 0 or engine.size > 64:
        return None
    return JacobianView("probe", reference[None, :], engine[None, :], note)


def failing_jacobian(verdict: Verdict, case: Any, engines: EngineProvider) -> JacobianView | None:
    """Reference and engine Jacobians at the counterexample (or the probe vectors); None if not small."""
    arg = verdict.arg
    if case is None or arg not in getattr(case, "partials", {}) or not verdict.counterexample:
        return _probe(verdict, "")
    try:
        from verigrad import truth

        values, params, dtype = _values(case, verdict.counterexample)
        reference = truth.jacobian(case, arg, values, params, _share(verdict)).dense()
        out_shape = truth.out_shape(case, values, params)
    except Exception:
        return _probe(verdict, "the reference Jacobian could not be evaluated at the counterexample")
    if reference.shape[0] > MAX_ROWS or reference.shape[1] > MAX_COLS:
        return _probe(verdict, f"the Jacobian ({reference.shape[0]}×{reference.shape[1]}) is too large to draw")
    evidence = verdict.evidence or {}
    if "engine_jacobian" in evidence:  # the structure property records the engine's whole Jacobian
        try:
            engine_matrix = np.asarray(evidence["engine_jacobian"], dtype=np.float64).reshape(reference.shape)
            if np.any(reference) or np.any(engine_matrix):
                return JacobianView("jacobian", reference, engine_matrix)
        except (TypeError, ValueError):
            pass
    note = ""
    if not np.any(reference) and verdict.property != "kink":
        # Shrinking often ends at all-zero inputs, where every Jacobian is zero and nothing shows.
        try:
            values = _generic_values(case, values, dtype)
            reference = truth.jacobian(case, arg, values, params, _share(verdict)).dense()
        except Exception:
            return _probe(verdict, "")
        note = ("the Jacobian at the shrunk counterexample is all zeros, so both are drawn at a generic point of the "
                "same shapes: " + ", ".join(f"{k} = {np.asarray(v, dtype=np.float64).round(6).tolist()}" for k, v in values.items()))
    engine = engines.get(verdict.engine)
    if engine is None:
        return _probe(verdict, f"engine {verdict.engine!r} {engines.notes.get(verdict.engine, 'not available')}: "
                               "showing the failing probe instead of the full Jacobian")
    started = time.perf_counter()
    try:
        limit = min(ENGINE_CALL_LIMIT, max(0.05, engines.budget_s))
        engine_matrix, shape_note = _engine_jacobian(engine, case, arg, values, params, dtype, out_shape, limit)
        engine_matrix = engine_matrix.reshape(reference.shape)
    except BaseException as error:  # the engine is broken: that is what the report is about
        if isinstance(error, KeyboardInterrupt):
            raise
        return _probe(verdict, f"the engine's basis VJPs failed ({type(error).__name__}): showing the failing probe")
    finally:
        engines.spend(time.perf_counter() - started)
    return JacobianView("jacobian", reference, engine_matrix, "; ".join(n for n in (shape_note, note) if n))
