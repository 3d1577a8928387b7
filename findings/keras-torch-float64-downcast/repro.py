"""Keras 3 on torch: keras.ops.maximum, minimum, hypot, matmul ... of two float64 tensors compute and return float32."""
import os

os.environ["KERAS_BACKEND"] = "torch"
import keras
import numpy as np

a = keras.ops.convert_to_tensor(np.array([1.0 + 2.0**-40, 3.0]), "float64")
b = keras.ops.convert_to_tensor(np.array([1.0, 2.0]), "float64")
wrong = 0
for name in ("maximum", "minimum", "hypot", "arctan2", "logaddexp", "matmul"):
    out = getattr(keras.ops, name)(a, b)
    print(f"ops.{name}(float64, float64) -> {keras.ops.convert_to_numpy(out).dtype}")
    wrong += str(out.dtype) != "torch.float64"
print(f"ops.maximum(a, b)[0] = {float(keras.ops.maximum(a, b)[0])!r}, a[0] = {float(a[0])!r}")
raise SystemExit(int(wrong > 0))
