"""JAX: the derivative of jnp.power(x, 0.0) at x = 0 is NaN (x ** 0.0 = 1 everywhere); x ** 0 (an int) gives 0."""
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
wrong = 0
for dtype in (jnp.float64, jnp.float32):
    zero = jnp.zeros((), dtype)
    power = lambda x, y=zero: jnp.power(x, y)  # y: a floating 0.0 exponent, bound here
    grad = jax.grad(power)(zero)
    tangent = jax.jvp(power, (zero,), (jnp.ones((), dtype),))[1]
    integer = jax.grad(lambda x: x**0)(zero)
    print(f"{jnp.dtype(dtype).name}: d/dx x**0.0 at 0: grad {grad}, jvp {tangent}; d/dx x**0 (int): {integer} (all must be 0)")
    wrong += not (np.isfinite(grad) and np.isfinite(tangent))
raise SystemExit(int(wrong > 0))
