"""MLX as a verigrad engine: reverse mode via ``mx.vjp``, forward mode via ``mx.jvp``,
Hessian-vector products via ``mx.jvp`` of ``mx.grad`` (forward over reverse) and
``mx.vjp`` of ``mx.grad`` (reverse over reverse).

MLX computes lazily: nothing runs until a result is read, so every result is
turned into numpy (which evaluates it) before it is returned.  On the CPU
(``mlx[cpu]`` on Linux) MLX supports float64, float32, float16 and bfloat16;
float64 is CPU-only in MLX (its GPU backends have none), so a GPU device
declares the three others.  numpy has no bfloat16: those arrays cross as
``ml_dtypes.bfloat16``, bit for bit (through a uint16 view), never through a
float conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from verigrad.oracles.namespaces import numpy_style_norm

__all__ = ["MlxEngine"]

#: dtypes MLX computes in on the CPU; float64 has no GPU kernels in MLX.
CPU_DTYPES = ("float64", "float32", "float16", "bfloat16")
GPU_DTYPES = ("float32", "float16", "bfloat16")


class _MlxNamespace:
    """The primal vocabulary over ``mlx.core`` (see ``oracles.protocol``).

    MLX names most functions as NumPy does; ``concat`` is ``concatenate``,
    ``log_softmax`` is composed from ``logsumexp`` (it lives in ``mlx.nn``,
    which a primal should not need), and ``asarray`` keeps the numpy dtype.
    """

    def __init__(self, mx: Any, to_mlx: Callable[[np.ndarray], Any]) -> None:
        self._mx = mx
        self.asarray = to_mlx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mx, name)

    def concat(self, arrays: Any, axis: int = 0) -> Any:
        return self._mx.concatenate(list(arrays), axis=axis)

    def log_softmax(self, a: Any, axis: int = -1) -> Any:
        return a - self._mx.logsumexp(a, axis=axis, keepdims=True)

    def softmax(self, a: Any, axis: int = -1) -> Any:
        return self._mx.softmax(a, axis=axis, precise=True)

    def clip(self, a: Any, lo: float, hi: float) -> Any:
        return self._mx.clip(a, lo, hi)

    def norm(self, a: Any, axis: int | None = None, keepdims: bool = False, ord: float = 2) -> Any:
        return numpy_style_norm(self._mx.linalg.norm, lambda x: self._mx.reshape(x, (-1,)))(a, axis, keepdims, ord)

    def det(self, a: Any) -> Any:
        # MLX's linalg runs on the CPU stream only.
        return self._mx.linalg.det(a, stream=self._mx.cpu)

    def std(self, a: Any, axis: int | None = None, keepdims: bool = False, ddof: int = 0) -> Any:
        return self._mx.std(a, axis=axis, keepdims=keepdims, ddof=ddof)

    def reshape(self, a: Any, shape: Any) -> Any:
        return self._mx.reshape(a, tuple(shape) if not isinstance(shape, int) else (shape,))


class MlxEngine:
    """MLX on its CPU (or another MLX device), in the primals' own precision."""

    name: str = "mlx"

    def __init__(self, device: str | None = None) -> None:
        """``device`` is "cpu" or "gpu"; None is the CPU (where float64 exists)."""
        import mlx.core as mx  # heavy: imported only when this engine is loaded

        self._mx = mx
        kind = device or "cpu"
        if kind not in ("cpu", "gpu"):
            raise ValueError(f"device {device!r}: MLX devices are 'cpu' and 'gpu'")
        if kind == "gpu" and not mx.is_available(mx.gpu):
            raise RuntimeError(f"device 'gpu': mlx {mx.__version__} sees no GPU")
        self._device = mx.Device(mx.cpu if kind == "cpu" else mx.gpu)
        self.supported_dtypes = CPU_DTYPES if kind == "cpu" else GPU_DTYPES
        self.dtype_reasons = {} if kind == "cpu" else {"float64": "MLX computes float64 only on the CPU"}
        self.xp: Any = _MlxNamespace(mx, self._array)
        if device:
            self.name = f"mlx-{device}"

    # ------------------------------------------------------------ conversion

    def _array(self, value: Any, dtype: Any = None) -> Any:
        """An MLX array owning a copy of ``value`` (numpy, or ml_dtypes bfloat16)."""
        array = np.array(value, copy=True)
        if dtype is not None:
            array = array.astype(dtype)
        if array.dtype == np.complex128:
            # MLX has complex64 only: a silent downcast would give float32-accurate results under a complex128
            # name (the fd oracle's complex step would take them as exact); refusing makes it use real differences.
            raise TypeError("MLX has no complex128 (complex64 only)")
        # Named explicitly: MLX turns float64 numpy arrays into float32 unless told.
        mx_dtype = getattr(self._mx, array.dtype.name, None) if array.dtype.kind in "fiub" or _is_bfloat16(array) else None
        return self._mx.array(array, dtype=mx_dtype)

    def _numpy(self, value: Any) -> np.ndarray:
        """A numpy copy; bfloat16 goes through its bits (numpy's buffer protocol has no bfloat16)."""
        mx = self._mx
        if value.dtype == mx.bfloat16:
            import ml_dtypes  # its extension takes 0.4 s to import: only when a bfloat16 result crosses

            return np.array(value.view(mx.uint16), copy=True).view(ml_dtypes.bfloat16)
        return np.array(value, copy=True)

    def _float(self, array: np.ndarray) -> bool:
        return np.issubdtype(array.dtype, np.floating) or _is_bfloat16(array)

    def _closure(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> tuple[Callable[..., Any], list[int], list[Any]]:
        """fn of the floating primals only (MLX differentiates every argument), their indices, all arrays."""
        arrays = [self._array(p) for p in primals]
        wrt = [k for k, p in enumerate(primals) if self._float(np.asarray(p))]

        def of_floats(*floats: Any) -> Any:
            full = list(arrays)
            for k, value in zip(wrt, floats, strict=True):
                full[k] = value
            return fn(*full)

        return of_floats, wrt, arrays

    # ---------------------------------------------------------------- public

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal, by ``mx.vjp``."""
        mx = self._mx
        with mx.stream(self._device):
            of_floats, wrt, arrays = self._closure(fn, primals)
            out = mx.array(of_floats(*(arrays[k] for k in wrt)))
            ct = self._array(np.asarray(cotangent).reshape(out.shape)).astype(out.dtype)
            grads = mx.vjp(of_floats, [arrays[k] for k in wrt], [ct])[1] if wrt else []
            by_index = dict(zip(wrt, grads, strict=True))
            return tuple(
                self._numpy(by_index[k]).reshape(np.shape(p)) if k in by_index else np.zeros(np.shape(p), np.asarray(p).dtype)
                for k, p in enumerate(primals)
            )

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k by ``mx.jvp`` (forward mode)."""
        mx = self._mx
        with mx.stream(self._device):
            of_floats, wrt, arrays = self._closure(fn, primals)
            floats = [arrays[k] for k in wrt]
            if not wrt:
                return self._numpy(mx.zeros_like(mx.array(fn(*arrays))))
            # MLX wants each tangent in its primal's dtype.
            vs = [self._array(tangents[k]).astype(arrays[k].dtype) for k in wrt]
            _, out_tangents = mx.jvp(of_floats, floats, vs)
            return self._numpy(out_tangents[0])

    def hvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, ...]:
        """H v of a scalar-output fn, forward over reverse: ``mx.jvp`` of ``mx.grad``."""
        return self._second_order(fn, primals, vectors, reverse=False)

    def hvp_reverse(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...]
    ) -> tuple[np.ndarray, ...]:
        """H v of a scalar-output fn, reverse over reverse: the gradient of ⟨∇f, v⟩."""
        return self._second_order(fn, primals, vectors, reverse=True)

    def evaluate(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        """fn at primals, in the primals' dtype."""
        mx = self._mx
        with mx.stream(self._device):
            return self._numpy(mx.array(fn(*(self._array(p) for p in primals))))

    # --------------------------------------------------------------- private

    def _second_order(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...], *, reverse: bool
    ) -> tuple[np.ndarray, ...]:
        mx = self._mx
        with mx.stream(self._device):
            of_floats, wrt, arrays = self._closure(fn, primals)
            floats = [arrays[k] for k in wrt]
            vs = [self._array(vectors[k]).astype(arrays[k].dtype) for k in wrt]
            argnums = list(range(len(wrt)))
            raw_gradient = mx.grad(of_floats, argnums=argnums)

            def gradient(*xs: Any) -> list[Any]:
                grads = raw_gradient(*xs)  # one argument: a bare array, not a tuple
                return list(grads) if isinstance(grads, tuple | list) else [grads]
            if reverse:
                def inner(*xs: Any) -> Any:
                    return sum(mx.sum(g * v) for g, v in zip(gradient(*xs), vs, strict=True))

                products = mx.grad(inner, argnums=argnums)(*floats) if wrt else []
                products = list(products) if isinstance(products, tuple | list) else [products]
            else:
                products = mx.jvp(gradient, floats, vs)[1] if wrt else []
            by_index = dict(zip(wrt, products, strict=True))
            return tuple(
                self._numpy(by_index[k]).reshape(np.shape(p)) if k in by_index else np.zeros(np.shape(p), np.asarray(p).dtype)
                for k, p in enumerate(primals)
            )


def _is_bfloat16(array: np.ndarray) -> bool:
    """ml_dtypes' bfloat16, known by name: an array of it exists only once ml_dtypes is imported."""
    return array.dtype.name == "bfloat16"
