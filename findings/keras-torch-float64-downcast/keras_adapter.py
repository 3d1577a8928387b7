"""The adapter that caught this finding: keras.ops (Keras 3, torch backend) as the primal vocabulary, as a user writes one.

The catalog's functions are written in ``keras.ops`` (Keras' own composites: ``std``, ``norm``, ``logsumexp``…);
the derivatives are torch's (``torch.autograd.grad``, ``torch.func.jvp``), since keras.ops on torch returns
torch tensors.  Run it from this folder (Keras and torch installed):
``verigrad check keras_adapter:Engine --dtype float64,float32,float16 -j 2``.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
from types import SimpleNamespace

import keras
import numpy as np
import torch

ops = keras.ops
#: keras.ops has numpy's names and signatures (axis, keepdims) for most of the primal vocabulary.
SAME_NAMES = ("exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "maximum", "minimum", "clip", "where", "zeros_like",
              "sum", "mean", "max", "min", "prod", "logsumexp", "reshape", "sigmoid", "softmax", "log_softmax", "hypot",
              "norm")  # hypot, norm: optional vocabulary, Keras' own


def _std(a, axis=None, keepdims=False, ddof=0):
    """Keras' own std (ddof 0), rescaled for ddof: var · n / (n − ddof)."""
    n = int(np.prod(a.shape)) if axis is None else a.shape[axis]
    return ops.sqrt(ops.var(a, axis=axis, keepdims=keepdims) * (n / (n - ddof))) if ddof else ops.std(a, axis=axis, keepdims=keepdims)


class Engine:
    name = "keras-torch"
    supported_dtypes = ("float64", "float32", "float16")
    xp = SimpleNamespace(
        **{name: getattr(ops, name) for name in SAME_NAMES}, asarray=ops.convert_to_tensor,
        stack=lambda arrays, axis=0: ops.stack(list(arrays), axis=axis),
        concat=lambda arrays, axis=0: ops.concatenate(list(arrays), axis=axis),
        std=_std,  # optional vocabulary
    )

    def vjp(self, fn, primals, cotangent):
        floats = [k for k, p in enumerate(primals) if p.dtype.kind == "f"]
        leaves = [torch.tensor(np.array(p), requires_grad=k in floats) for k, p in enumerate(primals)]
        out = fn(*leaves)
        seed = torch.as_tensor(np.asarray(cotangent), dtype=out.dtype).reshape(out.shape)
        grads = torch.autograd.grad(out, [leaves[k] for k in floats], seed, allow_unused=True)
        by_index = dict(zip(floats, grads, strict=True))
        return tuple(by_index[k].detach().numpy() if by_index.get(k) is not None else np.zeros_like(p) for k, p in enumerate(primals))

    def jvp(self, fn, primals, tangents):
        floats = [k for k, p in enumerate(primals) if p.dtype.kind == "f"]
        fixed = [torch.tensor(np.array(p)) for p in primals]

        def of_floats(*xs):
            args = list(fixed)
            for k, x in zip(floats, xs, strict=True):
                args[k] = x
            return fn(*args)

        _, out = torch.func.jvp(of_floats, tuple(fixed[k] for k in floats), tuple(torch.tensor(np.array(tangents[k], dtype=primals[k].dtype)) for k in floats))
        return out.detach().numpy()
