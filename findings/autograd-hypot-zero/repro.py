"""autograd: the gradient of np.hypot at (0, 0) is NaN (any (s, t) with s² + t² <= 1 is a subgradient; NaN is not)."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

got = np.array([grad(anp.hypot, 0)(0.0, 0.0), grad(anp.hypot, 1)(0.0, 0.0)])
# hypot(a, b) is the 2-norm of (a, b): at (0, 0) its subdifferential is the closed unit disc.
print(f"d/da = {got[0]}, d/db = {got[1]} (must be finite with s^2 + t^2 <= 1, e.g. 0)")
raise SystemExit(int(not (np.all(np.isfinite(got)) and got[0] ** 2 + got[1] ** 2 <= 1.0)))
