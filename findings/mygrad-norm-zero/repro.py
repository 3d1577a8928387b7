"""mygrad: the gradient of mygrad.linalg.norm at the zero vector is NaN (0 is a subgradient; NaN is not)."""
import mygrad as mg
import numpy as np

x = mg.tensor(np.zeros(3))
mg.linalg.norm(x).backward()
got = np.asarray(x.grad, dtype=np.float64)
# The subdifferential of ||x||_2 at 0 is the closed unit ball: any finite g with ||g|| <= 1 is right.
print(f"grad = {got} (must be finite with norm <= 1, e.g. [0. 0. 0.])")
raise SystemExit(int(not (np.all(np.isfinite(got)) and np.linalg.norm(got) <= 1.0)))
