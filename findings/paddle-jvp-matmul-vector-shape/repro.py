"""PaddlePaddle: the JVP of a vector dot product w @ x (a 0-d output) comes back with shape [1]."""
import numpy as np
import paddle
from paddle.incubate.autograd import jvp

w = paddle.to_tensor(np.array([1.0, 2.0]), stop_gradient=False)
x = paddle.to_tensor(np.array([3.0, 4.0]))
out, tangent = jvp(lambda w: w @ x, w, paddle.ones_like(w))
print(f"output shape {list(out.shape)}, tangent shape {list(tangent.shape)} (must match), tangent {tangent.numpy()}")
raise SystemExit(int(list(tangent.shape) != list(out.shape)))
