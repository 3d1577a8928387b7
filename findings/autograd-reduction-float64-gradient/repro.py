"""autograd: the VJPs of max, min and mean return float64 for a float32 input and a float32 cotangent."""
import autograd.numpy as anp
import numpy as np
from autograd import make_vjp

x = np.array([1.0, 3.0, 2.0], dtype=np.float32)
dtypes = {}
for name, fn in {"max": anp.max, "min": anp.min, "mean": anp.mean}.items():
    vjp, _ = make_vjp(fn)(x)
    dtypes[name] = vjp(np.float32(1.0)).dtype
print(f"gradient dtypes {dtypes} (must be float32, the primal's)")
raise SystemExit(int(any(dtype != np.float32 for dtype in dtypes.values())))
