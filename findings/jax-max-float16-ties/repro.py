"""jax: the gradient of jnp.max over >= 65,520 float16 ties is all zeros (the tie count overflows float16)."""
import jax
import jax.numpy as jnp
import numpy as np

n = 70_000
got = np.asarray(jax.grad(jnp.max)(jnp.ones(n, dtype=jnp.float16)), dtype=np.float64)
# Every split of the unit cotangent over the ties is a subgradient: weights >= 0 summing to 1.
print(f"grad[0] = {got[0]!r}, sum = {got.sum()!r} (must be 1; 1/n = {1 / n:.4g})")
raise SystemExit(int(not abs(got.sum() - 1.0) < 0.01))  # each within half a float16 subnormal spacing of 1/n: sum within 0.3 %
