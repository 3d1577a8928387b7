"""torch: the gradient of torch.hypot at (0, 0) is NaN (any (s, t) with s² + t² <= 1 is a subgradient; NaN is not)."""
import numpy as np
import torch

a = torch.zeros(3, dtype=torch.float64, requires_grad=True)
b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
torch.hypot(a, b).sum().backward()
got = np.stack([a.grad.numpy(), b.grad.numpy()])
# hypot(a, b) is the 2-norm of (a, b): at (0, 0) its subdifferential is the closed unit disc.
print(f"d/da = {got[0]}, d/db = {got[1]} (must be finite with s^2 + t^2 <= 1, e.g. 0)")
raise SystemExit(int(not (np.all(np.isfinite(got)) and np.all(got[0] ** 2 + got[1] ** 2 <= 1.0))))
