"""Custom gradient rules for the function-check tests: correct ones and deliberately wrong ones."""

from __future__ import annotations

import torch


class Sin(torch.autograd.Function):
    """sin with its hand-written backward (correct)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.cos(x)


class SinWrongSign(torch.autograd.Function):
    """sin whose backward forgot that d cos = -sin ... and flipped the sign of cos instead."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return -grad * torch.cos(x)


class HalfClamp(torch.autograd.Function):
    """clamp to [-1, 1] whose derivative is ½ at the bounds (a valid subgradient)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.clamp(x, -1.0, 1.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        inside = (x.abs() < 1).to(grad.dtype)
        at_bound = (x.abs() == 1).to(grad.dtype)
        return grad * (inside + 0.5 * at_bound)


class DoubleClamp(torch.autograd.Function):
    """clamp to [-1, 1] whose derivative is 2 at the bounds: outside the subdifferential [0, 1]."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.clamp(x, -1.0, 1.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        inside = (x.abs() < 1).to(grad.dtype)
        at_bound = (x.abs() == 1).to(grad.dtype)
        return grad * (inside + 2.0 * at_bound)


class SquareWrongJvp(torch.autograd.Function):
    """x² with a right backward and a forward-mode rule that forgot the factor 2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.x = x
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * grad * x

    @staticmethod
    def jvp(ctx, tangent):
        return ctx.x * tangent


def sin_product(a, b):
    """A plain torch function of two inputs of one shape (aliasable)."""
    return a * torch.sin(b)


class TorchWithHvp:
    """The torch engine plus hvp (forward over reverse: torch.func.jvp of torch.func.grad), scaled by ``factor``."""

    def __init__(self, factor: float = 1.0) -> None:
        from verigrad.oracles.torch_engine import TorchEngine

        self.inner = TorchEngine()
        self.factor = factor
        self.name = "torch-hvp" if factor == 1.0 else f"torch-hvp-x{factor:g}"
        self.xp = self.inner.xp

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def hvp(self, fn, primals, vectors):
        tensors = tuple(torch.tensor(p) for p in primals)
        argnums = tuple(range(len(tensors)))
        grad = torch.func.grad(fn, argnums=argnums)
        _, pushed = torch.func.jvp(grad, tensors, tuple(torch.tensor(v) for v in vectors))
        return tuple((self.factor * t).numpy().astype(p.dtype) for t, p in zip(pushed, primals, strict=True))


class TorchFirstOrderOnly:
    """The torch engine without its hvp methods: an engine that offers first derivatives only."""

    name = "torch-first-order"

    def __init__(self) -> None:
        from verigrad.oracles.torch_engine import TorchEngine

        self.inner = TorchEngine()
        self.xp = self.inner.xp
        self.vjp, self.jvp, self.evaluate = self.inner.vjp, self.inner.jvp, self.inner.evaluate
