"""torch: the eager backward of torch.linalg.det at a singular matrix of rank n - 1 is 0 (it is the cofactor matrix)."""
import numpy as np
import torch

a = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
torch.linalg.det(a).backward()
got = a.grad.numpy()
# det is a polynomial: d det/dA = cofactor matrix = [[a22, -a21], [-a12, a11]] = [[0, 0], [-2, 1]] here.
want = np.array([[0.0, 0.0], [-2.0, 1.0]])
print(f"grad = {got.tolist()}, cofactors = {want.tolist()}, torch.func.grad = {torch.func.grad(torch.linalg.det)(a.detach()).tolist()}")
raise SystemExit(int(not np.allclose(got, want, rtol=0, atol=1e-12)))
