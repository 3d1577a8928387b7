"""mlx: softmax of 1,024 equal bfloat16 values is 1/256 per entry (true 1/1024) with the default precise=False."""
import mlx.core as mx
import numpy as np

n = 1024
x = mx.zeros(n, dtype=mx.bfloat16)
fast = np.array(mx.softmax(x).astype(mx.float32), dtype=np.float64)
precise = np.array(mx.softmax(x, precise=True).astype(mx.float32), dtype=np.float64)
print(f"softmax[0] = {fast[0]!r} (precise=True: {precise[0]!r}; true {1 / n!r}), sum = {fast.sum()!r}")
raise SystemExit(int(not np.allclose(fast, 1 / n, rtol=2**-8)))  # 1/1024 is exact in bfloat16
