"""The adapter that caught this finding: TensorFlow behind verigrad's engine protocol, as a user writes one.

Eager: ``tf.GradientTape`` for VJPs, ``tf.autodiff.ForwardAccumulator`` for JVPs; the primal vocabulary from
``tf.experimental.numpy`` with numpy behavior on (the catalog's ``X @ w`` multiplies a matrix by a vector). Run
it from this folder: ``verigrad check tensorflow_adapter:Engine --dtype float64,float32,float16,bfloat16 -j 2``.
"""
from types import SimpleNamespace

import numpy as np
import tensorflow as tf
import tensorflow.experimental.numpy as tnp

tnp.experimental_enable_numpy_behavior(prefer_float32=True)  # numpy semantics for operators (X @ w on a vector)


def _reduction(reduce):
    return lambda a, axis=None, keepdims=False: reduce(a, axis=axis, keepdims=keepdims)


class Engine:
    name = "tensorflow"
    supported_dtypes = ("float64", "float32", "float16", "bfloat16")
    xp = SimpleNamespace(
        exp=tnp.exp, log=tnp.log, sin=tnp.sin, cos=tnp.cos, tanh=tnp.tanh, sqrt=tnp.sqrt, abs=tnp.abs,
        maximum=tnp.maximum, minimum=tnp.minimum, clip=tnp.clip, where=tnp.where, zeros_like=tnp.zeros_like,
        sum=_reduction(tnp.sum), mean=_reduction(tnp.mean), max=_reduction(tnp.max), min=_reduction(tnp.min),
        prod=_reduction(tnp.prod), logsumexp=_reduction(lambda a, axis, keepdims: tf.reduce_logsumexp(a, axis, keepdims)),
        stack=lambda arrays, axis=0: tnp.stack(list(arrays), axis=axis),
        concat=lambda arrays, axis=0: tnp.concatenate(list(arrays), axis=axis),
        reshape=tnp.reshape, asarray=tnp.asarray, sigmoid=tf.math.sigmoid,
        softmax=lambda a, axis=-1: tf.nn.softmax(a, axis=axis),
        log_softmax=lambda a, axis=-1: tf.nn.log_softmax(a, axis=axis),
    )

    def vjp(self, fn, primals, cotangent):
        leaves = [tf.constant(p) for p in primals]
        floats = [k for k, p in enumerate(primals) if p.dtype.kind == "f" or p.dtype.name == "bfloat16"]
        with tf.GradientTape() as tape:
            tape.watch([leaves[k] for k in floats])
            out = fn(*leaves)
        seed = tf.constant(np.asarray(cotangent, dtype=out.dtype.as_numpy_dtype))
        grads = tape.gradient(out, [leaves[k] for k in floats], output_gradients=seed,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        by_index = dict(zip(floats, grads, strict=True))
        return tuple(by_index[k].numpy() if k in by_index else np.zeros_like(p) for k, p in enumerate(primals))

    def jvp(self, fn, primals, tangents):
        leaves = [tf.constant(p) for p in primals]
        floats = [k for k, p in enumerate(primals) if p.dtype.kind == "f" or p.dtype.name == "bfloat16"]
        with tf.autodiff.ForwardAccumulator([leaves[k] for k in floats], [tf.constant(tangents[k]) for k in floats]) as acc:
            out = fn(*leaves)
        return acc.jvp(out, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy()
