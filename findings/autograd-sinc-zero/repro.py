"""autograd: the derivative of np.sinc at 0 is NaN (sinc is smooth there; its derivative is 0)."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

got = grad(anp.sinc)(0.0)
# sinc(x) = sin(pi x)/(pi x), 1 at 0, is even and analytic: sinc'(0) = 0 exactly.
print(f"d sinc/dx at 0 = {got} (must be 0; at 1e-8 autograd gives {grad(anp.sinc)(1e-8):.3g})")
raise SystemExit(int(not np.isfinite(got) or abs(got) > 1e-12))
