"""mlx: logsumexp along axis 0 of 70,000 x 3 float16 ones is inf (true 1 + ln 70000 = 12.16); along axis 1 it is right."""
import mlx.core as mx
import numpy as np

x = np.ones((70_000, 3), dtype=np.float16)
along_0 = np.array(mx.logsumexp(mx.array(x), axis=0)).astype(np.float64)
along_1 = np.array(mx.logsumexp(mx.array(x.T.copy()), axis=1)).astype(np.float64)
exact = 1 + np.log(70_000)
print(f"axis 0: {along_0}, axis 1: {along_1}, exact {exact:.4f}")
# The same values reduced along the other axis agree with the exact value to float16 rounding.
raise SystemExit(int(not np.allclose(along_0, exact, rtol=2**-10)))
