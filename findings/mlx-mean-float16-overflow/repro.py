"""mlx: mean of 70,000 float16 ones is inf (true 1), and so is its JVP; the VJP is right."""
import mlx.core as mx

n = 70_000
x = mx.ones(n, dtype=mx.float16)
value = mx.mean(x).item()
_, (tangent,) = mx.jvp(mx.mean, [x], [mx.ones(n, dtype=mx.float16)])
# mean(1, ..., 1) = 1 and d mean(x + s·1)/ds = 1: both exact in float16.
print(f"mean = {value!r}, jvp = {tangent.item()!r} (both must be 1.0)")
raise SystemExit(int(value != 1.0 or tangent.item() != 1.0))
