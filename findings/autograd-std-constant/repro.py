"""autograd: the gradient of np.std at a constant vector is NaN (0 is a subgradient; NaN is not)."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

got = grad(anp.std)(np.full(4, 1.5))
# The subdifferential of std at a constant x is {g : sum(g) = 0, ||g|| <= 1/sqrt(n - ddof)}: 0 is in it, NaN is not.
print(f"grad = {got} (must be finite with sum 0 and norm <= {1 / np.sqrt(4):.2f}, e.g. [0. 0. 0. 0.])")
raise SystemExit(int(not (np.all(np.isfinite(got)) and abs(got.sum()) <= 1e-6 and np.linalg.norm(got) <= 0.5 + 1e-6)))
