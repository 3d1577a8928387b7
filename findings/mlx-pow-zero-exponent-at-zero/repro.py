"""mlx: the derivative of x**0 at x = 0 is NaN (x**0 = 1 everywhere, so it is 0), in VJP and JVP alike."""
import mlx.core as mx
import numpy as np

vjp = mx.grad(lambda x: x**0)(mx.array(0.0)).item()
_, (jvp,) = mx.jvp(lambda x: x**0, [mx.array(0.0)], [mx.array(1.0)])
away = mx.grad(lambda x: x**0)(mx.array(2.0)).item()  # 0 away from the origin
print(f"d(x**0)/dx at 0: vjp {vjp!r}, jvp {jvp.item()!r} (both must be 0.0); at 2: {away!r}")
raise SystemExit(int(np.isnan(vjp) or np.isnan(jvp.item())))
