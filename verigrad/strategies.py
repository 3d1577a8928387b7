"""Hypothesis strategies for every input the checks need: one module, imported as ``vs``.

Sizes come from a few buckets so that engines that compile per shape (JAX) do
not spend the run compiling; values from each argument's domain; probes
(cotangents, tangents) from [-2, 2].  Every draw is hypothesis's, so a failure
shrinks to a minimal counterexample and a seed reproduces a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import NONZERO, NONZERO_MIN_ABS, Case, resolve_shape
from reference.shapes import symbols

#: Sizes drawn per symbol.  m is never equal to any n so chain.matvec_sin is
#: always non-square and a transposed Jacobian cannot pass.
SIZE_BUCKETS: dict[str, tuple[int, ...]] = {"n": (1, 5), "m": (3,), "N": (1, 4)}

#: Inputs lie in [-VALUE_RANGE, VALUE_RANGE]: large enough for x⁸ and sin of
#: many periods, small enough that float32 never overflows in the catalog.
VALUE_RANGE = 8.0
PROBE_RANGE = 2.0

#: Non-zero inputs and probes are at least this large in magnitude.  The longest
#: product in the catalog has about ten factors (x⁸ times a probe), and
#: (2⁻¹²)¹⁰ = 2⁻¹²⁰ stays above float32's smallest normal number (2⁻¹²⁶), so no
#: intermediate underflows: flushing subnormals to zero (XLA does) is a platform
#: choice outside the rounding model, not a gradient bug.  Exact zeros are drawn.
MIN_NONZERO = 2.0**-12


@dataclass
class Example:
    """One input of a check: arrays (in the engine's dtype), parameters, probes."""

    values: dict[str, np.ndarray]
    params: dict[str, Any]
    cotangent: np.ndarray
    tangents: dict[str, np.ndarray]
    sizes: dict[str, int] = field(default_factory=dict)

    def primals(self, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        return tuple(self.values[name] for name in names)


def _elements(dtype: np.dtype, domain: str, bound: float, zeros: bool) -> st.SearchStrategy[float]:
    width = 32 if dtype == np.float32 else 64
    common = {"allow_nan": False, "allow_infinity": False, "allow_subnormal": False, "width": width}
    smallest = NONZERO_MIN_ABS if domain == NONZERO else MIN_NONZERO
    positive = st.floats(smallest, bound, **common)
    negative = st.floats(-bound, -smallest, **common)
    if domain == NONZERO or not zeros:
        return positive | negative
    # A union picks its branches evenly: zero in one of four, so that exact zeros
    # (kinks, vanishing terms) are common but do not swamp the example.
    return st.one_of(positive, negative, positive | negative, st.just(0.0))


@lru_cache(maxsize=4096)
def array(
    dtype: np.dtype, shape: tuple[int, ...], domain: str = "real", bound: float = VALUE_RANGE, zeros: bool = True
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``dtype`` and ``shape`` with elements from ``domain`` (exact zeros included if ``zeros``).

    Cached: building and validating a strategy costs more than drawing from it.
    """
    return hnp.arrays(dtype, shape, elements=_elements(np.dtype(dtype), domain, bound, zeros))


def probe(dtype: np.dtype, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Cotangents and tangents: non-zero entries, so that every entry of the result is exercised."""
    return array(dtype, shape, "real", PROBE_RANGE, False)


def sizes(case: Case) -> st.SearchStrategy[dict[str, int]]:
    """The sizes a case's shapes need, each from its bucket."""
    names: set[str] = set()
    for shape in [a.shape for a in case.args] + [case.output]:
        names |= symbols(shape)
    return _sizes(tuple(sorted(names)))


@lru_cache(maxsize=64)
def _sizes(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, int]]:
    return st.fixed_dictionaries({name: st.sampled_from(SIZE_BUCKETS[name]) for name in names})


@lru_cache(maxsize=256)
def _choice(choices: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    return st.sampled_from(choices)


@st.composite
def examples(
    draw: Any,
    case: Case,
    dtype: Any,
    domains: dict[str, str] | None = None,
    cotangent: bool = True,
    tangents: tuple[str, ...] | None = None,
) -> Example:
    """An example for ``case`` in ``dtype``: inputs, parameters, and the probes a property uses.

    Probes not asked for are zeros (drawing elements is the costly part of a run):
    ``cotangent`` draws the output cotangent, ``tangents`` names the arguments that
    get a drawn tangent (None: all of them).
    """
    dtype = np.dtype(dtype)
    chosen = draw(sizes(case))
    domains = domains or {}
    values = {
        a.name: draw(array(dtype, resolve_shape(a.shape, chosen), domains.get(a.name, a.domain)))
        for a in case.args
    }
    params = {name: draw(_choice(choices)) for name, choices in case.params.items()}
    out_shape = resolve_shape(case.output, chosen)
    drawn_cotangent = draw(probe(dtype, out_shape)) if cotangent else np.zeros(out_shape, dtype)
    wanted = case.arg_names if tangents is None else tangents
    drawn = {
        a.name: draw(probe(dtype, values[a.name].shape)) if a.name in wanted else np.zeros_like(values[a.name])
        for a in case.args
    }
    return Example(values, params, drawn_cotangent, drawn, chosen)


def aliased_examples(case: Case, dtype: Any, first: str, second: str, same_object: bool) -> st.SearchStrategy[Example]:
    """Examples where ``second`` holds ``first``'s values: the same array object, or an equal copy."""
    a, b = case.arg(first), case.arg(second)
    domain = NONZERO if NONZERO in (a.domain, b.domain) else a.domain

    def alias(example: Example) -> Example:
        values = dict(example.values)
        values[second] = values[first] if same_object else values[first].copy()
        return replace(example, values=values)

    return examples(case, dtype, {first: domain, second: domain}, tangents=()).map(alias)


def kink_examples(case: Case, dtype: Any) -> st.SearchStrategy[Example]:
    """Examples moved exactly onto the case's kink (ties, z = 0)."""
    if case.kink is None:
        raise ValueError(f"case {case.id} has no kink")
    project = case.kink.project
    return examples(case, dtype, tangents=()).map(lambda ex: replace(ex, values=project(dict(ex.values))))
