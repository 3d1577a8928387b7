"""mlx: the gradient of mx.linalg.norm at the zero vector is NaN (0 is a subgradient; NaN is not)."""
import mlx.core as mx
import numpy as np

got = np.array(mx.grad(mx.linalg.norm)(mx.zeros(3)), dtype=np.float64)
# The subdifferential of ||x||_2 at 0 is the closed unit ball: any finite g with ||g|| <= 1 is right.
print(f"grad = {got} (must be finite with norm <= 1, e.g. [0. 0. 0.])")
raise SystemExit(int(not (np.all(np.isfinite(got)) and np.linalg.norm(got) <= 1.0)))
