"""jax.grad(jnp.sinc) near (not at) 0 is -inf: sinc is smooth there, its derivative -π²x/3 is tiny and finite."""
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
results = {}
for dtype, x in ((jnp.float16, 1e-3), (jnp.float32, 1e-20), (jnp.float64, 1e-200)):
    results[dtype.__name__] = float(jax.grad(jnp.sinc)(dtype(x)))
    print(f"{dtype.__name__}: grad sinc({x:g}) = {results[dtype.__name__]!r} (exact {-np.pi**2 * x / 3:.3g})")
raise SystemExit(int(not all(np.isfinite(list(results.values())))))
