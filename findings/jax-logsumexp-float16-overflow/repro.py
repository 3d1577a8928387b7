"""jax: logsumexp of 70,000 equal float16 values is inf (true 11.156) and its gradient 0 (true 1/70000)."""
import jax
import jax.numpy as jnp
import numpy as np

n = 70_000
x = jnp.zeros(n, dtype=jnp.float16)
value, grad = jax.value_and_grad(jax.nn.logsumexp)(x)
true_value, true_grad = np.log(n), 1 / n  # log(n * e^0); softmax_i = 1/n
got = np.asarray(grad, dtype=np.float64)
print(f"logsumexp = {float(value)!r} (true {true_value:.5g}), grad[0] = {got[0]!r} (true {true_grad:.4g})")
raise SystemExit(int(not (np.isclose(float(value), true_value, rtol=1e-2) and np.allclose(got, true_grad, rtol=1e-2))))
