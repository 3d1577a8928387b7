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


def _reduction(reduce):
    return lambda a, axis=None, keepdims=False: reduce(a, axis=axis, keepdims=keepdims)


class Engine:
    name = "keras-torch"
    supported_dtypes = ("float64", "float32", "float16")
    xp = SimpleNamespace(
        exp=ops.exp, log=ops.log, sin=ops.sin, cos=ops.cos, tanh=ops.tanh, sqrt=ops.sqrt, abs=ops.abs,
        maximum=ops.maximum, minimum=ops.minimum, clip=ops.clip, where=ops.where, zeros_like=ops.zeros_like,
        sum=_reduction(ops.sum), mean=_reduction(ops.mean), max=_reduction(ops.max), min=_reduction(ops.min),
        prod=_reduction(ops.prod), logsumexp=_reduction(ops.logsumexp),
        stack=lambda arrays, axis=0: ops.stack(list(arrays), axis=axis),
        concat=lambda arrays, axis=0: ops.concatenate(list(arrays), axis=axis),
        reshape=ops.reshape, asarray=ops.convert_to_tensor, sigmoid=ops.sigmoid,
        softmax=lambda a, axis=-1: ops.softmax(a, axis=axis), log_softmax=lambda a, axis=-1: ops.log_softmax(a, axis=axis),
        # optional vocabulary: keras' own composites
        std=lambda a, axis=None, keepdims=False, ddof=0: ops.std(a, axis=axis, keepdims=keepdims) if ddof == 0 else ops.sqrt(ops.var(a, axis=axis, keepdims=keepdims) * a.shape[0] / (a.shape[0] - ddof)),
        norm=lambda a, ord=None, axis=None, keepdims=False: ops.norm(a, ord=ord, axis=axis, keepdims=keepdims),
        hypot=ops.hypot,
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
