"""torch: the gradient of amax(x, dim) over >= 65,520 float16 ties in a slice is all zeros (each must be 1/k)."""
import torch

k = 70_000
x = torch.ones(3, k, dtype=torch.float16, requires_grad=True)
torch.amax(x, dim=1).sum().backward()
got = x.grad.double()
# Every split of each row's unit cotangent over its ties is a subgradient: weights >= 0 summing to 1 per row.
mass = got.sum(dim=1).tolist()
print(f"grad[0, 0] = {got[0, 0].item()!r}, mass per row = {mass} (must be 1 each; 1/k = {1 / k:.4g})")
raise SystemExit(int(not all(abs(m - 1.0) < 0.01 for m in mass)))  # the even split rounds to 1.43e-05: mass within 0.2 %
