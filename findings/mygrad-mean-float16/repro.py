"""mygrad: the gradient of mean over 70,000 float16 values is all zeros (each must be 1/70000)."""
import mygrad as mg
import numpy as np

n = 70_000
x = mg.tensor(np.ones(n, dtype=np.float16))
mg.mean(x).backward()
got = x.grad.astype(np.float64)
print(f"grad[0] = {got[0]!r} (must be 1/n = {1 / n:.6g}, a float16 subnormal: {float(np.float16(1 / n))!r})")
raise SystemExit(int(not np.allclose(got, 1 / n, rtol=0.01)))  # float16 subnormal spacing is 0.4 % of 1/n
