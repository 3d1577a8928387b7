"""torch: the second derivative of torch.sinc at 0 is 0 (forward over reverse) or NaN (double backward), not -pi^2/3."""
import numpy as np
import torch
from torch.func import grad, jvp

x, one = torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64)
forward_over_reverse = jvp(grad(torch.sinc), (x,), (one,))[1].item()
reverse_over_reverse = grad(grad(torch.sinc))(x).item()
exact = -np.pi**2 / 3  # sinc(x) = 1 - (pi x)^2/6 + ...: sinc''(0) = -pi^2/3
print(f"sinc''(0): forward-over-reverse {forward_over_reverse}, double backward {reverse_over_reverse}, exact {exact:.6f}")
ok = all(np.isfinite(v) and abs(v - exact) <= 1e-12 for v in (forward_over_reverse, reverse_over_reverse))
raise SystemExit(int(not ok))
