"""findings/jax-power-float-zero-exponent-at-zero is caught as its note says: by a check of any function."""

from __future__ import annotations

import numpy as np
import pytest

from verigrad import check_function

jnp = pytest.importorskip("jax.numpy", reason="the finding is JAX's")


@pytest.mark.verigrad_full_only  # seconds of JAX compiles; .ci/run runs it
def test_check_function_shows_the_nan_derivative_of_a_float_zero_power() -> None:
    result = check_function(lambda x: jnp.power(x, 0.0), (np.array([0.0, 1.0, 2.0]),), "jax",
                            properties=["vjp", "jvp"], examples=10, seed=0)
    assert not result.passed
    assert {v.property: (v.diagnosis or {}).get("kind") for v in result.verdicts if v.dtype == "float64"} == \
        {"vjp": "non_finite", "jvp": "non_finite"}, result.summary()


@pytest.mark.verigrad_full_only
def test_the_integer_power_it_is_compared_with_passes() -> None:
    result = check_function(lambda x: x**0, (np.array([0.0, 1.0, 2.0]),), "jax", properties=["vjp", "jvp"],
                            examples=10, seed=0)
    assert result.passed, result.summary()
