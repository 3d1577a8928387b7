"""HIPS autograd as a verigrad engine: reverse mode via ``make_vjp``, forward mode
via autograd's own forward mode (``make_jvp``, JVP nodes; not the double-vjp trick).

``xp`` is ``autograd.numpy`` with one fix: ``concat``.  autograd.numpy does
expose a ``concat`` (numpy 2's name), but it is a bare primitive with no
derivative that does not unbox a *list* of traced arrays: it silently returns
an object array of boxes.  ``concatenate`` is the one autograd differentiates.

Precision: values stay in the primals' dtype, except where autograd's rules
promote: the derivatives of ``max``/``min``, ``mean``, ``std``, ``maximum`` and
``where`` come back float64 for float32 inputs (their masks and counts are
float64; upstream PR #199), so downstream arithmetic runs in float64.  Each
result is converted to the protocol's dtype with :func:`in_dtype`, which
remembers autograd's own: the values are judged as converted, and the
``shape_dtype`` property reports the promotion.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from verigrad.oracles.namespaces import (
    Namespace,
    composed_log_softmax,
    composed_sigmoid,
    composed_softmax,
    numpy_style_norm,
)
from verigrad.oracles.protocol import in_dtype

__all__ = ["AutogradEngine"]


class AutogradEngine:
    """autograd on numpy, in the primals' own precision."""

    name: str = "autograd"
    supported_dtypes = ("float64", "float32", "float16")
    #: Measured at --scale 100000: 24 of the 72 cases' bfloat16 JVPs came back float32.
    dtype_reasons: ClassVar[dict[str, str]] = {
        "bfloat16": "numpy (which autograd computes with) returns float32 from bfloat16 matmuls and from several of "
                    "the ufuncs autograd's rules use, so its bfloat16 derivatives are float32 arrays"}

    def __init__(self) -> None:
        import autograd  # heavy-ish: imported only when this engine is loaded
        import autograd.numpy as anp

        self._make_vjp = autograd.make_vjp
        self._make_jvp = autograd.make_jvp
        # softmax and log_softmax are not in autograd: composed from its logsumexp.  sigmoid is
        # composed from tanh: autograd's expit has a VJP but no JVP ("JVP of expit ... not defined").
        self.xp: Any = Namespace(
            anp,
            concat=anp.concatenate,
            sigmoid=composed_sigmoid(anp.tanh),
            logsumexp=_logsumexp,
            softmax=composed_softmax(_logsumexp, anp.exp),
            log_softmax=composed_log_softmax(_logsumexp),
            norm=numpy_style_norm(anp.linalg.norm, anp.ravel),
            std=lambda a, axis=None, keepdims=False, ddof=0: anp.std(a, axis=axis, ddof=ddof, keepdims=keepdims),
            hypot=anp.hypot,
            sinc=anp.sinc,
            det=anp.linalg.det,
        )

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal: one reverse pass over the tuple of primals."""
        # Copies, so that no traced value (an identity output, say) is the caller's array.
        args = tuple(np.array(p, copy=True) for p in primals)
        with _quiet():
            f, pack, unpack = _on_arguments(fn, len(args))
            pullback, out = self._make_vjp(f)(pack(args))
            grads = unpack(pullback(np.array(cotangent, dtype=np.asarray(out).dtype, copy=True)))
        return tuple(_like(g, p) for g, p in zip(grads, args, strict=True))

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k by autograd's forward mode."""
        args = tuple(np.array(p, copy=True) for p in primals)
        dirs = tuple(np.array(t, dtype=p.dtype, copy=True) for p, t in zip(args, tangents, strict=True))
        with _quiet():
            f, pack, _ = _on_arguments(fn, len(args))
            out, tangent_out = self._make_jvp(f)(pack(args))(pack(dirs))
        out = np.asarray(out)
        return in_dtype(tangent_out, out.dtype).reshape(out.shape)

    def evaluate(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        """fn's forward value at the primals, in their dtype (plain numpy, nothing traced)."""
        return np.array(fn(*(np.array(p, copy=True) for p in primals)), copy=True)


def _logsumexp(*args: Any, **kwargs: Any) -> Any:
    """autograd's logsumexp, imported on first use: ``autograd.scipy`` imports scipy's special, signal and stats
    modules, 1.3 of the engine's 1.5 s of loading (measured), which a run without a logsumexp need not pay."""
    import autograd.scipy.special as special

    return special.logsumexp(*args, **kwargs)


def _on_arguments(fn: Callable[..., Any], count: int) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """autograd differentiates one argument: the function of it, how to pack the primals (or tangents) into it,
    and how to unpack its gradient into one per primal.

    One primal is that argument itself, as ``grad(f)(x)`` is called: a tuple's gradient is assembled in its
    elements' dtypes, which would hide a rule's promotion (float32 in, float64 out).  Several primals are the
    tuple of them, each boxed separately, so one array passed twice gives two inputs.
    """
    if count == 1:
        return fn, (lambda values: values[0]), (lambda grad: (grad,))
    return (lambda args: fn(*args)), tuple, tuple


def _like(grad: Any, primal: np.ndarray) -> np.ndarray:
    return in_dtype(grad, primal.dtype).reshape(primal.shape)


class _quiet(warnings.catch_warnings):
    """autograd warns "Output seems independent of input." and then correctly returns zeros."""

    def __enter__(self) -> Any:
        result = super().__enter__()
        warnings.filterwarnings("ignore", message="Output seems independent of input")
        return result
