"""PyTensor: pushforward (Rop) drops a term when a pullback hands the cotangent on unchanged (x + w, x - w)."""
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import pushforward

x, w, u, v = (pt.vector(name) for name in "xwuv")
ones, wrong = np.ones(2), 0
# J_x u + J_w v at x = w = 1 with tangents u = 1, v = 10:
for name, out, want in [("x + w", x + w, 11.0), ("x - w", x - w, -9.0), ("sin(x) + w", pt.sin(x) + w, np.cos(1.0) + 10),
                        ("x * w", x * w, 11.0)]:
    jvp = pytensor.function([x, w, u, v], pushforward(out, [x, w], [u, v]), on_unused_input="ignore")
    got = jvp(ones, ones, ones, 10 * ones)[0]
    wrong += not np.isclose(got, want)
    print(f"{name:11} pushforward gives {got!r}, J_x u + J_w v = {want!r}")
raise SystemExit(int(wrong > 0))
