"""Failures three or more libraries share point at the reference: said once, as such, not as N engine bugs."""

from __future__ import annotations

import pytest

from verigrad.consensus import consensus_failures
from verigrad.records import FAIL, PASS, Verdict


def _failing(engine: str, value: float, reference: float = 1.0, index=(4,), dtype: str = "float16",
             expected: str | None = None) -> Verdict:
    verdict = Verdict(f"vjp[losses.mlp_relu-b1-{engine}-{dtype}]", "vjp", "losses.mlp_relu", "b1", engine, dtype, FAIL,
                      message="unclassified", diagnosis={"kind": "unclassified", "index": list(index), "engine": value,
                                                         "reference": reference})
    verdict.expected = expected
    return verdict


def test_three_libraries_agreeing_against_the_reference_are_one_line() -> None:
    verdicts = [_failing("jax", 0.10724), _failing("jax-jit", 0.10724), _failing("torch", 0.10724),
                _failing("autograd", 0.10718)]
    (shared,) = consensus_failures(verdicts)
    assert shared.check == "vjp[losses.mlp_relu-b1-*-float16]"
    assert shared.engines == ("autograd", "jax", "jax-jit", "torch") and shared.libraries == 3
    assert "suspect the closed form" in shared.line() and shared.record()["line"] == shared.line()


@pytest.mark.parametrize(
    "verdicts",
    [
        # jax and jax-jit are one library: two libraries are not enough
        [_failing("jax", 0.1), _failing("jax-jit", 0.1), _failing("torch", 0.1)],
        # three libraries, three different wrong values: three bugs, not a shared reference
        [_failing("jax", 0.1), _failing("torch", 0.2), _failing("mlx", 0.3)],
        # the same value at different entries: not the same failure
        [_failing("jax", 0.1, index=(1,)), _failing("torch", 0.1, index=(2,)), _failing("mlx", 0.1, index=(3,))],
        # pinned failures have been looked into: their pins say why
        [_failing("jax", 0.1, expected="fail"), _failing("torch", 0.1, expected="fail"),
         _failing("mlx", 0.1, expected="fail")],
    ],
    ids=["two-libraries", "different-values", "different-entries", "pinned"],
)
def test_what_is_not_a_shared_failure(verdicts) -> None:
    assert consensus_failures(verdicts) == []


def test_passes_and_other_dtypes_do_not_join_a_group() -> None:
    passing = Verdict("vjp[losses.mlp_relu-b1-mlx-float16]", "vjp", "losses.mlp_relu", "b1", "mlx", "float16", PASS)
    verdicts = [_failing("jax", 0.1), _failing("torch", 0.1), _failing("mlx", 0.1, dtype="float32"), passing]
    assert consensus_failures(verdicts) == []



def test_the_same_nan_or_infinity_from_three_libraries_is_one_value() -> None:
    for value in (float("nan"), float("inf")):
        verdicts = [_failing(engine, value) for engine in ("jax", "torch", "mlx")]
        (shared,) = consensus_failures(verdicts)
        assert shared.libraries == 3, value
