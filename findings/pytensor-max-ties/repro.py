"""PyTensor: the gradient of max (and min) at ties hands every tied entry the whole cotangent."""
import numpy as np
import pytensor
import pytensor.tensor as pt

x = pt.vector("x")
wrong = 0
for name, reduce in [("max", pt.max), ("min", pt.min)]:
    grad = pytensor.function([x], pytensor.grad(reduce(x), x))(np.zeros(3))
    # A subgradient at ties splits the unit cotangent over the tied entries: weights >= 0 summing to 1.
    print(f"grad of {name} at [0, 0, 0] = {grad!r}, sum {grad.sum()!r} (must be 1)")
    wrong += not np.isclose(grad.sum(), 1.0)
raise SystemExit(int(wrong > 0))
