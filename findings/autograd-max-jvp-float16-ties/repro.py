"""autograd's forward-mode max over 70,000 float16 ties along the all-ones tangent is inf (it is exactly 1)."""
import autograd.numpy as anp
import numpy as np
from autograd import make_jvp

n = 70_000
x = np.ones(n, dtype=np.float16)
_, tangent = make_jvp(anp.max)(x)(np.ones(n, dtype=np.float16))
# max(x + s·1) = max(x) + s for every s, so the directional derivative along 1 is 1 whatever the tie rule.
print(f"jvp = {tangent!r} (must be 1.0)")
raise SystemExit(int(tangent != 1.0))
