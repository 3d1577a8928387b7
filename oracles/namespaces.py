"""Array namespaces for the primal vocabulary: a library's module with a few names added or renamed.

The vocabulary (``oracles.protocol``) names a few functions that not every
library has under that name, or at all.  :class:`RenamedNamespace` maps a
vocabulary name to the library's own; :class:`Namespace` adds functions; the
``composed_*`` factories build the missing ones from primitives every library
has (``exp``, ``log``, ``max``, ``sum``), each in the numerically stable form a
library would use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class RenamedNamespace:
    """``module`` as a namespace, with ``renames`` (vocabulary name -> library name) applied.

    autograd.numpy and mygrad call ``concat`` ``concatenate``; everything else
    is looked up on the module as it is.
    """

    def __init__(self, module: Any, **renames: str) -> None:
        self._module = module
        for name, target in renames.items():
            setattr(self, name, getattr(module, target))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


class Namespace:
    """``module`` as a namespace, with ``functions`` (vocabulary name -> callable) added or replacing its own."""

    def __init__(self, module: Any, **functions: Callable[..., Any]) -> None:
        self._module = module
        for name, function in functions.items():
            setattr(self, name, function)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def composed_logsumexp(xp: Any, constant: Callable[[Any], Any]) -> Callable[..., Any]:
    """log Σ exp(a) along ``axis`` as m + log Σ exp(a - m), m the maximum held ``constant``.

    The identity holds for any m, so treating m as a constant (no derivative)
    is exact; it only keeps exp from overflowing.  ``constant`` turns an array
    of ``xp`` into one that carries no derivative.
    """

    def logsumexp(a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        m = constant(xp.max(a, axis=axis, keepdims=True))
        total = xp.sum(xp.exp(a - m), axis=axis, keepdims=keepdims)
        return xp.log(total) + xp.reshape(m, total.shape)

    return logsumexp


def composed_softmax(logsumexp: Callable[..., Any], exp: Callable[[Any], Any]) -> Callable[..., Any]:
    """softmax(a) = exp(a - logsumexp(a)) along ``axis``."""

    def softmax(a: Any, axis: int = -1) -> Any:
        return exp(a - logsumexp(a, axis=axis, keepdims=True))

    return softmax


def composed_log_softmax(logsumexp: Callable[..., Any]) -> Callable[..., Any]:
    """log_softmax(a) = a - logsumexp(a) along ``axis``."""

    def log_softmax(a: Any, axis: int = -1) -> Any:
        return a - logsumexp(a, axis=axis, keepdims=True)

    return log_softmax


#: The orders of ``xp.norm`` (oracles.protocol.OPTIONAL_VOCABULARY): the 2-norm and max |a_i|.
NORM_ORDERS = (2, np.inf)


def _check_order(ord: float) -> None:
    if ord not in NORM_ORDERS:
        raise ValueError(f"xp.norm: ord={ord!r}; the vocabulary's orders are 2 and inf")


def numpy_style_norm(norm: Callable[..., Any], flatten: Callable[[Any], Any]) -> Callable[..., Any]:
    """The vocabulary's ``xp.norm`` from a library's numpy-style ``norm(a, ord=, axis=, keepdims=)``.

    Its 2-norm is ``ord=None`` (the Frobenius norm of every entry where ``axis`` is None); its ∞-norm of every
    entry is taken of ``flatten(a)``, since numpy's ``ord=inf`` of a 2-d array would be a matrix norm.
    """

    def vocabulary_norm(a: Any, axis: int | None = None, keepdims: bool = False, ord: float = 2) -> Any:
        _check_order(ord)
        if ord == 2:
            return norm(a, ord=None, axis=axis, keepdims=keepdims)
        return norm(a if axis is not None else flatten(a), ord=ord, axis=axis, keepdims=keepdims)

    return vocabulary_norm


def _guarded_sqrt(xp: Any, s: Any) -> Any:
    """√s behind a double ``where``: 0, with derivative 0, at s = 0 (sqrt's infinite slope kept out)."""
    return xp.where(s > 0, xp.sqrt(xp.where(s > 0, s, 1.0)), 0.0)


def composed_norm(xp: Any) -> Callable[..., Any]:
    """‖a‖₂ as √(Σ a·a) behind a double ``where`` (``ord=inf``: max |a_i|, as max(a, −a) of every entry).

    No conjugate and no ``abs``, so it stays analytic for complex input (the
    complex step differentiates through it), and takes comparisons only (a
    symbolic region knows each); the inner ``where`` keeps sqrt's infinite
    slope at 0 out of the derivative (the reference's own norm form).
    """

    def norm(a: Any, axis: int | None = None, keepdims: bool = False, ord: float = 2) -> Any:
        _check_order(ord)
        if ord == 2:
            return _guarded_sqrt(xp, xp.sum(a * a, axis=axis, keepdims=keepdims))
        if axis is None and not keepdims:
            flat = xp.reshape(a, (-1,))
            return xp.max(xp.concat([flat, -flat]))
        return xp.max(xp.abs(a), axis=axis, keepdims=keepdims)

    return norm


def composed_std(xp: Any) -> Callable[..., Any]:
    """√(Σ(a − ā)²/(N − ddof)) behind a double ``where``: 0, with derivative 0, at a constant a.

    Analytic for complex input (no conjugate), like :func:`composed_norm`.
    """

    def std(a: Any, axis: int | None = None, keepdims: bool = False, ddof: int = 0) -> Any:
        count = int(np.prod(a.shape)) if axis is None else a.shape[axis]
        d = a - xp.sum(a, axis=axis, keepdims=True) / count
        return _guarded_sqrt(xp, xp.sum(d * d, axis=axis, keepdims=keepdims) / (count - ddof))

    return std


def composed_hypot(xp: Any) -> Callable[..., Any]:
    """√(a² + b²) behind a double ``where``: 0, with derivative 0, at a = b = 0; analytic like :func:`composed_norm`."""

    def hypot(a: Any, b: Any) -> Any:
        return _guarded_sqrt(xp, a * a + b * b)

    return hypot


def composed_sinc(xp: Any) -> Callable[..., Any]:
    """sin(πa)/(πa), 1 at a = 0, with a = 0 kept out of the quotient (analytic off 0: the complex step sees it)."""

    def sinc(a: Any) -> Any:
        zero = a == 0
        safe = xp.where(zero, 1.0, a)
        return xp.where(zero, 1.0, xp.sin(np.pi * safe) / (np.pi * safe))

    return sinc


def composed_sigmoid(tanh: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """σ(a) = (1 + tanh(a/2)) / 2: no overflow for any a, and analytic (the complex step sees it)."""

    def sigmoid(a: Any) -> Any:
        return 0.5 * (1.0 + tanh(0.5 * a))

    return sigmoid
