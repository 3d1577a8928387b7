"""tinygrad: logsumexp of 70,000 equal float16 values is inf (true 11.156) and its gradient 0 (true 1/70000)."""
import numpy as np
from tinygrad import Tensor, dtypes

n = 70_000
x = Tensor.zeros(n, dtype=dtypes.float16).contiguous()
value = x.logsumexp(0)
(grad,) = value.gradient(x)
true_value, true_grad = np.log(n), 1 / n  # log(n * e^0); softmax_i = 1/n
got, got_value = grad.numpy().astype(np.float64), float(value.numpy())
print(f"logsumexp = {got_value!r} (true {true_value:.5g}), grad[0] = {got[0]!r} (true {true_grad:.4g})")
raise SystemExit(int(not (np.isclose(got_value, true_value, rtol=1e-2) and np.allclose(got, true_grad, rtol=1e-2))))
