"""JAX as a verigrad engine: reverse mode via ``jax.vjp``, forward mode via ``jax.jvp``.

float64 needs JAX's x64 mode.  Switching ``jax_enable_x64`` on globally would
change every other user of JAX in the process, so each call runs inside the
thread-local ``jax.enable_x64(True)`` context and leaves the global flag alone.
In x64 mode a float32 primal stays float32 (Python numbers are weakly typed).

Tracing and compiling cost 30-150 ms per new (fn, shapes, dtypes); a compiled
call costs about 0.1 ms.  So each (fn, primal shapes and dtypes) gets ONE
jitted function computing both the vjp and the jvp (one forward pass, shared
by XLA), kept in a small LRU: a vjp and a jvp of the same fn and shapes, and
every repeated call, reuse it without recompiling.  A call feeds zeros to the
half it does not need.  (Two separate programs compile twice as often; running
the first calls eagerly compiles every primitive for every shape, which was
slower still over the case table.)  ``fn`` is keyed by identity: like anything
under ``jax.jit``, it must be pure.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from verigrad.oracles.namespaces import Namespace, numpy_style_norm
from verigrad.oracles.second_order import jax_hvp

__all__ = ["JaxEngine"]

_Signature = tuple[tuple[tuple[int, ...], str], ...]


def _signature(arrays: tuple[np.ndarray, ...]) -> _Signature:
    return tuple((a.shape, a.dtype.str) for a in arrays)


class JaxEngine:
    """JAX on its default (CPU) backend, in the primals' own precision."""

    name: str = "jax"

    def __init__(self, cache_size: int = 256, device: str | None = None, jit: bool = True) -> None:
        """``device`` is a JAX platform ("cpu", "gpu", "tpu"); None is JAX's default device.

        ``jit=False`` runs op by op, as eager JAX code does (each primitive rounds
        its result to the dtype; under ``jax.jit`` XLA may fuse and keep excess
        precision): the eager counterpart of the compiled engine.
        """
        import jax  # heavy: imported only when this engine is loaded
        import jax.numpy as jnp

        self._jax = jax
        # jax.numpy has the whole vocabulary except four functions, which jax.nn has; norm is jnp.linalg's.
        self.xp: Any = Namespace(
            jnp, sigmoid=jax.nn.sigmoid, logsumexp=jax.nn.logsumexp, softmax=jax.nn.softmax, log_softmax=jax.nn.log_softmax,
            # optional vocabulary: the library's own functions
            norm=numpy_style_norm(jnp.linalg.norm, jnp.ravel), hypot=jnp.hypot, sinc=jnp.sinc, det=jnp.linalg.det,
            std=lambda a, axis=None, keepdims=False, ddof=0: jnp.std(a, axis=axis, ddof=ddof, keepdims=keepdims),
        )
        # jax.devices raises a RuntimeError naming the platform when it is not available.
        self._device = jax.devices(device)[0] if device else None
        if device:
            self.name = f"jax-{device}"
        self._cache: OrderedDict[tuple[Any, ...], tuple[Any, np.dtype, Any]] = OrderedDict()
        self._cache_size = cache_size
        self._jit = jit

    # ------------------------------------------------------------------ public

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal, by ``jax.vjp``."""
        primals = tuple(np.asarray(p) for p in primals)
        out_shape, out_dtype, both = self._compiled(fn, primals)
        # Cast here, as jax would (it wants the output's dtype exactly): one program per key.
        cotangent = np.asarray(cotangent).astype(out_dtype).reshape(out_shape)
        tangents = tuple(self._tangent(p, np.zeros_like(p)) for p in primals)
        reverse = self._cache.get((fn, _signature(primals), "reverse"))
        with self._jax.enable_x64(True), self._on_device():
            try:
                grads = reverse(primals, cotangent) if reverse else both(primals, cotangent, tangents)[0]
            except TypeError as error:
                if not _reverse_only(error):
                    raise
                grads = self._reverse(fn, primals)(primals, cotangent)
        return tuple(_to_numpy(g, p.shape, p.dtype) for g, p in zip(grads, primals, strict=True))

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k by forward mode (``jax.jvp``)."""
        primals = tuple(np.asarray(p) for p in primals)
        out_shape, out_dtype, both = self._compiled(fn, primals)
        # jax.jvp wants each tangent in its primal's dtype.
        tangents = tuple(self._tangent(p, t) for p, t in zip(primals, tangents, strict=True))
        with self._jax.enable_x64(True), self._on_device():
            _, tangent_out = both(primals, np.zeros(out_shape, out_dtype), tangents)
        return np.array(tangent_out, copy=True)

    def hvp(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """H v of a scalar-output fn, forward over reverse (``jax.jvp`` of ``jax.grad``)."""
        return jax_hvp(self, fn, primals, vectors, reverse=False)

    def hvp_reverse(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """H v of a scalar-output fn, reverse over reverse (the gradient of ⟨∇f, v⟩)."""
        return jax_hvp(self, fn, primals, vectors, reverse=True)

    # ----------------------------------------------------------------- private

    def _tangent(self, primal: np.ndarray, tangent: Any) -> np.ndarray:
        """A tangent in the primal's dtype; an integer primal (labels) takes jax's float0 zeros."""
        # Integer and boolean primals only: ml_dtypes' bfloat16 is no numpy np.inexact, yet it is a float.
        if np.issubdtype(primal.dtype, np.integer) or primal.dtype == np.bool_:
            return np.zeros(primal.shape, dtype=self._jax.dtypes.float0)
        return np.asarray(tangent).astype(primal.dtype)

    def _on_device(self) -> Any:
        """Place this call's arrays on the chosen device (a thread-local context, like x64)."""
        return self._jax.default_device(self._device) if self._device is not None else contextlib.nullcontext()

    def _compiled(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> tuple[Any, np.dtype, Any]:
        """(output shape, output dtype, jitted vjp-and-jvp) for fn at these primal shapes/dtypes."""
        key = (fn, _signature(primals))
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            return entry
        jax = self._jax
        with jax.enable_x64(True):
            out = jax.eval_shape(fn, *primals)  # traces fn, compiles nothing

        def both(primals: tuple[Any, ...], cotangent: Any, tangents: tuple[Any, ...]) -> tuple[Any, Any]:
            _, pullback = jax.vjp(fn, *primals)
            _, tangent_out = jax.jvp(fn, primals, tangents)
            return pullback(cotangent), tangent_out

        entry = self._cache[key] = (tuple(out.shape), np.dtype(out.dtype), jax.jit(both) if self._jit else both)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return entry

    def _reverse(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> Any:
        """A jitted vjp alone, for a function with a custom_vjp rule (jax cannot run its jvp)."""
        key = (fn, _signature(primals), "reverse")
        program = self._cache.get(key)
        if program is None:
            jax = self._jax

            def pull(primals: tuple[Any, ...], cotangent: Any) -> Any:
                return jax.vjp(fn, *primals)[1](cotangent)

            program = self._cache[key] = jax.jit(pull)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return program

    def evaluate(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        """fn's forward value at the primals, in their dtype (jitted, cached like the derivatives)."""
        primals = tuple(np.asarray(p) for p in primals)
        key = (fn, _signature(primals), "evaluate")
        program = self._cache.get(key)
        if program is None:
            program = self._cache[key] = self._jax.jit(fn)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        with self._jax.enable_x64(True), self._on_device():
            return np.array(program(*primals), copy=True)


def _reverse_only(error: TypeError) -> bool:
    """Whether jax refused forward mode because fn has a custom_vjp rule (reverse mode only)."""
    return "custom_vjp" in str(error)


def _to_numpy(value: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A fresh numpy copy; non-float primals get float0 cotangents from jax, i.e. zeros."""
    if getattr(value, "dtype", None) is not None and "float0" in str(value.dtype):  # "[('float0', 'V')]"
        return np.zeros(shape, dtype)
    return np.array(value, copy=True).reshape(shape)
