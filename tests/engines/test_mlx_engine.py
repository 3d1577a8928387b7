"""The MLX adapter: its namespace covers the extended primal vocabulary, values cross bit for bit,
and its second-order products agree with each other and with a hand-computed Hessian."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mlx") is None, reason="mlx is not installed")

A = np.array([[0.5, -1.25, 2.0], [1.5, 0.75, -0.25]])
B = np.array([[1.0, 0.5, -2.0], [-0.5, 2.5, 1.25]])

#: vocabulary item -> (primal against xp, the same in numpy)
VOCABULARY = {
    "broadcast_add": (lambda xp, a, b: a + b[0], lambda a, b: a + b[0]),
    "power": (lambda xp, a, b: a**3, lambda a, b: a**3),
    "compare_where": (lambda xp, a, b: xp.where(a > b, a, b) * (a >= 0), lambda a, b: np.where(a > b, a, b) * (a >= 0)),
    "matmul_T": (lambda xp, a, b: a @ b.T, lambda a, b: a @ b.T),
    "matvec": (lambda xp, a, b: a @ b[0], lambda a, b: a @ b[0]),
    "exp_tanh_abs_sqrt": (lambda xp, a, b: xp.exp(a) + xp.tanh(b) + xp.sqrt(xp.abs(a)), lambda a, b: np.exp(a) + np.tanh(b) + np.sqrt(np.abs(a))),
    "sigmoid": (lambda xp, a, b: xp.sigmoid(a), lambda a, b: 1 / (1 + np.exp(-a))),
    "minimum_clip": (lambda xp, a, b: xp.minimum(a, b) + xp.clip(a, -0.5, 1.0), lambda a, b: np.minimum(a, b) + np.clip(a, -0.5, 1.0)),
    "reductions": (
        lambda xp, a, b: xp.stack([xp.sum(a), xp.mean(a), xp.max(a), xp.min(a), xp.prod(a), xp.logsumexp(a)]),
        lambda a, b: np.array([a.sum(), a.mean(), a.max(), a.min(), a.prod(), np.log(np.exp(a).sum())]),
    ),
    "axis_keepdims": (lambda xp, a, b: xp.sum(a, axis=1, keepdims=True) * xp.max(b, axis=0), lambda a, b: a.sum(1, keepdims=True) * b.max(0)),
    "softmax": (lambda xp, a, b: xp.softmax(a, axis=1) + xp.log_softmax(b, axis=0),
                lambda a, b: np.exp(a) / np.exp(a).sum(1, keepdims=True) + b - np.log(np.exp(b).sum(0, keepdims=True))),
    "shape_ops": (lambda xp, a, b: xp.reshape(xp.concat([a, xp.zeros_like(b)]), (3, 4)), lambda a, b: np.concatenate([a, 0 * b]).reshape(3, 4)),
    "asarray": (lambda xp, a, b: a * xp.asarray(np.array([1.0, 2.0, 3.0])), lambda a, b: a * np.array([1.0, 2.0, 3.0])),
}


@pytest.fixture(scope="module")
def engine():
    from verigrad.oracles import load_engine

    return load_engine("mlx")


@pytest.mark.parametrize("item", list(VOCABULARY))
def test_vocabulary_item_evaluates_like_numpy(engine, item):
    primal, expected = VOCABULARY[item]
    got = engine.evaluate(lambda a, b: primal(engine.xp, a, b), (A, B))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected(A, B), rtol=1e-6)  # MLX's float64 exp is float32-accurate


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_arrays_cross_bit_for_bit(engine, dtype):
    import ml_dtypes

    np_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    x = np.array([0.1, -3.0, 65504.0 if dtype == "float16" else 1e30, 2.0**-14], dtype=np_dtype)
    (grad,) = engine.vjp(lambda a: a * 1, (x,), x)
    assert grad.dtype == np_dtype
    assert grad.tobytes() == x.tobytes()


@pytest.mark.parametrize("method", ["hvp", "hvp_reverse"])
def test_hessian_vector_product_of_a_cubic(engine, method):
    """f(x, y) = Σ x² y: H v by hand, exact in binary for these inputs."""
    x, y = np.array([1.0, -2.0, 0.5]), np.array([3.0, 0.25, -1.0])
    vx, vy = np.array([1.0, 0.5, -2.0]), np.array([-1.0, 2.0, 0.5])
    fn = lambda a, b: engine.xp.sum(a * a * b)
    hx, hy = getattr(engine, method)(fn, (x, y), (vx, vy))
    # ∂²/∂x² = diag(2y), ∂²/∂x∂y = diag(2x), ∂²/∂y² = 0
    np.testing.assert_array_equal(hx, 2 * y * vx + 2 * x * vy)
    np.testing.assert_array_equal(hy, 2 * x * vx)


def test_complex128_is_refused_not_downcast(engine):
    # MLX holds complex64 only; a silent downcast would pass float32-accurate complex steps off as complex128.
    with pytest.raises(TypeError, match="complex128"):
        engine.evaluate(lambda a: a * a, (A.astype(np.complex128),))
