"""jax: the gradient of jnp.max over a 2-D bfloat16 array of ties has mass 4, not 1 (the tie count is summed in bfloat16)."""
import jax
import jax.numpy as jnp
import numpy as np

x = jnp.ones((64, 64), dtype=jnp.bfloat16)  # 4096 ties
got = np.asarray(jax.grad(jnp.max)(x), dtype=np.float64)
# Every split of the unit cotangent over the ties is a subgradient: weights >= 0 summing to 1.
print(f"grad[0, 0] = {got[0, 0]!r} (1/k = {1 / x.size:.4g}), mass = {got.sum()!r} (must be 1)")
raise SystemExit(int(not abs(got.sum() - 1.0) < 0.05))  # bfloat16 rounds each share by at most 2^-9: mass within 0.4 %
