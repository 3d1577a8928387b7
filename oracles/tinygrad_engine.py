"""tinygrad as a verigrad engine, on its CPU backend (kernels compiled with clang).

The device is named on every tensor (``device="CPU"``) rather than by changing
tinygrad's process-wide default, so nothing leaks to other users of tinygrad.
float32 and float64 both work on CPU; a dtype the CPU renderer cannot compile
raises ``TypeError`` naming it, never a wrong number.

tinygrad is reverse mode only (``Tensor.gradient``), so ``jvp`` is assembled
from vjps with basis cotangents: (J v)_i = Σ_k (e_iᵀ J_k) · v_k.  All rows come
from one forward graph and are realized in one schedule; only the final
contraction with v is numpy's, in float64, rounded once to the output dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["TinygradEngine"]

_DEVICE = "CPU"
_NO_DEVICE = "tinygrad has no usable device (its CPU backend needs clang: apt-get install -y clang)"


class _TinygradNamespace:
    """The primal vocabulary as tinygrad ``Tensor`` methods."""

    def __init__(self, tensor: Any) -> None:
        self._Tensor = tensor

    @staticmethod
    def sin(a: Any) -> Any:
        return a.sin()

    @staticmethod
    def cos(a: Any) -> Any:
        return a.cos()

    @staticmethod
    def log(a: Any) -> Any:
        return a.log()

    @staticmethod
    def maximum(a: Any, b: Any) -> Any:
        return a.maximum(b)

    @staticmethod
    def zeros_like(a: Any) -> Any:
        return a.zeros_like()

    @staticmethod
    def sum(a: Any) -> Any:
        return a.sum()

    def stack(self, arrays: Any) -> Any:
        return self._Tensor.stack(*arrays)

    def concat(self, arrays: Any) -> Any:
        return self._Tensor.cat(*arrays)


class TinygradEngine:
    """tinygrad on the CPU, in the primals' own precision."""

    name: str = "tinygrad"

    def __init__(self) -> None:
        from tinygrad import Device, Tensor  # heavy: imported only when this engine is loaded
        from tinygrad.helpers import Context

        self._Tensor = Tensor
        # Compile kernels in this process: tinygrad's default spawns a pool of
        # worker processes (each re-importing tinygrad), which costs more than
        # it saves for the few tiny kernels of one call.  Set per call, restored after.
        self._context = lambda: Context(PARALLEL=0)
        try:  # compile and run one kernel: fails here, clearly, if clang is missing
            with self._context():
                Tensor(np.array([1.0], np.float32), device=_DEVICE).add(1.0).numpy()
            self._supported = set(Device[_DEVICE].renderer.supported_dtypes())
        except Exception as error:
            raise RuntimeError(f"{_NO_DEVICE}; {type(error).__name__}: {error}") from error
        self.xp: Any = _TinygradNamespace(Tensor)

    def _buffer(self, array: Any, dtype: Any = None) -> Any:
        """A tensor backed by a device buffer holding a copy of ``array``.

        A 0-d numpy array would become a CONST: tinygrad would then fold it into
        the kernels in Python arithmetic (not the dtype's own) and recompile for
        every new value; folding even changed a kink (d max(z, 0)/dz at z = 0
        came out 1 instead of tinygrad's runtime 0.5).  A 1-d buffer reshaped
        to () keeps it a runtime input, as a user's data would be.
        The copy matters too: tinygrad reads numpy memory in place.
        """
        array = np.array(array, copy=True)
        return self._Tensor(array.reshape(-1), device=_DEVICE, dtype=dtype).reshape(array.shape)

    def _leaves(self, primals: tuple[np.ndarray, ...]) -> list[Any]:
        leaves = []
        for primal in primals:
            dtype = np.asarray(primal).dtype
            try:
                leaf = self._buffer(primal)
            except Exception as error:  # a numpy dtype tinygrad has no counterpart for
                raise TypeError(f"unsupported dtype: tinygrad cannot hold {dtype} ({error})") from error
            if leaf.dtype not in self._supported:
                raise TypeError(f"unsupported dtype: tinygrad's {_DEVICE} backend cannot compute in {dtype}")
            leaves.append(leaf)
        return leaves

    def _rows(self, out: Any, leaves: list[Any], cotangents: list[np.ndarray]) -> list[list[np.ndarray]]:
        """u_jᵀ J_k for every cotangent u_j and leaf k, realized together."""
        Tensor = self._Tensor
        wrt = [leaf for leaf in leaves if leaf.is_floating_point()]
        graphs: list[list[Any]] = []
        if isinstance(out, Tensor) and out.is_floating_point() and wrt:
            for u in cotangents:
                seed = self._buffer(np.reshape(u, out.shape), out.dtype)
                # Tensor.gradient gives zeros for a target the output does not depend on.
                graphs.append(out.gradient(*wrt, gradient=seed))
        else:  # output independent of every input: exact zeros
            graphs = [[leaf.zeros_like() for leaf in wrt] for _ in cotangents]
        if graphs and graphs[0]:
            Tensor.realize(*(g for row in graphs for g in row))
        results = []
        for row in graphs:
            by_leaf = dict(zip(map(id, wrt), row, strict=True))
            results.append(
                [
                    np.zeros(leaf.shape, _np_dtype(leaf.dtype))
                    if id(leaf) not in by_leaf
                    else _numpy(by_leaf[id(leaf)], leaf.shape)
                    for leaf in leaves
                ]
            )
        return results

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal via ``Tensor.gradient``."""
        with self._context():
            leaves = self._leaves(primals)
            out = fn(*leaves)
            (grads,) = self._rows(out, leaves, [np.asarray(cotangent)])
        return tuple(g.astype(np.asarray(p).dtype, copy=False) for g, p in zip(grads, primals, strict=True))

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k from one vjp per output element (tinygrad has no forward mode)."""
        with self._context():
            leaves = self._leaves(primals)
            out = fn(*leaves)
            shape = tuple(out.shape)
            size = int(np.prod(shape))
            rows = self._rows(out, leaves, list(np.eye(size).reshape((size, *shape))))
        v = [np.asarray(t, dtype=np.float64) for t in tangents]
        result = np.array(
            [sum(float(np.sum(g.astype(np.float64) * vk)) for g, vk in zip(row, v, strict=True)) for row in rows]
        )
        return result.reshape(shape).astype(_np_dtype(out.dtype))


def _np_dtype(dtype: Any) -> np.dtype:
    """numpy's dtype for a tinygrad one (its struct format character: 'f', 'd', ...)."""
    return np.dtype(dtype.fmt)


def _numpy(tensor: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.array(tensor.numpy(), copy=True).reshape(shape)
