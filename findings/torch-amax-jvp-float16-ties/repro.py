"""torch.func.jvp of torch.amax over 70,000 float16 ties along the all-ones tangent is inf (it is exactly 1)."""
import torch

n = 70_000
x = torch.ones(n, dtype=torch.float16)
_, tangent = torch.func.jvp(torch.amax, (x,), (torch.ones(n, dtype=torch.float16),))
# max(x + s·1) = max(x) + s for every s, so the directional derivative along 1 is 1 whatever the tie rule.
print(f"jvp = {tangent.item()!r} (must be 1.0)")
raise SystemExit(int(tangent.item() != 1.0))
