"""autograd: the gradient of np.prod is NaN at an input that is exactly zero (it is the product of the others)."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

x = np.array([0.0, 2.0, 3.0])
got = grad(anp.prod)(x)
true = np.array([2.0 * 3.0, 0.0 * 3.0, 0.0 * 2.0])  # d/dx_i prod(x) = prod_{j != i} x_j
print(f"grad = {got} (true {true})")
raise SystemExit(int(not np.array_equal(got, true)))
