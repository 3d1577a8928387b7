"""tinygrad: the gradient of max over 70,000 float16 ties is all zeros (each must be 1/70000)."""
import numpy as np
from tinygrad import Tensor, dtypes

n = 70_000
x = Tensor.ones(n, dtype=dtypes.float16).contiguous()
(grad,) = x.max().gradient(x)
got = grad.numpy().astype(np.float64)
# Every split of the unit cotangent over the ties is a subgradient: weights >= 0 summing to 1.
print(f"grad[0] = {got[0]!r}, sum = {got.sum()!r} (must be 1; 1/n = {1 / n:.4g})")
raise SystemExit(int(not abs(got.sum() - 1.0) < 0.01))  # each within half a float16 subnormal spacing of 1/n: sum within 0.3 %
