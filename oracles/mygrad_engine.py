"""mygrad as a verigrad engine.

mygrad is reverse mode only, so ``jvp`` is assembled from vjps with basis
cotangents: (J v)_i = e_iᵀ (J v) = Σ_k (e_iᵀ J_k) · v_k, one backward pass per
output element (outputs here are small).  The rows e_iᵀ J_k are mygrad's; only
the final contraction with v is numpy's, in float64, rounded once.

Precision: mygrad turns Python numbers into float64 arrays, so ``2 * x`` or
``x ** 3`` on a float32 tensor computes (and returns) float64.  Gradients are
still stored in each tensor's own dtype (float32).  The values therefore are
mygrad's, computed partly in float64; results are returned in the primals'
dtype, as the protocol requires (a float64 output of float32 primals is
rounded back to float32), with :func:`in_dtype`, which remembers mygrad's own:
a JVP or forward value of a function whose mygrad output is float64 carries it,
and the ``shape_dtype`` property reports the promotion.

Kinks are left as mygrad has them.  Note that mygrad's ``maximum`` gives
neither argument any share at a tie w = x (both partials 0), which is outside
the subdifferential {(t, 1 - t)}: d max(a, a)/da comes out 0, not 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from verigrad.oracles.namespaces import Namespace, composed_logsumexp, numpy_style_norm
from verigrad.oracles.protocol import in_dtype

__all__ = ["MygradEngine"]


class MygradEngine:
    """mygrad (numpy-backed reverse mode)."""

    name: str = "mygrad"
    #: No forward mode: ``jvp`` is assembled from one vjp per output entry (see verigrad.oracles.protocol).
    forward_mode: bool = False

    def __init__(self) -> None:
        import mygrad  # imported only when this engine is loaded
        import mygrad.nnet  # sigmoid, softmax, logsoftmax live here

        self._mg = mygrad
        self.xp: Any = _namespace(mygrad)

    def _forward(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> tuple[list[Any], Any]:
        # Fresh tensors on copies, every call: mygrad makes arrays in a graph
        # read-only ("locks" them), which must not happen to the caller's arrays,
        # and fresh leaves never carry a gradient left over from an earlier call.
        leaves = [
            self._mg.tensor(np.array(p, copy=True), constant=not np.issubdtype(np.asarray(p).dtype, np.floating))
            for p in primals
        ]
        return leaves, fn(*leaves)

    def _pull(self, leaves: list[Any], out: Any, cotangent: np.ndarray) -> list[np.ndarray]:
        """Backward from ``out`` with ``cotangent``; grads in each leaf's shape and dtype."""
        if isinstance(out, self._mg.Tensor) and not out.constant:
            out_dtype = out.dtype
            out.backward(np.array(cotangent, dtype=out_dtype, copy=True).reshape(out.shape))
        grads = []
        for leaf in leaves:
            # None: the output does not depend on this input, so exact zeros.
            grad = leaf.grad
            grads.append(
                np.zeros(leaf.shape, leaf.dtype) if grad is None else in_dtype(grad, leaf.dtype)
            )
        return grads

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal via ``Tensor.backward``."""
        leaves, out = self._forward(fn, primals)
        return tuple(self._pull(leaves, out, cotangent))

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k from one vjp per output element (mygrad has no forward mode)."""
        leaves, out = self._forward(fn, primals)
        out_shape, out_dtype = np.shape(out), _output_dtype(np.asarray(out).dtype, primals)
        v = [np.asarray(t, dtype=np.float64) for t in tangents]
        result = np.zeros(int(np.prod(out_shape)), dtype=np.float64)
        for i in range(result.size):
            basis = np.zeros(result.size)
            basis[i] = 1.0
            if i:  # mygrad frees the graph after backward: each basis vector needs a fresh forward pass
                leaves, out = self._forward(fn, primals)
            rows = self._pull(leaves, out, basis.reshape(out_shape))
            result[i] = sum(float(np.sum(row.astype(np.float64) * vk)) for row, vk in zip(rows, v, strict=True))
        # The contraction is the adapter's, in float64; the dtype it stands for is mygrad's output's.
        return in_dtype(result.reshape(out_shape).astype(np.asarray(out).dtype), out_dtype)

    def evaluate(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        """fn's forward value at the primals, in their dtype (constant tensors: no graph)."""
        tensors = [self._mg.tensor(np.array(p, copy=True), constant=True) for p in primals]
        out = np.asarray(fn(*tensors))
        return in_dtype(out, _output_dtype(out.dtype, primals))


def _namespace(mygrad: Any) -> Namespace:
    """mygrad plus the vocabulary names it spells differently or lacks.

    mygrad has no logsumexp: composed (max held constant).  ``mygrad.asarray``
    returns a numpy array, so a constant is a ``constant=True`` tensor instead.
    """

    def constant(tensor: Any) -> Any:
        return mygrad.tensor(mygrad.asarray(tensor), constant=True)

    return Namespace(
        mygrad,
        concat=mygrad.concatenate,
        sigmoid=mygrad.nnet.sigmoid,
        logsumexp=composed_logsumexp(mygrad, constant),
        softmax=lambda a, axis=-1: mygrad.nnet.softmax(a, axis=axis),
        log_softmax=lambda a, axis=-1: mygrad.nnet.logsoftmax(a, axis=axis),
        norm=numpy_style_norm(mygrad.linalg.norm, lambda a: mygrad.reshape(a, (-1,))),
        std=lambda a, axis=None, keepdims=False, ddof=0: mygrad.std(a, axis=axis, ddof=ddof, keepdims=keepdims),
        sinc=mygrad.sinc,
        asarray=lambda array: mygrad.tensor(np.asarray(array), constant=True),
    )


def _output_dtype(out_dtype: np.dtype, primals: tuple[np.ndarray, ...]) -> np.dtype:
    """The output dtype under weak Python scalars: mygrad's float64 promotion of float32 undone."""
    floats = [np.asarray(p).dtype for p in primals if np.issubdtype(np.asarray(p).dtype, np.floating)]
    if floats and np.issubdtype(out_dtype, np.floating):
        return np.result_type(*floats)
    return out_dtype
