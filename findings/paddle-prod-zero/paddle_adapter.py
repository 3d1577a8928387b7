"""The adapter that caught this finding: PaddlePaddle behind verigrad's engine protocol, as a user writes one.

Eager (dygraph): ``paddle.grad`` for VJPs, ``paddle.incubate.autograd.jvp`` (the double-backward trick) for JVPs,
integer primals held fixed.  Run it from this folder:
``verigrad check paddle_adapter:Engine --dtype float64,float32,float16 -j 2``.
"""
from types import SimpleNamespace

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle.incubate.autograd import jvp as paddle_jvp


def _reduction(reduce):
    return lambda a, axis=None, keepdims=False: reduce(a, axis=axis, keepdim=keepdims)


class Engine:
    name = "paddle"
    supported_dtypes = ("float64", "float32", "float16")
    xp = SimpleNamespace(
        exp=paddle.exp, log=paddle.log, sin=paddle.sin, cos=paddle.cos, tanh=paddle.tanh, sqrt=paddle.sqrt,
        abs=paddle.abs, maximum=paddle.maximum, minimum=paddle.minimum, clip=paddle.clip, where=paddle.where,
        zeros_like=paddle.zeros_like, sum=_reduction(paddle.sum), mean=_reduction(paddle.mean),
        max=_reduction(paddle.max), min=_reduction(paddle.min), prod=_reduction(paddle.prod),
        logsumexp=_reduction(paddle.logsumexp),
        stack=lambda arrays, axis=0: paddle.stack(list(arrays), axis=axis),
        concat=lambda arrays, axis=0: paddle.concat(list(arrays), axis=axis),
        reshape=lambda a, shape: paddle.reshape(a, list(shape)), asarray=paddle.to_tensor, sigmoid=F.sigmoid,
        softmax=lambda a, axis=-1: F.softmax(a, axis=axis), log_softmax=lambda a, axis=-1: F.log_softmax(a, axis=axis),
    )

    def vjp(self, fn, primals, cotangent):
        floats = [k for k, p in enumerate(primals) if p.dtype.kind == "f"]
        leaves = [paddle.to_tensor(p, stop_gradient=k not in floats) for k, p in enumerate(primals)]
        out = fn(*leaves)
        seed = paddle.to_tensor(np.asarray(cotangent)).astype(out.dtype).reshape(out.shape)
        grads = paddle.grad([out], [leaves[k] for k in floats], grad_outputs=[seed], allow_unused=True)
        by_index = dict(zip(floats, grads, strict=True))
        return tuple(by_index[k].numpy() if by_index.get(k) is not None else np.zeros_like(p) for k, p in enumerate(primals))

    def jvp(self, fn, primals, tangents):
        floats = [k for k, p in enumerate(primals) if p.dtype.kind == "f"]
        fixed = [paddle.to_tensor(p) for p in primals]

        def of_floats(*xs):
            args = list(fixed)
            for k, x in zip(floats, xs, strict=True):
                args[k] = x
            return fn(*args)

        xs = [paddle.to_tensor(primals[k], stop_gradient=False) for k in floats]
        vs = [paddle.to_tensor(np.asarray(tangents[k], dtype=primals[k].dtype)) for k in floats]
        _, out = paddle_jvp(of_floats, xs, vs)
        return out.numpy()
