"""The floating-point formats verigrad checks, by name, and what low precision changes.

numpy has no bfloat16: it crosses the protocol as ``ml_dtypes.bfloat16`` (the
library JAX itself uses), whose import registers the name with numpy.  That
import costs about a second of CPU, so it is made on first use: every name
becomes a dtype through :func:`as_dtype` (or the validating :func:`numpy_dtype`),
which imports ml_dtypes the first time "bfloat16" is asked for.

=========  ==========  =====================  ===============================
format     u = ε/2     largest exact integer  inputs drawn in
=========  ==========  =====================  ===============================
float64    2⁻⁵³        2⁵³                    ±8
float32    2⁻²⁴        2²⁴                    ±8
bfloat16   2⁻⁸         2⁸ = 256               ±8 (float32's exponent range)
float16    2⁻¹¹        2¹¹ = 2048             ±2: 2⁸ = 256 and 8·2⁷ = 1024
                                              stay far below 65504, the
                                              largest float16, for the
                                              catalog's x⁸ (±4 would overflow)
=========  ==========  =====================  ===============================
"""

from __future__ import annotations

import functools
import traceback
from typing import Any

import numpy as np

#: The dtypes a run checks unless told otherwise.
DEFAULT_DTYPES = ("float64", "float32")
#: Half-width formats: bounds from their own unit roundoff; an engine raising on them is skipped.
LOW_PRECISION = ("float16", "bfloat16")
KNOWN_DTYPES = (*DEFAULT_DTYPES, *LOW_PRECISION)

#: Inputs lie in [-bound, bound] for each dtype (see the module docstring).
VALUE_BOUNDS: dict[str, float] = {"float64": 8.0, "float32": 8.0, "bfloat16": 8.0, "float16": 2.0}

@functools.cache
def bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16, imported (and registered with numpy as "bfloat16") on the first call."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def as_dtype(dtype: Any) -> np.dtype:
    """``np.dtype(dtype)``, where the name "bfloat16" works before anything imported ml_dtypes."""
    return bfloat16() if isinstance(dtype, str) and dtype == "bfloat16" else np.dtype(dtype)


def finfo(dtype: Any) -> Any:
    """Machine limits of a floating format, bfloat16 included (``ml_dtypes.finfo``; numpy's does not know it)."""
    dtype = as_dtype(dtype)
    if dtype.name != "bfloat16":
        return np.finfo(dtype)
    import ml_dtypes

    return ml_dtypes.finfo(dtype)


def numpy_dtype(name: str | np.dtype | type) -> np.dtype:
    """The numpy dtype of a known format name; a ValueError naming the known ones otherwise."""
    if str(as_dtype(name) if not isinstance(name, str) else name) not in KNOWN_DTYPES:
        raise ValueError(f"unknown dtype {str(name)!r}; use one of {', '.join(KNOWN_DTYPES)}")
    return as_dtype(str(name))


def is_floating(dtype: Any) -> bool:
    """numpy floating dtypes and ml_dtypes' bfloat16 (whose numpy kind is 'V')."""
    dtype = as_dtype(dtype)
    return dtype.kind == "f" or dtype.name == "bfloat16"


def value_bound(dtype: Any) -> float:
    """The magnitude bound of drawn inputs in ``dtype`` (see the module docstring)."""
    return VALUE_BOUNDS.get(str(as_dtype(dtype)), VALUE_BOUNDS["float64"])


def raising_operation(error: BaseException) -> str:
    """Where an engine raised: the primal's line that called into the engine, and the
    innermost library function, e.g. "``xp.sin(x)`` (cases.py:87) -> sin_backward".
    """
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown operation"
    innermost = frames[-1]
    primal = next((f for f in reversed(frames) if "/reference/" in f.filename.replace("\\", "/")), None)
    library = f"{innermost.name} ({innermost.filename.rsplit('/', 1)[-1]}:{innermost.lineno})"
    if primal is None or primal is innermost:
        return library
    where = primal.filename.rsplit("/", 1)[-1]
    return f"`{(primal.line or '').strip()}` ({where}:{primal.lineno}) -> {library}"


def skip_if_unsupported(verdict: Any) -> None:
    """A check that failed because the engine raised on a low-precision dtype becomes a skip naming
    the operation that raised: the engine does not support that dtype there, which is no wrong gradient.
    Unless the same call raised in float32 too (``raises_in_float32``): then the dtype is not the reason.
    """
    from verigrad.records import SKIP

    diagnosis = verdict.diagnosis or {}
    details = diagnosis.get("details") or {}
    if verdict.dtype not in LOW_PRECISION or diagnosis.get("kind") != "engine_raised" or details.get("raises_in_float32"):
        return
    operation = details.get("operation", "unknown operation")
    verdict.status = SKIP
    verdict.message = f"{verdict.engine} does not support {verdict.dtype} in {operation}: {details.get('message', verdict.message)}"
