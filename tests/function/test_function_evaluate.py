"""The optional engine method evaluate(fn, primals): the forward value in the primals' dtype, on every built-in engine."""

from __future__ import annotations

import numpy as np
import pytest
from verigrad.oracles import BUILTIN_ENGINES, load_engine

X, Y = np.array([0.5, -1.25, 3.0]), np.array([2.0, 0.25, -1.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(BUILTIN_ENGINES))
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
