"""Hessian-vector products for the JAX and PyTorch adapters (the optional ``hvp`` method).

For a scalar-output fn, ``hvp(fn, primals, vectors)`` returns H v, one array
per primal, computed forward over reverse (the JVP of the gradient: one
forward-mode pass through the reverse-mode graph); ``hvp_reverse`` computes the
same product reverse over reverse (the gradient of ⟨∇f, v⟩).  An engine with
both lets the harness check one against the other.  Only floating primals are
differentiated; the others get zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["jax_hvp", "torch_hvp"]


def _floating(array: np.ndarray) -> bool:
    return np.asarray(array).dtype.kind == "f" or np.asarray(array).dtype.name == "bfloat16"


def _scatter(primals: tuple[np.ndarray, ...], wrt: list[int], values: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """One array per primal: the computed ones where differentiated, zeros elsewhere."""
    by_index = dict(zip(wrt, values, strict=True))
    return tuple(
        np.array(by_index[k], copy=True).reshape(np.shape(p)) if k in by_index else np.zeros(np.shape(p), np.asarray(p).dtype)
        for k, p in enumerate(primals)
    )


def jax_hvp(
    engine: Any, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...], *, reverse: bool
) -> tuple[np.ndarray, ...]:
    """H v with JAX; jitted (and cached per fn, shapes and dtypes) when the engine jits."""
    jax = engine._jax
    primals = tuple(np.asarray(p) for p in primals)
    wrt = [k for k, p in enumerate(primals) if _floating(p)]
    if not wrt:
        return _scatter(primals, [], [])
    key = ("hvp-reverse" if reverse else "hvp", fn, tuple((p.shape, p.dtype.str) for p in primals))
    product = engine._cache.get(key)
    if product is None:
        product = _jax_product(jax, fn, primals, wrt, reverse)
        engine._cache[key] = product = jax.jit(product) if engine._jit else product
    vs = tuple(np.asarray(vectors[k]).astype(primals[k].dtype) for k in wrt)
    with jax.enable_x64(True), engine._on_device():
        result = product(primals, vs)
    return _scatter(primals, wrt, [np.asarray(r) for r in result])


def _jax_product(jax: Any, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], wrt: list[int], reverse: bool) -> Callable[..., Any]:
    def of_floats(floats: tuple[Any, ...], rest: tuple[Any, ...]) -> Any:
        full = list(rest)
        for k, value in zip(wrt, floats, strict=True):
            full[k] = value
        return fn(*full)

    def product(ps: tuple[Any, ...], vs: tuple[Any, ...]) -> Any:
        floats = tuple(ps[k] for k in wrt)
        gradient = lambda xs: jax.grad(of_floats)(xs, ps)
        if reverse:
            inner = lambda xs: sum(jax.numpy.vdot(g, v) for g, v in zip(gradient(xs), vs, strict=True))
            return jax.grad(inner)(floats)
        return jax.jvp(gradient, (floats,), (vs,))[1]

    return product


def torch_hvp(
    engine: Any, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...], *, reverse: bool
) -> tuple[np.ndarray, ...]:
    """H v with PyTorch: ``torch.func.jvp`` of ``torch.func.grad``, or double backward (``create_graph``)."""
    from verigrad.oracles.torch_engine import _numpy

    torch = engine._torch
    wrt = [k for k, p in enumerate(primals) if _floating(p)]
    if not wrt:
        return _scatter(primals, [], [])
    tensors = [engine._tensor(p) for p in primals]
    vs = tuple(engine._tensor(vectors[k], tensors[k].dtype) for k in wrt)

    def of_floats(*floats: Any) -> Any:
        full = list(tensors)
        for k, value in zip(wrt, floats, strict=True):
            full[k] = value
        return torch.as_tensor(fn(*full))

    floats = tuple(tensors[k] for k in wrt)
    argnums = tuple(range(len(wrt)))
    with torch.enable_grad():
        if reverse:
            leaves = [f.detach().requires_grad_(True) for f in floats]
            out = of_floats(*leaves)
            grads = torch.autograd.grad(out, leaves, create_graph=True, allow_unused=True, materialize_grads=True)
            inner = sum(torch.sum(g * v) for g, v in zip(grads, vs, strict=True))
            result = torch.autograd.grad(inner, leaves, allow_unused=True, materialize_grads=True) if inner.requires_grad else [
                torch.zeros_like(f) for f in floats
            ]
        else:
            result = torch.func.jvp(torch.func.grad(of_floats, argnums=argnums), floats, vs)[1]
    return _scatter(primals, wrt, [_numpy(r) for r in result])
