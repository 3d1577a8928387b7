"""autograd: numpy 2's name `concat` is exposed unwrapped: its output is an object array of boxes, its VJP is 0."""
import autograd.numpy as anp
import numpy as np
from autograd import make_vjp

x = np.array([1.0, 2.0, 3.0])
vjp, out = make_vjp(lambda x: anp.concat([x, 2.0 * x]))(x)
grad = vjp(np.ones(6))  # d/dx sum(concat([x, 2x])) = 1 + 2 = 3 for each entry
print(f"output dtype {out.dtype}, vjp {grad} (must be [3. 3. 3.])")
raise SystemExit(int(out.dtype == object or not np.allclose(grad, 3.0)))
