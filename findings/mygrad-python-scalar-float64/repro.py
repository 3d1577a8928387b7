"""mygrad: a float32 tensor times a Python number is float64 (numpy 2 keeps float32); so are its downstream results."""
import mygrad as mg
import numpy as np

x = mg.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))
got = {"x * 0.5": (x * 0.5).dtype, "x + 1.0": (x + 1.0).dtype, "x * 2": (x * 2).dtype,
       "maximum(x, 0.5)": mg.maximum(x, 0.5).dtype, "clip(x, 0, 1)": mg.clip(x, 0.0, 1.0).dtype}  # fmt: skip
numpy_says = (np.ones(3, np.float32) * 0.5).dtype  # NEP 50: a Python scalar does not promote
print(f"mygrad {({k: str(v) for k, v in got.items()})}; numpy: {numpy_says}")
raise SystemExit(int(any(dtype != numpy_says for dtype in got.values())))
