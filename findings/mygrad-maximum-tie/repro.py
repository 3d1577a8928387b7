"""mygrad: at a tie a == b, maximum's backward gives 0 to both arguments (their sum must be 1)."""
import mygrad as mg
import numpy as np

a = mg.tensor(np.array([1.5, -2.0]))
b = mg.tensor(np.array([1.5, -2.0]))
mg.maximum(a, b).backward(np.ones(2))
# Any subgradient splits the unit cotangent as (t, 1 - t), t in [0, 1]: the two shares sum to 1.
mass = a.grad + b.grad
print(f"d/da = {a.grad}, d/db = {b.grad}, sum = {mass} (must be 1)")
raise SystemExit(int(not np.allclose(mass, 1.0)))
