"""The optional engine method evaluate(fn, primals): the forward value in the primals' dtype, on every built-in engine."""

from __future__ import annotations

import numpy as np
import pytest

from verigrad.oracles import BUILTIN_ENGINES, load_engine

X, Y = np.array([0.5, -1.25, 3.0]), np.array([2.0, 0.25, -1.0])


#: Engines whose float64 sin is known to be less accurate than float64 (pinned in oracles/known_outcomes.txt).
FLOAT64_SIN_BUG = {"mlx": "mlx 0.32's float64 sin is only float32-accurate (oracles/known_outcomes.txt)"}


def _params() -> list:
    return [
        pytest.param(name, dtype, marks=pytest.mark.xfail(strict=True, reason=FLOAT64_SIN_BUG[name]))
        if dtype == "float64" and name in FLOAT64_SIN_BUG else pytest.param(name, dtype)
        for name in sorted(BUILTIN_ENGINES) for dtype in ("float64", "float32")
    ]


@pytest.mark.parametrize(("name", "dtype"), _params())
def test_evaluate_gives_the_forward_in_the_primals_dtype(name: str, dtype: str) -> None:
    engine = load_engine(name)
    fn = lambda a, b: engine.xp.sum(engine.xp.sin(a) * b)
    value = engine.evaluate(fn, (X.astype(dtype), Y.astype(dtype)))
    assert isinstance(value, np.ndarray) and value.dtype == np.dtype(dtype) and value.shape == ()
    exact = np.sum(np.sin(X) * Y)
    assert abs(float(value) - exact) <= 16 * np.finfo(dtype).eps * np.sum(np.abs(np.sin(X) * Y))


@pytest.mark.parametrize("name", sorted(BUILTIN_ENGINES))
def test_evaluate_leaves_the_callers_arrays_alone(name: str) -> None:
    engine = load_engine(name)
    x = X.copy()
    engine.evaluate(lambda a: a * 2.0, (x,))
    assert np.array_equal(x, X)
