"""Each kink variable gets its own subgradient share: an engine may resolve an exact zero by its convention
and a near-zero one (within the rounding blur) by its own rounding, and still be right."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from verigrad.checks import Target, check_vjp
from verigrad.reference import get_case
from verigrad.strategies import Example

BF16 = np.dtype(ml_dtypes.bfloat16)


def _mlp_example() -> dict[str, np.ndarray]:
    """Shrunk by hypothesis from an MLX run: H = X W1ᵀ + b1 is exactly 0 at (1, 6) and 0.171 at (7, 8),
    where bfloat16's blur (≈ 0.6) makes it a kink too; w2 weighs both units."""
    W1, X = np.zeros((9, 9)), np.zeros((9, 9))
    W1[7, 4], W1[8, [1, 3, 4, 8]] = 2.609375, [3.453125, 1.78125, -3.609375, 0.47265625]
    X[1, 1:4], X[2, [0, 4, 8]], X[5, 5] = [1, 1.625, 1], [-7.09375, 1, 0.25], -1.5859375
    X[6, 1:3], X[7, [1, 3, 4, 8]] = [2, 4], [1.5, -1.1796875, 1.5625, 5.78125]
    b1, w2, y = np.zeros(9), np.zeros(9), np.zeros(9)
    b1[2], w2[6:], y[1:3] = -1.0, [1, 1, 0.5], [-1, 0.396484375]
    values = {"W1": W1, "b1": b1, "w2": w2, "b2": np.array(0.0), "X": X, "y": y}
    return {name: value.astype(BF16) for name, value in values.items()}


class _MlpEngine:
    """The W1 gradient of losses.mlp_relu in float64 with relu'(0) = 0, the blurred unit's term times ``share``."""

    name = "mlp-by-hand"
    xp = np

    def __init__(self, share: float) -> None:
        self.share = share

    def vjp(self, fn, primals, cotangent):
        W1, b1, w2, b2, X, y = (np.asarray(p, dtype=np.float64) for p in primals)
        H = X @ W1.T + b1
        active = (H > 0).astype(np.float64)
        active[7, 8] = self.share  # H = 0.171: the engine's own rounding decides its side
        e = (active * H) @ w2 + b2 - y
        delta = float(cotangent) * 2 / len(y) * e[:, None] * w2[None, :] * active
        return tuple((delta.T @ X if k == 0 else np.zeros(np.shape(p))).astype(p.dtype) for k, p in enumerate(primals))


#: The blurred unit's share: 0 and 1 are either side of its kink; 2 is no subgradient.
SHARES = {"exact-zero-off-near-zero-on": (1.0, True), "both-off": (0.0, True), "share-2": (2.0, False)}


@pytest.mark.parametrize("name", list(SHARES))
def test_each_kink_variable_takes_its_own_share(name: str) -> None:
    share, passes = SHARES[name]
    case, engine, values = get_case("losses.mlp_relu"), _MlpEngine(share), _mlp_example()
    target = Target(case, "W1", engine, BF16, "probabilistic", case.bind(np))
    example = Example(values, {}, np.array(-1.0, BF16), {n: np.zeros_like(v) for n, v in values.items()}, {})
    outcome = check_vjp(target, example)
    assert outcome.passed is passes, outcome.message
