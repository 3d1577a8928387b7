"""No false failure in float32: correct custom rules, whose float32 results err by a few ulps, pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verigrad import check_function


def _rule(forward, backward):
    class Rule(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return forward(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return backward(x, grad)

    return Rule.apply


#: Correct rules whose derivatives cancel (x·sin x near its root), saturate (softplus, tanh) or couple entries.
RULES = {
    "x·sin x": _rule(lambda x: x * torch.sin(x), lambda x, g: g * (torch.sin(x) + x * torch.cos(x))),
    "softplus": _rule(torch.nn.functional.softplus, lambda x, g: g * torch.sigmoid(x)),
    "tanh": _rule(torch.tanh, lambda x, g: g * (1 - torch.tanh(x) ** 2)),
    "logsumexp": _rule(lambda x: torch.logsumexp(x, 0), lambda x, g: g * torch.softmax(x, 0)),
    "cumsum of squares": _rule(lambda x: torch.cumsum(x * x, 0), lambda x, g: 2 * x * torch.flip(torch.cumsum(torch.flip(g, (0,)), 0), (0,))),
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_a_correct_float32_rule_passes(name: str) -> None:
    x = np.array([2.0287, -0.75, 4.5, 0.125, -3.25])  # 2.0287: near the root of sin x + x cos x
    result = check_function(RULES[name], (x,), "torch", dtypes=["float32"], properties=["vjp"], examples=40, seed=1)
    (verdict,) = result.verdicts
    assert verdict.status == "pass", verdict.message
    assert verdict.max_ulps > 0  # float32 rounding was measured, not absent
