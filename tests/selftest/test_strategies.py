"""The byte-string encoding of examples: every decoded value lies in its domain, and simple bytes are simple values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from verigrad.reference import NONZERO, NONZERO_MIN_ABS, REAL

from verigrad import strategies as vs

DOMAINS = [(REAL, vs.VALUE_RANGE, True), (REAL, vs.PROBE_RANGE, False), (NONZERO, vs.VALUE_RANGE, True)]


@pytest.mark.parametrize(("domain", "bound", "zeros"), DOMAINS, ids=["inputs", "probes", "nonzero"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=50, deadline=None)
@given(blob=st.binary(min_size=vs.ELEMENT_BYTES * 16, max_size=vs.ELEMENT_BYTES * 16))
def test_decoded_values_lie_in_their_domain(blob: bytes, dtype: type, domain: str, bound: float, zeros: bool) -> None:
    values = vs.decode(blob, np.dtype(dtype), (4, 4), domain, bound, zeros)
    assert values.shape == (4, 4) and values.dtype == dtype
    magnitudes = np.abs(values[values != 0])
    smallest = NONZERO_MIN_ABS if domain == NONZERO else vs.MIN_NONZERO
    assert np.all((magnitudes >= smallest) & (magnitudes <= bound))
    if not zeros or domain == NONZERO:
        assert np.all(values != 0)


def test_zero_bytes_are_the_simplest_values() -> None:
    blob = bytes(vs.ELEMENT_BYTES * 3)
    assert vs.decode(blob, np.dtype(np.float64), (3,), REAL, vs.VALUE_RANGE, True).tolist() == [0.0, 0.0, 0.0]
    assert vs.decode(blob, np.dtype(np.float64), (3,), REAL, vs.PROBE_RANGE, False).tolist() == [1.0, 1.0, 1.0]


def test_random_bytes_cover_zeros_signs_tiny_and_the_bound() -> None:
    values = vs.decode(np.random.default_rng(0).bytes(vs.ELEMENT_BYTES * 4000), np.dtype(np.float64), (4000,),
                       REAL, vs.VALUE_RANGE, True)
    nonzero = np.abs(values[values != 0])
    assert 0.2 < np.mean(values == 0) < 0.3  # one selector byte in four
    assert 0.4 < np.mean(values[values != 0] < 0) < 0.6
    assert np.any(nonzero == vs.VALUE_RANGE) and np.any(nonzero < 2.0**-8) and np.median(nonzero) > 0.25


def test_an_example_too_large_to_draw_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too large to draw"):
        vs.array(np.dtype(np.float64), (vs.MAX_ELEMENTS + 1,))
