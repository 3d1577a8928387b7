"""The Engine protocol: the whole interface between verigrad and anything that differentiates.

An engine knows no cases.  It is handed a function ``fn`` written against its
own array namespace ``xp`` and differentiates it, exactly as a user's adapter
would.

Primal vocabulary
-----------------
Every primal in the reference (and anything else written against ``xp``) uses
this vocabulary and nothing else, so an adapter's ``xp`` must provide it for
arrays of the engine's own type.  Where a library lacks a function, the adapter
composes it from its primitives (``oracles.namespaces`` has the stable forms).

==============================  ===================================================
operators                       ``a + b``, ``a - b``, ``a * b``, ``a / b`` with full
                                NumPy broadcasting (arrays of any two broadcastable
                                shapes, 0-d arrays, Python numbers on either side);
                                ``a ** k`` (k a Python int 0..8); ``-a``;
                                ``a @ b`` (matrix-matrix, matrix-vector,
                                vector-vector)
comparisons                     ``a > b``, ``a < b``, ``a >= b``, ``a <= b``,
                                ``a == b``: boolean arrays, usable as the condition
                                of ``xp.where`` and as 0/1 in ``*``; they carry no
                                derivative
attributes                      ``a.shape`` (a tuple of ints), ``a.T`` (2-d transpose)
element-wise                    ``xp.exp``, ``xp.log``, ``xp.sin``, ``xp.cos``,
                                ``xp.tanh``, ``xp.sqrt``, ``xp.abs``,
                                ``xp.sigmoid`` (1 / (1 + e^(-a)))
``xp.maximum(a, b)``,           element-wise, broadcasting
``xp.minimum(a, b)``
``xp.clip(a, lo, hi)``          element-wise, ``lo`` and ``hi`` Python floats
``xp.where(cond, a, b)``        element-wise select, broadcasting; the derivative
                                flows only through the chosen operand
reductions                      ``xp.sum(a, axis=None, keepdims=False)``, and with
                                the same signature ``xp.mean``, ``xp.max``,
                                ``xp.min``, ``xp.prod``, ``xp.logsumexp``:
                                ``axis`` an int or None (every axis), ``keepdims``
                                a bool; ``max``/``min`` at ties may split the
                                derivative over the tied elements in any shares
                                summing to 1; ``prod`` must be right with zero
                                elements
``xp.softmax(a, axis)``,        along one axis (default -1)
``xp.log_softmax(a, axis)``
``xp.zeros_like(a)``            a constant array (no derivative)
``xp.stack([a, b, ...])``       arrays of one shape along a new first axis
``xp.concat([a, b, ...])``      arrays end to end along the first axis
``xp.reshape(a, shape)``        ``shape`` a tuple of ints
``xp.asarray(np_array)``        a constant of the engine's array type with the
                                numpy array's dtype (no derivative)
==============================  ===================================================

Optional vocabulary (:data:`OPTIONAL_VOCABULARY`): a library's *own* implementation
of a function the required vocabulary can compose, because that implementation
is what users call and where its bugs live (autograd's and MLX's ``norm`` give
NaN at the zero vector, their ``std`` at a constant vector; the composed forms with a
double ``where`` do not).
An adapter provides an entry only where its library has one; a case that calls
it (``Case.requires``) is skipped, saying so, on an engine whose ``xp`` lacks it.

- ``xp.norm(a, axis=None, keepdims=False, ord=2)``: the Euclidean norm of all entries
  (``axis`` None) or along one axis, the library's vector 2-norm
  (``numpy.linalg.norm``, ``torch.linalg.vector_norm``); ``ord=inf``: max |a_i|;
- ``xp.std(a, axis=None, keepdims=False, ddof=0)``: the standard deviation
  √(Σ(a − ā)²/(N − ddof)) of all entries or along one axis (``numpy.std``;
  ``torch.std`` calls ``ddof`` ``correction``);
- ``xp.hypot(a, b)``: √(a² + b²) element-wise, broadcasting, without overflow
  (``numpy.hypot``);
- ``xp.sinc(a)``: the normalized sinc sin(πa)/(πa) element-wise, 1 at a = 0
  (``numpy.sinc``);
- ``xp.det(a)``: the determinant of a square matrix (``numpy.linalg.det``).

Arrays crossing the protocol are NumPy arrays: ``vjp`` returns one array per
primal with that primal's shape and dtype; ``jvp`` returns one array with the
output's shape and dtype.  An engine may attach an error estimate to a result by
returning :class:`EstimatedArray` (finite differences do).  An adapter that
converts a library's result to that dtype says so with :func:`in_dtype` (a
:class:`CastArray` remembering the library's own dtype): the values are judged
as converted, and the ``shape_dtype`` property reports the library's change of
dtype (a float32 input whose gradient the library computes and returns in
float64), which the conversion would otherwise hide.

Optional methods and attributes (the harness checks ``hasattr``; see
:data:`OPTIONAL_METHODS` for their contracts):

- ``evaluate(fn, primals)``: fn's forward value in the primals' dtype.
- ``hvp(fn, primals, vectors)``: H v of a scalar-output fn (forward over
  reverse), one array per primal with its shape and dtype; the ``hvp`` property.
- ``hvp_reverse(fn, primals, vectors)``: the same by reverse over reverse; with
  ``hvp``, the ``hvp_modes`` property compares the two.
- ``supported_dtypes``: the dtype names the engine runs (e.g. "float64",
  "float32", "float16", "bfloat16"; bfloat16 arrays are ``ml_dtypes.bfloat16``);
  checks in any other dtype are skipped.  Absent: every dtype is tried.
- ``dtype_reasons``: dtype name -> why it is not supported, appended to the skip.
- ``forward_mode``: ``False`` for an engine without forward mode, whose adapter
  assembles ``jvp`` from one ``vjp`` per output entry.  Such a JVP checks the
  adapter's contraction, not the engine, and costs one backward pass per output
  entry, so scale checks (10⁵ outputs) probe its VJPs only and say so.  Absent: True.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "OPTIONAL_METHODS", "OPTIONAL_VOCABULARY", "VOCABULARY", "CastArray", "Engine", "EstimatedArray", "in_dtype",
    "native_dtype",
]

#: The namespace functions a primal may call (see the module docstring).
VOCABULARY = (
    # element-wise
    "exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "sigmoid", "maximum", "minimum", "clip", "where",
    # reductions
    "sum", "mean", "max", "min", "prod", "logsumexp", "softmax", "log_softmax",
    # construction and shape
    "zeros_like", "stack", "concat", "reshape", "asarray",
)

#: Namespace functions an adapter may provide, each the library's own (not composed):
#: name -> its contract.  A case that calls one lists it in ``Case.requires``.
OPTIONAL_VOCABULARY = {
    "norm": "xp.norm(a, axis=None, keepdims=False, ord=2): the library's own vector norm, of every entry or along one axis; ord 2 or inf",
    "std": "xp.std(a, axis=None, keepdims=False, ddof=0): the library's own standard deviation, divisor N - ddof",
    "hypot": "xp.hypot(a, b): the library's own element-wise sqrt(a**2 + b**2), broadcasting",
    "sinc": "xp.sinc(a): the library's own normalized sinc, sin(pi a)/(pi a) element-wise, 1 at a = 0",
    "det": "xp.det(a): the library's own determinant of a square matrix",
}


@runtime_checkable
class Engine(Protocol):
    """What verigrad needs from an autodiff engine.

    ``fn`` takes the engine's own arrays, one per primal, and returns one array.
    """

    name: str
    xp: Any

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal: one array per primal, with the primal's shape and dtype."""
        ...

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k: the output's shape and dtype."""
        ...


#: Optional engine methods: the harness checks ``hasattr`` and skips, saying so, where one is missing.
#:
#: ``evaluate(fn, primals) -> np.ndarray``
#:     fn's forward value at the primals, computed in the primals' dtype (float64
#:     primals give a float64 forward) and returned as a fresh numpy array.  It
#:     records no derivative.  ``verigrad.check_function`` uses it to evaluate a
#:     user's function in float64 and differentiate that forward by finite
#:     differences when no closed form is given.
#:
#: ``hvp(fn, primals, vectors) -> tuple[np.ndarray, ...]``
#:     the Hessian-vector product H v of a scalar-output fn, forward over reverse:
#:     one array per primal, with that primal's shape and dtype.
#: ``hvp_reverse(fn, primals, vectors) -> tuple[np.ndarray, ...]``
#:     the same product by reverse over reverse (double backward).
OPTIONAL_METHODS = ("evaluate", "hvp", "hvp_reverse")


class EstimatedArray(np.ndarray):
    """A result array carrying its own absolute error estimate (same shape, or scalar).

    Engines that approximate (finite differences) return these; the harness adds
    the estimate to the rounding bound and reports it.
    """

    error_estimate: np.ndarray

    def __new__(cls, values: Any, error_estimate: Any) -> EstimatedArray:
        obj = np.asarray(values).view(cls)
        obj.error_estimate = np.broadcast_to(np.abs(np.asarray(error_estimate, dtype=np.float64)), obj.shape).copy()
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        if obj is not None:
            self.error_estimate = getattr(obj, "error_estimate", None)


def error_estimate(result: Any) -> np.ndarray | None:
    """The error estimate an engine attached to a result, if any."""
    return getattr(result, "error_estimate", None)


class CastArray(np.ndarray):
    """A result an adapter converted to the protocol's dtype from the library's own, ``native_dtype``."""

    native_dtype: np.dtype

    def __array_finalize__(self, obj: Any) -> None:
        if obj is not None:
            self.native_dtype = getattr(obj, "native_dtype", None)


def in_dtype(value: Any, dtype: Any) -> np.ndarray:
    """A library's result (anything numpy converts) in ``dtype``, as the protocol wants it: unchanged where it is
    already, else converted, as a :class:`CastArray` that remembers the library's dtype."""
    array, dtype = np.asarray(value), np.dtype(dtype)
    if array.dtype == dtype:
        return np.array(array, copy=True)
    cast = np.array(array, dtype=dtype, copy=True).view(CastArray)
    cast.native_dtype = array.dtype
    return cast


def native_dtype(result: Any) -> np.dtype | None:
    """The dtype the library returned a result in, where its adapter converted it (:func:`in_dtype`); else None."""
    return getattr(result, "native_dtype", None)
