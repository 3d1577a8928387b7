"""The adapter that caught this finding: PyTensor behind verigrad's engine protocol, as a user writes one.

Each (vjp or jvp, fn, shapes and dtypes) is built once as a symbolic graph and compiled with the Python
linker (no C compiler needed); vjp is ``pytensor.grad`` with the cotangent as a known gradient, jvp is
``pytensor.gradient.Rop`` (its default: the pushforward through two pullbacks).  Run it from this folder:
``verigrad check pytensor_adapter:Engine --dtype float64,float32 -j 2``.
"""
from types import SimpleNamespace

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode

MODE = Mode(linker="py", optimizer="fast_run")


def _reduction(reduce):
    return lambda a, axis=None, keepdims=False: reduce(a, axis=axis, keepdims=keepdims)


class Engine:
    name = "pytensor"
    supported_dtypes = ("float64", "float32")
    xp = SimpleNamespace(  # the primal vocabulary, for PyTensor variables
        exp=pt.exp, log=pt.log, sin=pt.sin, cos=pt.cos, tanh=pt.tanh, sqrt=pt.sqrt, abs=pt.abs, sigmoid=pt.sigmoid,
        maximum=pt.maximum, minimum=pt.minimum, clip=pt.clip, where=pt.switch, zeros_like=pt.zeros_like,
        sum=_reduction(pt.sum), mean=_reduction(pt.mean), max=_reduction(pt.max), min=_reduction(pt.min),
        prod=_reduction(pt.prod), logsumexp=_reduction(pt.logsumexp),
        stack=lambda arrays, axis=0: pt.stack(list(arrays), axis=axis),
        concat=lambda arrays, axis=0: pt.concatenate(list(arrays), axis=axis),
        reshape=pt.reshape, asarray=pt.as_tensor_variable,
        softmax=lambda a, axis=-1: pt.special.softmax(a, axis=axis),
        log_softmax=lambda a, axis=-1: pt.special.log_softmax(a, axis=axis),
    )

    def __init__(self):
        self._compiled = {}

    def _function(self, mode, fn, primals):
        """The compiled vjp or jvp of fn at these shapes and dtypes, its output's dtype and shape."""
        key = (mode, fn, tuple((p.shape, p.dtype.str) for p in primals))
        if key not in self._compiled:
            inputs = [pt.tensor(dtype=str(p.dtype), shape=p.shape) for p in primals]
            out = pt.as_tensor_variable(fn(*inputs))
            wrt = [v for v, p in zip(inputs, primals, strict=True) if p.dtype.kind == "f"]
            if mode == "vjp":
                seed = pt.tensor(dtype=out.dtype, shape=out.type.shape)
                grads = pytensor.grad(None, wrt, known_grads={out: seed}, disconnected_inputs="ignore",
                                      return_disconnected="zero")
                function = pytensor.function([*inputs, seed], grads, mode=MODE, on_unused_input="ignore")
            else:
                tangents = [pt.tensor(dtype=v.dtype, shape=v.type.shape) for v in wrt]
                jvp = pytensor.gradient.Rop(out, wrt, tangents, disconnected_outputs="ignore")
                function = pytensor.function([*inputs, *tangents], jvp, mode=MODE, on_unused_input="ignore")
            self._compiled[key] = function, out.dtype, out.type.shape
        return self._compiled[key]

    def vjp(self, fn, primals, cotangent):
        primals = tuple(np.asarray(p) for p in primals)
        function, dtype, shape = self._function("vjp", fn, primals)
        grads = iter(function(*primals, np.asarray(cotangent, dtype=dtype).reshape(shape)))
        return tuple(np.asarray(next(grads)) if p.dtype.kind == "f" else np.zeros_like(p) for p in primals)

    def jvp(self, fn, primals, tangents):
        primals = tuple(np.asarray(p) for p in primals)
        function, _, _ = self._function("jvp", fn, primals)
        floats = [np.asarray(t, dtype=p.dtype) for t, p in zip(tangents, primals, strict=True) if p.dtype.kind == "f"]
        return np.asarray(function(*primals, *floats))
