"""The byte-string encoding of examples: every decoded value lies in its domain, and simple bytes are simple values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verigrad import strategies as vs
from verigrad.reference import CASES, NONZERO, NONZERO_MIN_ABS, REAL, get_case, resolve_shape

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


# ------------------------------------------------------------------ shapes that reveal bugs

MATRIX_CASES = [c for c in CASES if any(len(a.shape) == 2 and all(isinstance(d, str) for d in a.shape) for a in c.args)]


@pytest.mark.parametrize("case", MATRIX_CASES, ids=[c.id for c in MATRIX_CASES])
def test_every_matrix_case_draws_square_and_non_square_matrices(case) -> None:
    menu = vs.shape_menu(case)
    matrices = [a for a in case.args if len(a.shape) == 2 and all(isinstance(d, str) for d in a.shape)]
    shapes = [resolve_shape(a.shape, sizes) for sizes in menu for a in matrices]
    assert any(r == c > 1 for r, c in shapes), f"{case.id}: no square matrix in {menu}"
    assert any(r != c for r, c in shapes), f"{case.id}: no non-square matrix in {menu}"


def test_the_catalog_crosses_every_vector_width() -> None:
    drawn = {size for case in CASES for sizes in vs.shape_menu(case) for size in sizes.values()}
    assert set(vs.CROSSING_WIDTHS) <= drawn, sorted(set(vs.CROSSING_WIDTHS) - drawn)


def test_every_menu_entry_fits_the_draw_budget() -> None:
    for case in CASES:
        for sizes in vs.shape_menu(case):
            assert vs._elements(case, sizes) <= vs.MAX_ELEMENTS, (case.id, sizes)


@pytest.mark.parametrize("elements", vs.LARGE_SIZES)
def test_a_large_tied_example_ties_hundreds_of_ways(elements: int) -> None:
    case = get_case("reduce.max_all")
    example = vs._large_example(case, np.dtype(np.float32), elements, seed=2, cotangent=True, tangents=())
    x = example.values["X"]
    assert x.dtype == np.float32 and x.size >= elements - 4 and np.all(x == np.round(x))
    assert np.sum(x == x.max()) >= x.size // 10, "an even seed draws integers in [-2, 2]: many-way ties"
    assert example.cotangent.shape == () and example.cotangent != 0


def test_large_examples_only_where_one_vjp_covers_the_argument() -> None:
    assert vs.large_eligible(get_case("reduce.max_all")) and vs.large_eligible(get_case("reduce.norm2"))
    assert not vs.large_eligible(get_case("reduce.max"))  # a dense Jacobian: out × arg entries
    assert not vs.large_eligible(get_case("losses.softmax_xent"))  # two arguments: fd's columns grow as n²


def test_only_arguments_declared_square_are_drawn_as_permuted_diagonals() -> None:
    assert vs.is_square((3, 3)) and vs.is_square(("n", "n"))
    assert not vs.is_square(("m", "n")) and not vs.is_square((3,)) and not vs.is_square(("n", "n", "n"))
    # a matrix case that is square only when its drawn sizes agree (matmul's square menu entry) is not declared square
    assert not any(vs.is_square(a.shape) for a in get_case("linalg.matmul").args)
    assert [c.id for c in CASES if any(vs.is_square(a.shape) for a in c.args)] == ["linalg.det_native"]


@pytest.mark.parametrize("n", [2, 3])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_permuted_diagonal_is_a_permutation_times_a_tied_diagonal(n: int, data: st.DataObject) -> None:
    matrix = data.draw(vs.permuted_diagonals(n))
    assert matrix.shape == (n, n)
    assert np.count_nonzero(matrix) == n and all(np.count_nonzero(row) == 1 for row in (*matrix, *matrix.T))
    assert set(matrix[matrix != 0]) <= set(vs.TIED_VALUES)


def test_the_det_case_reaches_permutation_matrices_and_tied_diagonals() -> None:
    """Random bytes never give a permutation matrix or diag(2, 2, -1) exactly; the permuted-diagonal draws do."""
    from hypothesis import find

    case = get_case("linalg.det_native")
    searched = settings(database=None, max_examples=2000, deadline=None, derandomize=True)

    def permutation(example: vs.Example) -> bool:
        matrix = example.values["A"]
        return bool(np.all(np.isin(matrix, (0.0, 1.0))) and np.all(matrix.sum(axis=0) == 1) and np.all(matrix.sum(axis=1) == 1))

    def tied_diagonal(example: vs.Example) -> bool:
        diagonal = np.diag(example.values["A"])
        return np.array_equal(example.values["A"], np.diag(diagonal)) and len(set(diagonal)) < 3 and 0 not in diagonal \
            and set(diagonal) != {1.0}

    assert permutation(find(vs.examples(case, np.float64), permutation, settings=searched))
    assert tied_diagonal(find(vs.examples(case, np.float32), tied_diagonal, settings=searched))
