"""TensorFlow: the derivative of x ** 0 at x = 0 is NaN (x ** 0 = 1 everywhere: its derivative is 0)."""
import numpy as np
import tensorflow as tf

wrong = 0
for dtype in (tf.float64, tf.float32, tf.float16):
    x = tf.constant(0.0, dtype)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.pow(x, tf.constant(0.0, dtype))
    with tf.autodiff.ForwardAccumulator(x, tf.constant(1.0, dtype)) as forward:
        z = tf.pow(x, tf.constant(0.0, dtype))
    grad, tangent = tape.gradient(y, x).numpy(), forward.jvp(z).numpy()
    print(f"{dtype.name}: pow(0, 0) = {y.numpy()}, gradient {grad}, JVP {tangent} (both must be 0)")
    wrong += not (np.isfinite(grad) and np.isfinite(tangent))
raise SystemExit(int(wrong > 0))
