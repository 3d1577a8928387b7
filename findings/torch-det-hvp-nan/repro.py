"""torch: Hessian-vector products of torch.linalg.det are NaN at the identity (forward over reverse) and at 0 (both modes)."""
import numpy as np
import torch
from torch.func import grad, jvp

v = torch.tensor([[0.5, 0.0, 1.0], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0]], dtype=torch.float64)
at_identity = jvp(grad(torch.linalg.det), (torch.eye(3, dtype=torch.float64),), (v,))[1].numpy()
# det is a polynomial; H v at I is the derivative of the cofactor matrix along v: here [[1, 0, -2], [0, 0.5, 0], [-1, 0, 1.5]].
want = np.array([[1.0, 0.0, -2.0], [0.0, 0.5, 0.0], [-1.0, 0.0, 1.5]])
at_zero = jvp(grad(torch.linalg.det), (torch.zeros(3, 3, dtype=torch.float64),), (v,))[1].numpy()  # exactly 0 for 3 x 3
print(f"H v at I: {at_identity.tolist()} (exact {want.tolist()}); H v at 0: {at_zero.tolist()} (exact 0)")
raise SystemExit(int(not (np.allclose(at_identity, want, atol=1e-12) and np.allclose(at_zero, 0.0, atol=1e-12))))
