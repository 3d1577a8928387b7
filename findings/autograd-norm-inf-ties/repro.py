"""autograd: the gradient of np.linalg.norm(x, ord=inf) gives every tied |x_i| the whole mass (sum of |g| = k, not 1)."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

x = np.array([1.0, -1.0, 0.5])  # |x_0| = |x_1| = 1 tie for the maximum
got = grad(lambda a: anp.linalg.norm(a, ord=np.inf))(x)
# The subdifferential of max|x_i| here is {(w, -(1 - w), 0) : w in [0, 1]}: |g| sums to 1 (torch, jax, mlx: (0.5, -0.5, 0)).
print(f"grad = {got.tolist()} (|g| sums to {np.abs(got).sum():g}; it must be 1, on the tied entries, with their signs)")
ok = np.isclose(np.abs(got).sum(), 1.0) and got[2] == 0 and got[0] >= 0 >= got[1]
raise SystemExit(int(not ok))
