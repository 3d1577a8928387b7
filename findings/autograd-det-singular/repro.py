"""autograd: grad(np.linalg.det) raises LinAlgError at a singular matrix (the gradient is the cofactor matrix)."""
import autograd.numpy as anp
import numpy as np
from autograd import grad

a = np.array([[1.0, 2.0], [0.0, 0.0]])
want = np.array([[0.0, 0.0], [-2.0, 1.0]])  # d det/dA = [[a22, -a21], [-a12, a11]]: det is a polynomial
try:
    got = grad(anp.linalg.det)(a)
except np.linalg.LinAlgError as error:
    print(f"grad raised LinAlgError: {error} (cofactors {want.tolist()})")
    raise SystemExit(1) from None
print(f"grad = {got.tolist()}, cofactors = {want.tolist()}")
raise SystemExit(int(not np.allclose(got, want, rtol=0, atol=1e-12)))
