"""autograd: the gradient of np.linalg.norm(x, ord=inf) is NaN unless max |x_i| is 1, and gives every tie the whole mass."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

norm_inf = grad(lambda a: anp.linalg.norm(a, ord=np.inf))
unique = norm_inf(np.array([0.5, 1.825]))  # the largest |x_i| is unique: the gradient is (0, 1)
tied = norm_inf(np.array([1.0, -1.0, 0.5]))  # |x_0| = |x_1| tie: (w, -(1 - w), 0), |g| summing to 1
print(f"grad at [0.5, 1.825] = {unique.tolist()} (exact [0, 1]); at [1, -1, 0.5] = {tied.tolist()} (|g| must sum to 1)")
ok = np.allclose(unique, [0.0, 1.0]) and np.isclose(np.abs(tied).sum(), 1.0) and tied[2] == 0
raise SystemExit(int(not ok))
