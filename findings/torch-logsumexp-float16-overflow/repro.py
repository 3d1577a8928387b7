"""torch: logsumexp of 70,000 equal float16 values is inf (true 11.156) and its gradient 0 (true 1/70000)."""
import numpy as np
import torch

n = 70_000
x = torch.zeros(n, dtype=torch.float16, requires_grad=True)
value = torch.logsumexp(x, 0)
value.backward()
true_value, true_grad = np.log(n), 1 / n  # log(n * e^0); softmax_i = 1/n
got = x.grad.double().numpy()
print(f"logsumexp = {value.item()!r} (true {true_value:.5g}), grad[0] = {got[0]!r} (true {true_grad:.4g})")
raise SystemExit(int(not (np.isclose(value.item(), true_value, rtol=1e-2) and np.allclose(got, true_grad, rtol=1e-2))))
