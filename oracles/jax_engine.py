"""JAX as a verigrad engine: reverse mode via ``jax.vjp``, forward mode via ``jax.jvp``.

float64 needs JAX's x64 mode.  Switching ``jax_enable_x64`` on globally would
change every other user of JAX in the process, so each call runs inside the
thread-local ``jax.enable_x64(True)`` context and leaves the global flag alone.
In x64 mode a float32 primal stays float32 (Python numbers are weakly typed).

Tracing and compiling costs tens of milliseconds per new shape, so the jitted
vjp/jvp functions are kept in a small LRU keyed by (kind, fn, shapes, dtypes).
``fn`` is keyed by identity: like anything under ``jax.jit``, it must be pure.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["JaxEngine"]

_Signature = tuple[tuple[tuple[int, ...], str], ...]


def _signature(arrays: tuple[np.ndarray, ...]) -> _Signature:
    return tuple((a.shape, a.dtype.str) for a in arrays)


class JaxEngine:
    """JAX on its default (CPU) backend, in the primals' own precision."""

    name: str = "jax"

    def __init__(self, cache_size: int = 256) -> None:
        import jax  # heavy: imported only when this engine is loaded
        import jax.numpy as jnp

        self._jax = jax
        self.xp: Any = jnp
        self._cache: OrderedDict[tuple[Any, ...], Callable[..., Any]] = OrderedDict()
        self._cache_size = cache_size

    # ------------------------------------------------------------------ public

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal, computed by ``jax.vjp`` under ``jax.jit``."""
        primals = tuple(np.asarray(p) for p in primals)
        cotangent = np.asarray(cotangent)
        key = ("vjp", fn, _signature(primals), _signature((cotangent,)))
        compiled = self._lookup(key, lambda: self._make_vjp(fn))
        with self._jax.enable_x64(True):
            grads = compiled(primals, cotangent)
        return tuple(_to_numpy(g, p.shape, p.dtype) for g, p in zip(grads, primals, strict=True))

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k by forward mode (``jax.jvp``) under ``jax.jit``."""
        primals = tuple(np.asarray(p) for p in primals)
        tangents = tuple(np.asarray(t) for t in tangents)
        key = ("jvp", fn, _signature(primals), _signature(tangents))
        compiled = self._lookup(key, lambda: self._make_jvp(fn))
        with self._jax.enable_x64(True):
            out = compiled(primals, tangents)
        return np.array(out, copy=True)

    # ----------------------------------------------------------------- private

    def _lookup(self, key: tuple[Any, ...], build: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = build()
            self._cache[key] = compiled
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return compiled

    def _make_vjp(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        jax, jnp = self._jax, self.xp

        def run(primals: tuple[Any, ...], cotangent: Any) -> tuple[Any, ...]:
            out, pullback = jax.vjp(fn, *primals)
            # The cotangent must carry the output's dtype exactly, or jax refuses it.
            return pullback(jnp.asarray(cotangent, dtype=jnp.result_type(out)).reshape(jnp.shape(out)))

        return jax.jit(run)

    def _make_jvp(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        jax, jnp = self._jax, self.xp

        def run(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> Any:
            # jax.jvp needs each tangent in its primal's dtype.
            tangents = tuple(jnp.asarray(t, dtype=p.dtype) for p, t in zip(primals, tangents, strict=True))
            _, tangent_out = jax.jvp(fn, primals, tangents)
            return tangent_out

        return jax.jit(run)


def _to_numpy(value: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A fresh numpy copy; non-float primals get float0 cotangents from jax, i.e. zeros."""
    if getattr(value, "dtype", None) is not None and str(value.dtype) == "float0":
        return np.zeros(shape, dtype)
    return np.array(value, copy=True).reshape(shape)
