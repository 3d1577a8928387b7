"""Coverage: every catalog case exists, and the plan gives every case a check per engine and dtype."""

from __future__ import annotations

import pytest

from verigrad.checks import PROPERTIES
from verigrad.oracles import BUILTIN_ENGINES
from verigrad.reference import CASES, CASES_BY_ID
from verigrad.runner import DTYPES, plan

#: The ids of ../shared/CATALOG.md, copied here so that CI (which has no ../shared) guards them too.
CATALOG_IDS = (
    "scalar.constant", "scalar.multiple", "scalar.power", "scalar.sum", "scalar.difference", "scalar.product",
    "scalar.chain", "scalar.total_derivative", "grad.f", "grad.g", "jacobian.fg", "vector.identity",
    "elementwise.add", "elementwise.sub", "elementwise.mul", "elementwise.div", "elementwise.max",
    "scalar_expansion.add", "scalar_expansion.sub", "scalar_expansion.mul", "scalar_expansion.div",
    "reduction.sum", "reduction.sum_scaled", "reduction.dot", "chain.vector", "chain.matvec_sin",
    "neuron.affine", "neuron.relu", "neuron.activation", "loss.relu_mse", "loss.gd_step",
)


def test_every_catalog_id_is_a_case() -> None:
    # The built-in table (CASES_BY_ID also holds cases a test registered from a user's --catalog):
    # the seed's ids first, unchanged.
    assert [case.id for case in CASES[: len(CATALOG_IDS)]] == list(CATALOG_IDS)
    assert all(CASES_BY_ID[case.id] is case for case in CASES)


def test_cases_beyond_the_seed_use_new_prefixes() -> None:
    """The seed's ids are unchanged; every other built-in case sits under a prefix the seed does not use."""
    seed_prefixes = {case_id.split(".")[0] for case_id in CATALOG_IDS}
    beyond = [case.id for case in CASES if case.id not in CATALOG_IDS]
    assert len(CASES) >= 70 and beyond
    assert not {case_id.split(".")[0] for case_id in beyond} & seed_prefixes


@pytest.mark.parametrize("engine", sorted(BUILTIN_ENGINES))
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_every_case_has_every_per_argument_check_for_every_engine(case, engine: str) -> None:
    specs = {(s.property, s.arg, s.dtype) for s in plan([engine], cases=[case])}
    for prop in ("vjp", "jvp", "adjoint"):
        for arg in case.differentiable_args:
            for dtype in DTYPES:
                assert (prop, arg, dtype) in specs, f"{prop}[{case.id}-{arg}-{engine}-{dtype}] is missing"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_optional_properties_apply_exactly_where_they_should(case) -> None:
    properties = {s.property for s in plan(["jax"], cases=[case])}
    assert ("kink" in properties) == (case.kink is not None)
    assert ("aliased" in properties) == bool(case.aliasable_pairs())
    assert ("structure" in properties) == any(PROPERTIES["structure"].applies(case, a) for a in case.differentiable_args)


def test_check_ids_are_unique() -> None:
    ids = [s.id for s in plan(sorted(BUILTIN_ENGINES))]
    assert len(ids) == len(set(ids))
