"""PaddlePaddle: the gradient of paddle.prod is NaN at an input that is exactly zero (it is the product of the others)."""
import numpy as np
import paddle

wrong = 0
for dtype in ("float64", "float32"):
    x = paddle.to_tensor(np.array([0.0, 2.0, 3.0], dtype), stop_gradient=False)
    (got,) = paddle.grad(paddle.prod(x), x)
    true = np.array([2.0 * 3.0, 0.0 * 3.0, 0.0 * 2.0], dtype)  # d/dx_i prod(x) = prod_{j != i} x_j
    print(f"{dtype}: grad = {got.numpy()} (true {true})")
    wrong += not np.array_equal(got.numpy(), true)
raise SystemExit(int(wrong > 0))
