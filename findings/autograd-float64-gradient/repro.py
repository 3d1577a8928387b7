"""autograd: the VJPs of max, mean, std, maximum and where return float64 for float32 primals and cotangents."""
import autograd.numpy as anp
import numpy as np
from autograd import make_vjp

x = np.array([1.0, 3.0, 2.0], dtype=np.float32)
functions = {"max": anp.max, "mean": anp.mean, "std": anp.std, "maximum": lambda x: anp.maximum(x, 2.0),
             "where": lambda x: anp.where(x > 2.0, x, 2.0 * x)}  # fmt: skip
dtypes = {}
for name, fn in functions.items():
    vjp, out = make_vjp(fn)(x)
    dtypes[name] = str(vjp(np.ones(np.shape(out), dtype=np.float32)).dtype)
print(f"gradient dtypes {dtypes} (must be float32, the primal's)")
raise SystemExit(int(any(dtype != "float32" for dtype in dtypes.values())))
