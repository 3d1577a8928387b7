"""PyTorch as a verigrad engine: reverse mode via ``torch.autograd.grad``,
forward mode via ``torch.autograd.forward_ad`` (dual tensors, not a vjp trick).

``xp`` is ``array_api_compat.torch``: it supplies the array-API names the
primal vocabulary uses (``concat``, ``clip``, ``sum``/``max``/... with ``axis``
and ``keepdims``; ``max`` is ``amax``, which splits a tie evenly) on top of
torch's own functions; ``sigmoid``, ``logsumexp``, ``softmax`` and
``log_softmax`` are torch's, called with ``dim``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from verigrad.oracles.namespaces import Namespace
from verigrad.oracles.second_order import torch_hvp

__all__ = ["TorchEngine"]


class TorchEngine:
    """PyTorch on the CPU, in the primals' own precision."""

    name: str = "torch"

    def __init__(self, device: str | None = None) -> None:
        """``device`` is a torch device ("cpu", "cuda", "cuda:1", "mps"); None is the CPU."""
        import array_api_compat.torch as xp  # heavy: imported only when this engine is loaded
        import torch
        import torch.autograd.forward_ad as forward_ad

        self._torch = torch
        self._forward_ad = forward_ad
        self._device = torch.device(device or "cpu")
        self.xp: Any = _namespace(torch, xp, self._device)
        if self._device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r}: torch {torch.__version__} sees no CUDA device")
        if device:
            self.name = f"torch-{device}"

    def _tensor(self, array: np.ndarray, dtype: Any = None) -> Any:
        """A fresh tensor owning a copy: torch never sees (or can write to) the caller's memory.

        Each primal becomes its own leaf, even when one numpy array is passed twice.
        """
        array = np.array(array, copy=True)
        if array.dtype.name == "bfloat16":  # ml_dtypes.bfloat16, which torch.from_numpy does not know: its bits
            tensor = self._torch.from_numpy(array.view(np.int16)).view(self._torch.bfloat16).to(self._device)
        else:
            tensor = self._torch.from_numpy(array).to(self._device)
        return tensor if dtype is None else tensor.to(dtype)

    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        """uᵀ J for every primal via ``torch.autograd.grad``."""
        torch = self._torch
        with torch.enable_grad():  # the caller may be inside torch.no_grad()
            leaves = [self._tensor(p) for p in primals]
            for leaf in leaves:
                leaf.requires_grad_(leaf.is_floating_point())
            out = torch.as_tensor(fn(*leaves))
            wrt = [leaf for leaf in leaves if leaf.requires_grad]
            grads: list[Any] = [None] * len(wrt)
            # An output that depends on no input has no graph: torch cannot
            # differentiate it, but its derivative is exactly zero.
            if out.requires_grad and wrt:
                ct = self._tensor(np.asarray(cotangent), out.dtype).reshape(out.shape)
                grads = list(torch.autograd.grad(out, wrt, grad_outputs=ct, allow_unused=True))
        by_leaf = dict(zip(map(id, wrt), grads, strict=True))
        result = []
        for primal, leaf in zip(primals, leaves, strict=True):
            grad = by_leaf.get(id(leaf))
            # None: the output does not depend on this input (allow_unused), so exact zeros.
            result.append(np.zeros(np.shape(primal), np.asarray(primal).dtype) if grad is None else _numpy(grad))
        return tuple(result)

    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> np.ndarray:
        """Σ_k J_k v_k by forward-mode AD with dual tensors."""
        torch, fwad = self._torch, self._forward_ad
        with fwad.dual_level():
            duals = []
            for primal, tangent in zip(primals, tangents, strict=True):
                p = self._tensor(primal)
                duals.append(fwad.make_dual(p, self._tensor(tangent, p.dtype)) if p.is_floating_point() else p)
            out = torch.as_tensor(fn(*duals))
            primal_out, tangent_out = fwad.unpack_dual(out)
            # No tangent: the output depends on no input, so its derivative is exactly zero.
            if tangent_out is None:
                return np.zeros(tuple(primal_out.shape), _numpy(primal_out).dtype)
            return _numpy(tangent_out)

    def hvp(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """H v of a scalar-output fn, forward over reverse (``torch.func.jvp`` of ``torch.func.grad``)."""
        return torch_hvp(self, fn, primals, vectors, reverse=False)

    def hvp_reverse(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], vectors: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """H v of a scalar-output fn, reverse over reverse (double backward with ``create_graph``)."""
        return torch_hvp(self, fn, primals, vectors, reverse=True)

    def evaluate(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        """fn's forward value at the primals, in their dtype (no graph is recorded)."""
        with self._torch.no_grad():
            return _numpy(self._torch.as_tensor(fn(*(self._tensor(p) for p in primals))))


def _namespace(torch: Any, xp: Any, device: Any) -> Namespace:
    """array_api_compat.torch plus the vocabulary names it lacks (torch's own functions, ``dim`` for ``axis``)."""

    def logsumexp(a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        # torch.logsumexp has no "every axis" default: name them all.
        return torch.logsumexp(a, dim=tuple(range(a.ndim)) if axis is None else axis, keepdim=keepdims)

    return Namespace(
        xp,
        sigmoid=torch.sigmoid,
        logsumexp=logsumexp,
        softmax=lambda a, axis=-1: torch.softmax(a, dim=axis),
        log_softmax=lambda a, axis=-1: torch.log_softmax(a, dim=axis),
        # Explicit: torch.norm (which the namespace would otherwise find) takes p and dim, not axis.
        norm=lambda a, axis=None, keepdims=False, ord=2: torch.linalg.vector_norm(a, ord=ord, dim=axis, keepdim=keepdims),
        std=lambda a, axis=None, keepdims=False, ddof=0: torch.std(a, dim=axis, correction=ddof, keepdim=keepdims),
        hypot=torch.hypot,
        sinc=torch.sinc,
        det=torch.linalg.det,
        # A copy on the engine's device (array_api_compat's asarray would leave it on the CPU).
        asarray=lambda array: torch.tensor(np.asarray(array), device=device),
    )


def _numpy(tensor: Any) -> np.ndarray:
    """A numpy copy (not a view of torch's storage); bfloat16 as ml_dtypes.bfloat16, bit for bit."""
    import torch

    tensor = tensor.detach().cpu()
    if tensor._is_zerotensor():  # forward AD's symbolic zero (a piecewise-linear function's second derivative)
        tensor = torch.zeros(tensor.shape, dtype=tensor.dtype)
    if tensor.dtype == torch.bfloat16:
        import ml_dtypes

        return np.array(tensor.view(torch.int16).numpy(), copy=True).view(ml_dtypes.bfloat16)
    return np.array(tensor.numpy(), copy=True)
