"""torch.func.jvp: a 0-d float32 tensor times a Python float gets a float64 tangent (the primal stays float32)."""
import torch

primal_out, tangent_out = torch.func.jvp(lambda s: s * 0.5, (torch.tensor(1.0),), (torch.tensor(1.0),))
print(f"primal {primal_out.dtype}, tangent {tangent_out.dtype} (must match)")
raise SystemExit(int(tangent_out.dtype != primal_out.dtype))
