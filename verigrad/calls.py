"""Calling an engine defensively: whatever it does, the harness gets a result or a diagnosis.

An engine may raise, return None or a list, the wrong shape or dtype, NaN, modify
its inputs, or hang; :func:`call_vjp` and :func:`call_jvp` turn each of these into
a :class:`ContractViolation` carrying a :class:`~verigrad.diagnosis.Diagnosis`.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from verigrad.diagnosis import Diagnosis, diagnose_shape
from verigrad.dtypes import LOW_PRECISION, is_floating, raising_operation
from verigrad.oracles.protocol import native_dtype


class ContractViolation(Exception):
    """The engine broke the protocol (or hung); ``diagnosis`` says how."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.summary)
        self.diagnosis = diagnosis


class CheckTimeout(BaseException):
    """Raised inside a check that ran past its time limit.

    A BaseException, so that neither the engine's own ``except Exception`` nor
    hypothesis's shrinking catches it: a hung engine aborts its check at once.
    """


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the enclosed code after ``seconds`` (main thread, POSIX; otherwise no limit)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise CheckTimeout(f"no result within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raised(where: str, error: BaseException) -> ContractViolation:
    if isinstance(error, CheckTimeout):
        return ContractViolation(Diagnosis("timeout", f"{where}: {error}"))
    frames = traceback.extract_tb(error.__traceback__)
    origin = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    message = f"{type(error).__name__}: {error}"
    details = {"message": message, "operation": raising_operation(error)}
    return ContractViolation(Diagnosis("engine_raised", f"{where} raised {message}{origin}", details=details))


def _as_array(value: Any, where: str) -> np.ndarray:
    if value is None:
        raise ContractViolation(Diagnosis("bad_return", f"{where} returned None instead of an array"))
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    raise ContractViolation(
        Diagnosis("bad_return", f"{where} returned a {type(value).__name__}, not a numpy array")
    )


def _direction(got: np.dtype, wanted: np.dtype) -> str:
    if is_floating(got) and is_floating(wanted) and got.itemsize != wanted.itemsize:
        return "upcast" if got.itemsize > wanted.itemsize else "downcast"
    return "changed"


def _check_array(
    value: Any,
    where: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    reference: np.ndarray | None,
    broadcast_shape: tuple[int, ...] | None,
    finite: bool = True,
    native: bool = False,
) -> np.ndarray:
    """``value`` as the protocol wants it (shape, dtype, finite) or a ContractViolation saying how it is not;
    ``native``: the library's own dtype too, where its adapter converted the result (:func:`in_dtype`)."""
    array = _as_array(value, where)
    if array.shape != tuple(shape):
        diagnosis = diagnose_shape(array, tuple(shape), reference, broadcast_shape)
        diagnosis.summary = f"{where}: {diagnosis.summary}"
        raise ContractViolation(diagnosis)
    if array.dtype != dtype:
        raise ContractViolation(
            Diagnosis("dtype_changed", f"{where}: dtype {array.dtype} instead of {dtype} ({_direction(array.dtype, dtype)})",
                      details={"got": str(array.dtype), "expected": str(dtype)})
        )
    library_dtype = native_dtype(array)
    if native and library_dtype is not None and library_dtype != dtype:
        raise ContractViolation(
            Diagnosis("dtype_changed", f"{where}: the library returned dtype {library_dtype} instead of {dtype} "
                      f"({_direction(library_dtype, dtype)}), which the adapter converted back",
                      details={"got": str(library_dtype), "expected": str(dtype), "converted_by_adapter": True})
        )
    if finite and not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))
        index = [int(i) for i in bad[0]] if array.ndim else []
        raise ContractViolation(
            Diagnosis("non_finite", f"{where}: {len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'} (first at {index})",
                      index=index, engine=float(array[tuple(index)]) if array.ndim else float(array))
        )
    return array


def _snapshot(arrays: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    return [np.array(a, copy=True) for a in arrays]


def _check_unmutated(before: list[np.ndarray], arrays: tuple[np.ndarray, ...], names: tuple[str, ...], where: str) -> None:
    for name, old, new in zip(names, before, arrays, strict=True):
        if not np.array_equal(old, new, equal_nan=True):
            # Put the caller's values back, so the counterexample shows the inputs the engine was given.
            for original, array in zip(before, arrays, strict=True):
                if isinstance(array, np.ndarray) and array.flags.writeable and array.shape == original.shape:
                    np.copyto(array, original)
            raise ContractViolation(Diagnosis("mutated_input", f"{where} modified its input {name!r} in place"))


def _raises_in_float32_too(
    error: Exception, engine: Any, method: str, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], probe: Any
) -> bool:
    """For a call that raised ``error`` on float16 or bfloat16 inputs: whether it raises alike in float32 too.

    Then what raised is not the format (a rule the engine lacks, say), and the check is no skip for an
    unsupported dtype (:func:`verigrad.dtypes.skip_if_unsupported`). Alike: the same exception type, since
    at a singular matrix autograd's det raises ``LinAlgError`` in float32 where float16 is a ``TypeError``
    (numpy's linalg has no float16). One more call, on a raise only.
    """
    if not primals or str(np.asarray(primals[0]).dtype) not in LOW_PRECISION:
        return False

    def wider(arrays: Any) -> Any:
        return np.asarray(arrays, dtype=np.float32) if isinstance(arrays, np.ndarray) else tuple(map(wider, arrays))

    try:
        getattr(engine, method)(fn, wider(primals), wider(probe))
    except Exception as again:  # a time-out (CheckTimeout) is no Exception: it ends the check as one
        return type(again) is type(error)
    return False


def _guarded_call(
    engine: Any,
    method: str,
    fn: Callable[..., Any],
    primals: tuple[np.ndarray, ...],
    probes: tuple[np.ndarray, ...],
    names: tuple[str, ...],
    probe_names: tuple[str, ...],
) -> Any:
    """``engine.<method>(fn, primals, probe)``: its exceptions and any writes into its inputs become violations."""
    where = f"{engine.name}.{method}"
    before, probes_before = _snapshot(primals), _snapshot(probes)
    probe = probes[0] if method == "vjp" else probes
    try:
        result = getattr(engine, method)(fn, primals, probe)
    except ContractViolation:
        raise
    except Exception as error:
        violation = _raised(where, error)
        if violation.diagnosis.kind == "engine_raised" and _raises_in_float32_too(error, engine, method, fn, primals, probe):
            violation.diagnosis.details["raises_in_float32"] = True
            violation.diagnosis.summary += " (in float32 too: not the format)"
        raise violation from error
    _check_unmutated(before, primals, names, where)
    _check_unmutated(probes_before, probes, probe_names, where)
    return result


def call_vjp(
    engine: Any,
    fn: Callable[..., Any],
    primals: tuple[np.ndarray, ...],
    cotangent: np.ndarray,
    names: tuple[str, ...],
    references: dict[str, np.ndarray] | None = None,
    broadcast_shape: tuple[int, ...] | None = None,
    judged: str | None = None,
    native: bool = False,
) -> tuple[np.ndarray, ...]:
    """``engine.vjp`` with every result validated; raises ContractViolation.

    ``judged``: the one primal whose gradient the caller compares; the others' need not be finite (at
    scale another argument's gradient may overflow in any engine: ∂(z·Σx)/∂z = Σx at 10⁵ equal x).
    ``native``: the library's own dtype must be the primal's too (the ``shape_dtype`` property).
    """
    result = _guarded_call(engine, "vjp", fn, primals, (cotangent,), names, ("cotangent",))
    if not isinstance(result, tuple | list) or isinstance(result, np.ndarray):
        kind = "None" if result is None else type(result).__name__
        raise ContractViolation(Diagnosis("bad_return", f"{engine.name}.vjp returned {kind}, not a tuple of arrays (one per primal)"))
    if isinstance(result, list):
        raise ContractViolation(Diagnosis("bad_return", f"{engine.name}.vjp returned a list, not a tuple"))
    if len(result) != len(primals):
        raise ContractViolation(
            Diagnosis("bad_return", f"{engine.name}.vjp returned {len(result)} arrays for {len(primals)} primals")
        )
    references = references or {}
    return tuple(
        _check_array(value, f"{engine.name}.vjp[{name}]", primal.shape, primal.dtype, references.get(name), broadcast_shape,
                     finite=judged is None or name == judged, native=native)
        for name, value, primal in zip(names, result, primals, strict=True)
    )


def call_jvp(
    engine: Any,
    fn: Callable[..., Any],
    primals: tuple[np.ndarray, ...],
    tangents: tuple[np.ndarray, ...],
    names: tuple[str, ...],
    out_shape: tuple[int, ...],
    reference: np.ndarray | None = None,
    native: bool = False,
) -> np.ndarray:
    """``engine.jvp`` with the result validated; raises ContractViolation (``native``: as for :func:`call_vjp`)."""
    result = _guarded_call(engine, "jvp", fn, primals, tangents, names, tuple(f"tangent of {n}" for n in names))
    return _check_array(result, f"{engine.name}.jvp", out_shape, primals[0].dtype, reference, None, native=native)
