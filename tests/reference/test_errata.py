"""Every erratum of the seed, demonstrated: one test id per erratum and property.

For each row of ``reference.errata.ERRATA``:

* on its counterexample the seed's formula and the reference differ far beyond
  rounding (a million times the reference's own rounding bound);
* the reference agrees there with an independent oracle: sympy's exact
  derivative (or value) of the primal, on the region containing the point (on a
  kink, the limit from the side the erratum's share t picks);
* the seed's formula also fails on other inputs hypothesis draws where the
  erratum's precondition holds (the strategies below build such inputs);
* where the precondition fails, the seed's formula agrees with the reference:
  evidence that ``wrong`` implements the seed's statement, not an arbitrary mistake.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from verigrad import symbolic
from verigrad.reference import Point, get_case
from verigrad.reference.errata import ERRATA, ERRATA_BY_ID, Erratum, demonstrate

U64 = 2.0**-53

#: "Far beyond rounding": this many times the reference's own rounding bound, and at least this much.
BEYOND_ROUNDING = 1e6
MIN_DIFFERENCE = 1e-6

#: The errata CATALOG.md lists (its §6.1/§6.2 item is two rows here: ∂C/∂w and ∂C/∂b).
CATALOG_ERRATA = (
    "seed-6.1-drops-relu-condition",
    "seed-6.2-drops-relu-condition",
    "seed-5-bias-derivative-as-vector",
    "seed-4.5.2-total-derivative-double-count",
)

IDS = [erratum.id for erratum in ERRATA]


def _differs_far_beyond_rounding(result: dict[str, Any]) -> bool:
    threshold = max(BEYOND_ROUNDING * result["rounding_bound"], MIN_DIFFERENCE)
    return result["max_abs_diff"] > threshold


# ----------------------------------------------------------------- strategies


def _floats(bound: float = 4.0) -> st.SearchStrategy[float]:
    """Floats in [-bound, bound], 0 or at least 2⁻¹⁰ in size."""
    return st.floats(-bound, bound, allow_subnormal=False).map(lambda v: 0.0 if abs(v) < 2.0**-10 else v)


def _vector(n: int, elements: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, (n,), elements=_floats() if elements is None else elements)


@st.composite
def _active_and_inactive_samples(draw: Any, inactive_sum: str) -> dict[str, np.ndarray]:
    """A batch with samples on both sides of the ReLU, the inactive ones adding up to something."""
    n, N = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    w = draw(_vector(n))
    X = draw(hnp.arrays(np.float64, (N, n), elements=_floats()))
    y = draw(_vector(N))
    s = X @ w
    assume(np.max(s) - np.min(s) > 0.5)
    b = np.float64(-(np.max(s) + np.min(s)) / 2)  # the largest z is ≥ 0.25, the smallest ≤ −0.25
    z = s + b
    inactive = z < 0
    e = z - y
    contribution = e[inactive] @ X[inactive] if inactive_sum == "e x" else np.sum(e[inactive])
    assume(np.max(np.abs(contribution)) > 1e-3)
    return {"w": w, "b": np.asarray(b), "X": X, "y": y}


@st.composite
def _active_neuron(draw: Any) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 3))
    w, x = draw(_vector(n)), draw(_vector(n))
    assume(np.max(np.abs(x - 1.0)) > 1e-3)
    b = abs(float(w @ x)) + draw(st.floats(0.25, 4.0))
    return {"w": w, "x": x, "b": np.asarray(b)}


@st.composite
def _nonzero_scalar(draw: Any) -> dict[str, np.ndarray]:
    x = draw(_floats(8.0))
    assume(x != 0)
    return {"x": np.asarray(x)}


@st.composite
def _last_entries_differ(draw: Any) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 4))
    w, x = draw(_vector(n)), draw(_vector(n))
    assume(abs(w[-1] - x[-1]) > 1e-3)
    return {"w": w, "x": x}


@st.composite
def _dot_with_nonzero_x(draw: Any) -> dict[str, np.ndarray]:
    n = draw(st.integers(2, 4))
    w, x = draw(_vector(n)), draw(_vector(n))
    assume(np.max(np.abs(x)) > 1e-3)
    return {"w": w, "x": x}


@st.composite
def _x_whose_inverse_overflows(draw: Any) -> dict[str, np.ndarray]:
    x = draw(st.floats(-(2.0**-1025), 2.0**-1025, allow_subnormal=True))
    return {"x": np.asarray(x)}


@st.composite
def _neuron_on_kink(draw: Any) -> dict[str, np.ndarray]:
    """Integer w and x and b = −w·x: z = 0 exactly, in any order of evaluation."""
    n = draw(st.integers(1, 3))
    integers = st.integers(-4, 4).map(float)
    w, x = draw(_vector(n, integers)), draw(_vector(n, integers))
    assume(np.any(x != 0))
    return {"w": w, "x": x, "b": np.asarray(-(w @ x))}


@st.composite
def _single_sample(draw: Any) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 3))
    values = {
        "w": draw(_vector(n)),
        "b": np.asarray(draw(_floats())),
        "X": draw(hnp.arrays(np.float64, (1, n), elements=_floats())),
        "y": draw(_vector(1)),
    }
    result = demonstrate(ERRATA_BY_ID["seed-6.1-loss-value-is-gradient"], values)
    assume(result["max_abs_diff"] > 1e-3)
    return values


@st.composite
def _several_samples(draw: Any) -> dict[str, np.ndarray]:
    n, N = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    values = {
        "w": draw(_vector(n)),
        "b": np.asarray(draw(_floats())),
        "X": draw(hnp.arrays(np.float64, (N, n), elements=_floats())),
        "y": draw(_vector(N)),
    }
    result = demonstrate(ERRATA_BY_ID["seed-6.1-unindexed-sample"], values)
    assume(result["max_abs_diff"] > 1e-3)
    return values


#: Inputs where each erratum's precondition holds (its ``precondition`` in words).
PRECONDITION_STRATEGIES: dict[str, st.SearchStrategy[dict[str, np.ndarray]]] = {
    "seed-6.1-drops-relu-condition": _active_and_inactive_samples("e x"),
    "seed-6.2-drops-relu-condition": _active_and_inactive_samples("e"),
    "seed-5-bias-derivative-as-vector": _active_neuron(),
    "seed-4.5.2-total-derivative-double-count": _nonzero_scalar(),
    "seed-4.2-jw-last-entry-wrt-x": _last_entries_differ(),
    "seed-5-dot-product-jacobian-diag": _dot_with_nonzero_x(),
    "seed-2-power-rule-nan-at-n0": _x_whose_inverse_overflows(),
    "seed-5-relu-derivative-at-kink": _neuron_on_kink(),
    "seed-6.1-loss-value-is-gradient": _single_sample(),
    "seed-6.1-unindexed-sample": _several_samples(),
}

#: Inputs where the precondition fails and the seed's formula is right.
AGREEMENT_POINTS: dict[str, dict[str, np.ndarray]] = {
    "seed-6.1-drops-relu-condition": {
        "w": np.array([1.0]),
        "b": np.asarray(1.0),
        "X": np.array([[1.0], [2.0]]),
        "y": np.array([0.5, -1.0]),
    },
    "seed-6.2-drops-relu-condition": {
        "w": np.array([1.0]),
        "b": np.asarray(1.0),
        "X": np.array([[1.0], [2.0]]),
        "y": np.array([0.5, -1.0]),
    },
    "seed-5-bias-derivative-as-vector": {"w": np.array([2.0]), "x": np.array([1.0]), "b": np.asarray(0.5)},
    "seed-4.5.2-total-derivative-double-count": {"x": np.asarray(0.0)},
    "seed-4.2-jw-last-entry-wrt-x": {"w": np.array([2.0, 3.0]), "x": np.array([5.0, 3.0])},
    "seed-5-dot-product-jacobian-diag": {"w": np.array([2.0]), "x": np.array([3.0])},
    "seed-2-power-rule-nan-at-n0": {"x": np.asarray(1.5)},
    "seed-5-relu-derivative-at-kink": {"w": np.array([1.0, 2.0]), "x": np.array([3.0, -1.0]), "b": np.asarray(0.5)},
    "seed-6.1-loss-value-is-gradient": {
        "w": np.array([1.0]),
        "b": np.asarray(0.0),
        "X": np.array([[2.0]]),
        "y": np.array([-2.0]),
    },
    "seed-6.1-unindexed-sample": {
        "w": np.array([1.0, -1.0]),
        "b": np.asarray(0.5),
        "X": np.array([[2.0, 1.0]]),
        "y": np.array([3.0]),
    },
}


# ---------------------------------------------------------------------- tests


def test_errata_table_is_complete() -> None:
    assert set(CATALOG_ERRATA) <= set(ERRATA_BY_ID), "every erratum CATALOG.md lists has a row"
    assert set(PRECONDITION_STRATEGIES) == set(ERRATA_BY_ID), "every erratum has a precondition strategy"
    assert set(AGREEMENT_POINTS) == set(ERRATA_BY_ID), "every erratum has a point where the seed is right"
    for erratum in ERRATA:
        assert erratum.id.startswith("seed-") and erratum.section.startswith("§")
        assert erratum.wrong_statement and erratum.right_statement and erratum.precondition
        for name, array in erratum.counterexample.items():
            assert isinstance(array, np.ndarray) and array.dtype == np.float64, (erratum.id, name)


@pytest.mark.parametrize("erratum", ERRATA, ids=IDS)
def test_seed_formula_differs_on_counterexample(erratum: Erratum) -> None:
    result = demonstrate(erratum)
    assert _differs_far_beyond_rounding(result), (
        f"{erratum.id}: wrong {result['wrong']} vs right {result['right']}: "
        f"max |difference| {result['max_abs_diff']:.3g}, rounding bound {result['rounding_bound']:.3g}"
    )


@pytest.mark.parametrize("erratum", ERRATA, ids=IDS)
def test_reference_agrees_with_sympy_at_counterexample(erratum: Erratum) -> None:
    case = get_case(erratum.case_id)
    values = dict(erratum.counterexample)
    result = demonstrate(erratum)
    if erratum.compare == "primal":
        (oracle,) = symbolic.sympy_primal_at(case, values, erratum.params)
        assert abs(float(result["right"]) - float(oracle)) <= result["rounding_bound"], (result["right"], oracle)
        return
    point = Point({**values, **erratum.params}, t=erratum.t)
    out_shape = np.shape(case.primal(np, *(values[name] for name in case.arg_names), **erratum.params))
    partial = case.partials[erratum.arg]
    arg_shape = values[erratum.arg].shape
    reference = partial.jacobian(point, out_shape, arg_shape).dense()
    bound = partial.ops(point) * U64 * partial.magnitude_jacobian(point, out_shape, arg_shape).dense()
    oracle = symbolic.sympy_jacobian_at(case, erratum.arg, values, erratum.params, t=erratum.t)
    assert oracle.shape == reference.shape
    for index in np.ndindex(reference.shape):
        assert abs(reference[index] - float(oracle[index])) <= np.abs(bound[index]), (
            f"{erratum.id} entry {index}: reference {reference[index]}, sympy {oracle[index]}"
        )


@pytest.mark.parametrize("erratum", ERRATA, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_seed_formula_fails_wherever_precondition_holds(erratum: Erratum, data: st.DataObject) -> None:
    values = data.draw(PRECONDITION_STRATEGIES[erratum.id], label="inputs")
    result = demonstrate(erratum, values)
    assert _differs_far_beyond_rounding(result), (
        f"{erratum.id} ({erratum.precondition}): wrong {result['wrong']} vs right {result['right']}"
    )


@pytest.mark.parametrize("erratum", ERRATA, ids=IDS)
def test_seed_formula_is_right_where_precondition_fails(erratum: Erratum) -> None:
    result = demonstrate(erratum, AGREEMENT_POINTS[erratum.id])
    assert result["max_abs_diff"] <= result["rounding_bound"], (
        f"{erratum.id}: wrong {result['wrong']} vs right {result['right']} where the seed should be right"
    )


def test_errata_module_imports_numpy_only() -> None:
    """``reference`` (errata included) must not pull sympy, mpmath, hypothesis or an engine in."""
    code = (
        "import sys, reference, reference.errata; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sympy', 'mpmath', 'hypothesis', 'scipy', 'jax', 'torch', 'pytest'}); "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"reference imports {result.stdout.strip()}"
