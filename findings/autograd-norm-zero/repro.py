"""autograd: the gradient of np.linalg.norm at the zero vector is NaN (0 is a subgradient; NaN is not)."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

got = grad(anp.linalg.norm)(np.zeros(3))
# The subdifferential of ||x||_2 at 0 is the closed unit ball: any finite g with ||g|| <= 1 is right.
print(f"grad = {got} (must be finite with norm <= 1, e.g. [0. 0. 0.])")
raise SystemExit(int(not (np.all(np.isfinite(got)) and np.linalg.norm(got) <= 1.0)))
