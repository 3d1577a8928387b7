"""Compiled execution as engines of their own, beside their eager counterparts.

A compiled graph may round differently from eager code: XLA fuses element-wise
chains and may keep bfloat16/float16 intermediates in float32 (jax #23007),
Inductor may keep a Python scalar in float32 where eager rounds it to the
tensor's dtype (pytorch #185517), and recomputation changes which branch a
maximum's JVP takes (jax #40564).  Running the same checks, on the same
examples, through the compiled path and the eager path is how such a
difference shows.

=================  ==========================================  ===============
engine             how it runs                                 eager partner
=================  ==========================================  ===============
``jax-jit``        vjp and jvp under ``jax.jit``, one program  ``jax-eager``
                   per (fn, shapes, dtypes), cached
``torch-compile``  ``torch.compile`` (Inductor, needs a C++    ``torch``
                   compiler): the VJP differentiates the
                   compiled forward (AOTAutograd compiles the
                   backward), the JVP is ``torch.func.jvp``
                   compiled; one compiled function per
                   (fn, shapes, dtypes)
``tinygrad``       every call through a ``TinyJit``            ``tinygrad-eager``
=================  ==========================================  ===============

``registry.EAGER_PARTNERS`` maps each compiled engine to its eager partner; the terminal
summary puts the two side by side when a run has both.
"""

from __future__ import annotations

import shutil
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from verigrad.oracles.jax_engine import JaxEngine
from verigrad.oracles.torch_engine import TorchEngine, _numpy

__all__ = ["JaxEagerEngine", "JaxJitEngine", "TinygradEagerEngine", "TorchCompileEngine"]



def JaxJitEngine(**options: Any) -> JaxEngine:
    """JAX with vjp and jvp under ``jax.jit`` (cached per fn, shapes and dtypes)."""
    engine = JaxEngine(jit=True, **options)
    engine.name = "jax-jit" if "device" not in options else engine.name.replace("jax", "jax-jit", 1)
    return engine


def JaxEagerEngine(**options: Any) -> JaxEngine:
    """JAX op by op, as un-jitted user code runs."""
    engine = JaxEngine(jit=False, **options)
    engine.name = "jax-eager" if "device" not in options else engine.name.replace("jax", "jax-eager", 1)
    return engine


def TinygradEagerEngine(**options: Any) -> Any:
    """tinygrad without ``TinyJit``: every call scheduled afresh."""
    from verigrad.oracles.tinygrad_engine import TinygradEngine

    engine = TinygradEngine(jit=False, **options)
    engine.name = "tinygrad-eager"
    return engine


class TorchCompileEngine(TorchEngine):
    """PyTorch through ``torch.compile`` (Inductor on the CPU; needs a C/C++ compiler)."""

    name: str = "torch-compile"

    def __init__(self, device: str | None = None, cache_size: int = 128, backend: str = "inductor") -> None:
        """``backend`` is a ``torch.compile`` backend ("inductor"; "aot_eager" needs no compiler)."""
        if backend == "inductor" and not any(shutil.which(cc) for cc in ("c++", "g++", "clang++")):
            raise RuntimeError("torch.compile's Inductor backend needs a C++ compiler (c++, g++ or clang++) on PATH")
        super().__init__(device)
        import torch._dynamo

        # Dynamo keys its cache by code object, and every bound case shares one (Case.bind's fn):
        # past 8 variants it would silently run eager under this engine's name.  Allow many,
        # and make hitting the limit an error rather than a silent fallback (process-wide settings).
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, 1 << 16)
        config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, 1 << 16)
        config.fail_on_recompile_limit_hit = True
        self.name = "torch-compile" if device is None else f"torch-compile-{device}"
        self._backend = backend
        self._compiled: OrderedDict[tuple[Any, ...], Callable[..., Any]] = OrderedDict()
        self._cache_size = cache_size

    @property
    def hvp(self) -> Any:
        """Not compiled here: hidden, so the harness skips hvp checks rather than run eager torch under this name."""
        raise AttributeError("torch-compile has no compiled hvp")

    @property
    def hvp_reverse(self) -> Any:
        raise AttributeError("torch-compile has no compiled hvp")

    def _compile(
        self, kind: str, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], floating: tuple[int, ...] = ()
    ) -> Callable[..., Any]:
        """One compiled function per (kind, fn, shapes, dtypes): torch.compile's own cache would
        stop recompiling after 8 variants of one function and fall back to eager silently.
        A "jvp" one takes all primals and the tangents of those at ``floating``."""
        key = (kind, fn, tuple((np.shape(p), np.asarray(p).dtype.str) for p in primals))
        compiled = self._compiled.get(key)
        if compiled is None:
            torch = self._torch

            def jvp(ps: tuple[Any, ...], ts: tuple[Any, ...]) -> Any:
                def of_floating(*xs: Any) -> Any:
                    full = list(ps)
                    for k, x in zip(floating, xs, strict=True):
                        full[k] = x
                    return fn(*full)

                return torch.func.jvp(of_floating, tuple(ps[k] for k in floating), ts)

            target = fn if kind == "forward" else jvp
            compiled = self._compiled[key] = torch.compile(target, backend=self._backend, dynamic=False, fullgraph=False)
            if len(self._compiled) > self._cache_size:
                self._compiled.popitem(last=False)
        self._compiled.move_to_end(key)
        return compiled

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J through the compiled forward and its AOTAutograd-compiled backward."""
        return super().vjp(self._compile("forward", fn, primals), primals, cotangent)

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k by ``torch.func.jvp`` under ``torch.compile``."""
        torch = self._torch
        if not any(np.issubdtype(np.asarray(p).dtype, np.floating) or str(np.asarray(p).dtype) == "bfloat16" for p in primals):
            return super().jvp(fn, primals, tangents)
        ps = tuple(self._tensor(p) for p in primals)
        # torch.func.jvp differentiates every primal it is given and raises on an integer one (a loss's labels):
        # the compiled function takes the floating primals and their tangents, the others are passed through.
        floating = tuple(k for k, p in enumerate(ps) if p.is_floating_point())
        ts = tuple(self._tensor(tangents[k], ps[k].dtype) for k in floating)
        _, tangent_out = self._compile("jvp", fn, primals, floating)(ps, ts)
        return _numpy(torch.as_tensor(tangent_out))
