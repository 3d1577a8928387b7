"""Unit tests of the diagnosis rules on synthetic evidence: one per kind they give, and "unclassified"."""

from __future__ import annotations

import numpy as np
import pytest

from verigrad.diagnosis import KINDS, Diagnosis, Evidence, diagnose_shape, diagnose_values

REFERENCE = np.array([1.5, -2.0, 0.25, 3.0])


def evidence(engine, reference=REFERENCE, *, bound=1e-12, sizes=None, alternatives=None, dtype=np.float64) -> Evidence:
    reference = np.asarray(reference, dtype=np.float64)
    return Evidence(
        np.asarray(engine, dtype=np.float64), reference, np.broadcast_to(np.float64(bound), reference.shape).copy(),
        np.abs(reference), np.dtype(dtype), sizes or {}, alternatives or {},
    )


def diagnose(*args, **kwargs) -> Diagnosis:
    return diagnose_values(evidence(*args, **kwargs))


# ------------------------------------------------------------------ values


def test_wrong_sign() -> None:
    found = diagnose(-REFERENCE)
    assert found.kind == "wrong_sign"
    assert found.index is not None and found.reference is not None and found.engine is not None


@pytest.mark.parametrize(
    ("factor", "sizes", "label", "size"),
    [
        (2.0, {}, "×2", None),
        (0.5, {}, "×½", None),
        (5.0, {"n": 5}, "×n (= 5)", "n"),
        (0.2, {"n": 5}, "×1/n (= 1/5)", "n"),
        (6.0, {"m": 3, "n": 2}, "×m·n (= 6)", "m·n"),
        (1.7, {"n": 5}, "×1.7", None),
    ],
)
def test_scaled_names_the_factor(factor: float, sizes: dict[str, int], label: str, size: str | None) -> None:
    found = diagnose(factor * REFERENCE, sizes=sizes)
    assert found.kind == "scaled"
    assert found.summary.endswith(label)
    assert found.details["factor"] == pytest.approx(factor)
    assert found.details.get("size") == size


def test_a_size_of_one_is_no_factor() -> None:
    assert diagnose(2 * REFERENCE, sizes={"n": 1}).summary.endswith("×2")


def test_one_entry_fits_any_factor_so_only_a_named_one_counts() -> None:
    assert diagnose([2.6], [1.3]).kind == "scaled"  # ×2
    assert diagnose([3.0], [1.3]).kind == "unclassified"  # ×2.307...: a single wrong number, not a scale


def test_scaled_within_precision_of_one_is_precision() -> None:
    assert diagnose(REFERENCE * (1 + 1e-7)).kind == "precision"
    assert diagnose([1.3 * (1 + 3e-8)], [1.3]).kind == "precision"


def test_transposed_alternative() -> None:
    transposed = np.array([0.5, 1.0, -4.0, 2.0])
    found = diagnose(transposed, alternatives={"transposed": transposed})
    assert found.kind == "transposed"


def _aliased(first: np.ndarray, second: np.ndarray) -> dict[str, object]:
    """Evidence as check_aliased builds it: the total is the reference, one partial the alternative."""
    total = first + second
    return {"reference": total, "alternatives": {"missing_term": first, "double_counted": 2 * total}}


FIRST, SECOND = np.array([1.0, -2.0, 0.5]), np.array([-1.0, 3.0, 0.5])


@pytest.mark.parametrize(
    ("engine", "which", "repeated"),
    [(FIRST, "first", False), (SECOND, "second", False), (2 * SECOND, "second", True), (2 * FIRST, "first", True)],
)
def test_missing_term(engine: np.ndarray, which: str, repeated: bool) -> None:
    found = diagnose(engine, **_aliased(FIRST, SECOND))
    assert found.kind == "missing_term"
    assert found.details["term"] == which
    assert found.details.get("repeated", False) is repeated


def test_double_counted_comes_before_scaled() -> None:
    found = diagnose(2 * (FIRST + SECOND), **_aliased(FIRST, SECOND))
    assert found.kind == "double_counted"


def test_precision() -> None:
    found = diagnose(REFERENCE + np.array([1e-9, -1e-9, 1e-10, 2e-9]))
    assert found.kind == "precision"
    assert found.details["relative_error"] < 1e-8


def test_unclassified() -> None:
    found = diagnose(np.array([0.3, 7.0, -1.0, 0.0]))
    assert found.kind == "unclassified"
    assert found.index is not None


def test_unclassified_when_the_alternatives_do_not_fit() -> None:
    found = diagnose(np.array([5.0, 5.0, 5.0]), **_aliased(FIRST, SECOND))
    assert found.kind == "unclassified"


def test_zero_reference_is_no_sign_or_scale() -> None:
    assert diagnose([1.0, -1.0], [0.0, 0.0]).kind == "unclassified"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown diagnosis kind"):
        Diagnosis("off_by_one", "")


def test_rules_only_give_known_kinds() -> None:
    for engine in (-REFERENCE, 2 * REFERENCE, REFERENCE + 1e-9, REFERENCE * 0):
        assert diagnose(engine).kind in KINDS


# ------------------------------------------------------------------- shapes


def test_broadcast_not_reduced_confirmed_by_the_sum() -> None:
    found = diagnose_shape(np.array([0.5, 1.0, 2.0]), (), np.array(3.5), (3,))
    assert found.kind == "broadcast_not_reduced"
    assert "summed over the broadcast axes it is the right answer" in found.summary


def test_broadcast_not_reduced_leading_and_kept_axes() -> None:
    values = np.arange(6.0).reshape(2, 3)
    assert "right answer" in diagnose_shape(values, (1, 3), values.sum(axis=0, keepdims=True), (2, 3)).summary
    assert "right answer" in diagnose_shape(values, (2, 1), values.sum(axis=1, keepdims=True), (2, 3)).summary


def test_broadcast_sum_is_compared_with_a_bound_not_a_relative_tolerance() -> None:
    """float32 terms that cancel: the sum is 2 % off relatively, yet well inside float32's rounding of 2·10⁴."""
    values = np.array([10000.01, -10000.0], dtype=np.float32)
    assert not np.allclose(values.astype(np.float64).sum(), 0.01, rtol=1e-5, atol=0)
    found = diagnose_shape(values, (), np.array(0.01), (2,))
    assert "right answer" in found.summary
    # With a tighter bound passed in (as a check that knows its own would), the same numbers are not confirmed.
    tight = diagnose_shape(values, (), np.array(0.01), (2,), bound=np.array(1e-6))
    assert tight.kind == "broadcast_not_reduced" and "differs" in tight.summary


def test_broadcast_not_reduced_without_a_reference() -> None:
    found = diagnose_shape(np.ones(4), (), None, (4,))
    assert found.kind == "broadcast_not_reduced"


def test_broadcast_shape_but_wrong_sum() -> None:
    found = diagnose_shape(np.array([1.0, 1.0]), (), np.array(5.0), (2,))
    assert found.kind == "broadcast_not_reduced"
    assert "differs" in found.summary


def test_transposed_shape() -> None:
    reference = np.arange(6.0).reshape(2, 3) / 7
    found = diagnose_shape(np.ascontiguousarray(reference.T), (2, 3), reference, None)
    assert found.kind == "transposed"


def test_transposed_shape_within_the_given_bound() -> None:
    reference = np.arange(6.0).reshape(2, 3)
    nudged = reference.T + 1e-6
    assert diagnose_shape(nudged, (2, 3), reference, None, bound=np.full((2, 3), 1e-5)).kind == "transposed"
    assert diagnose_shape(nudged, (2, 3), reference, None, bound=np.full((2, 3), 1e-7)).kind == "wrong_shape"


def test_reversed_shape_with_other_values_is_wrong_shape() -> None:
    reference = np.arange(6.0).reshape(2, 3)
    found = diagnose_shape(reference.reshape(3, 2), (2, 3), reference, None)
    assert found.kind == "wrong_shape"


def test_reversed_shape_without_a_reference_is_not_called_transposed() -> None:
    found = diagnose_shape(np.zeros((3, 2)), (2, 3), None, None)
    assert found.kind == "wrong_shape"
    assert "possibly transposed" in found.summary


@pytest.mark.parametrize("result", [np.zeros((4, 1)), np.zeros(5), np.array(["a", "b"], dtype=object)])
def test_wrong_shape(result: np.ndarray) -> None:
    assert diagnose_shape(result, (4,), np.zeros(4), (4,)).kind == "wrong_shape"
