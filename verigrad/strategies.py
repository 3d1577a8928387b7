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

from verigrad.dtypes import value_bound
from verigrad.reference import NONZERO, NONZERO_MIN_ABS, Case, resolve_shape
from verigrad.reference.shapes import symbols

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


#: Bytes that encode one element: a selector byte (zero or sign), an exponent
#: byte, and six mantissa bytes (48 bits; float32 rounds them to its own 24).
ELEMENT_BYTES = 8
#: Selector bytes below this give an exact zero where zeros are allowed: one in four.
ZERO_SELECTORS = 64
#: Magnitudes in [1/4, bound] are drawn this many times as often as smaller ones,
#: so most elements are of ordinary size while tiny ones still appear.
ORDINARY_WEIGHT = 6
ORDINARY_EXPONENT = -2


@lru_cache(maxsize=64)
def _exponents(smallest: float, bound: float) -> np.ndarray:
    """The binade of each exponent byte value, simplest (2⁰) first; NaN stands for ``bound`` itself.

    Ordered for shrinking: hypothesis minimizes a byte towards 0, which walks an
    element towards magnitude 1, then 2, ½, 4, ... rather than towards tiny values.
    """
    low, high = int(np.ceil(np.log2(smallest))), int(np.floor(np.log2(bound)))
    if 2.0**high == bound:  # the bound's own binade holds only the bound
        high -= 1
    by_simplicity = sorted(range(low, high + 1), key=lambda e: (abs(e), e < 0))
    ordinary = [e for e in by_simplicity if e >= ORDINARY_EXPONENT]
    table = [*by_simplicity, np.nan, *ordinary * (ORDINARY_WEIGHT - 1)]
    return np.array(table, dtype=np.float64)


def decode(blob: bytes, dtype: np.dtype, shape: tuple[int, ...], domain: str, bound: float, zeros: bool) -> np.ndarray:
    """The array ``blob`` encodes: ELEMENT_BYTES per element, all-zero bytes being the simplest value.

    A zero blob decodes to exact zeros (or ones where zeros are not allowed), and
    zeroing any mantissa byte gives a shorter binary fraction, so hypothesis's byte
    shrinking yields small, readable counterexamples.  Magnitudes lie in
    [smallest, bound], where smallest is the domain's least non-zero magnitude.
    """
    smallest = NONZERO_MIN_ABS if domain == NONZERO else MIN_NONZERO
    raw = np.frombuffer(blob, dtype=np.uint8).reshape(-1, ELEMENT_BYTES)
    selector, exponent_byte = raw[:, 0], raw[:, 1]
    mantissa = raw[:, 2:].astype(np.float64) @ (256.0 ** -np.arange(1, ELEMENT_BYTES - 1))
    exponents = _exponents(smallest, bound)
    exponent = exponents[exponent_byte % len(exponents)]
    at_bound = np.isnan(exponent)
    magnitude = np.where(at_bound, bound, np.ldexp(1.0 + mantissa, np.where(at_bound, 0, exponent).astype(int)))
    values = np.where(selector & 1, -magnitude, magnitude)
    if zeros and domain != NONZERO:
        values = np.where(selector < ZERO_SELECTORS, 0.0, values)
    return values.astype(dtype).reshape(shape)


@lru_cache(maxsize=4096)
def array(
    dtype: np.dtype, shape: tuple[int, ...], domain: str = "real", bound: float = VALUE_RANGE, zeros: bool = True
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``dtype`` and ``shape`` with elements from ``domain`` (exact zeros included if ``zeros``).

    One byte-string choice per array, not one choice per element: hypothesis's
    per-choice bookkeeping was most of a check's time, and the bytes still shrink
    element by element (see :func:`decode`).  Cached: building a strategy costs
    more than drawing from it.
    """
    dtype = np.dtype(dtype)
    size = ELEMENT_BYTES * int(np.prod(shape, dtype=np.int64))
    return _blob(size).map(lambda blob: decode(blob, dtype, shape, domain, bound, zeros))


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


#: Hypothesis draws at most 8 KiB per example; an example's arrays must fit in half of it.
MAX_ELEMENTS = 4096 // ELEMENT_BYTES


@lru_cache(maxsize=1024)
def _blob(size: int) -> st.SearchStrategy[bytes]:
    if size > ELEMENT_BYTES * MAX_ELEMENTS:
        raise ValueError(
            f"an example of {size // ELEMENT_BYTES} elements is too large to draw (at most {MAX_ELEMENTS}); "
            "check large sizes with verigrad.scale, which draws from numpy's generator"
        )
    return st.binary(min_size=size, max_size=size)


@dataclass(frozen=True)
class _Field:
    """One array of an example and how its bytes decode."""

    shape: tuple[int, ...]
    domain: str = "real"
    bound: float = VALUE_RANGE
    zeros: bool = True

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _draw_arrays(draw: Any, dtype: np.dtype, fields: list[_Field]) -> list[np.ndarray]:
    """All of an example's arrays from one byte-string choice (each choice has a fixed bookkeeping cost).

    Fields that decode alike (inputs; probes) are decoded together: numpy's
    per-call overhead, not the arithmetic, is what decoding costs.
    """
    blob = draw(_blob(ELEMENT_BYTES * sum(f.size for f in fields)))
    offsets = np.cumsum([0] + [f.size for f in fields])
    raw = np.frombuffer(blob, dtype=np.uint8).reshape(-1, ELEMENT_BYTES)
    flat: list[np.ndarray | None] = [None] * len(fields)
    for kind in {(f.domain, f.bound, f.zeros) for f in fields}:
        members = [i for i, f in enumerate(fields) if (f.domain, f.bound, f.zeros) == kind]
        rows = np.concatenate([raw[offsets[i] : offsets[i + 1]] for i in members])
        decoded = decode(rows.tobytes(), dtype, (len(rows),), *kind)
        starts = np.cumsum([0] + [fields[i].size for i in members])
        for j, i in enumerate(members):
            flat[i] = decoded[starts[j] : starts[j + 1]]
    # Copies: an engine that writes into one input must not change another.
    return [values.reshape(f.shape).copy() for values, f in zip(flat, fields, strict=True)]


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

    Probes not asked for are zeros (every drawn byte costs time):
    ``cotangent`` draws the output cotangent, ``tangents`` names the arguments that
    get a drawn tangent (None: all of them).  Probes are non-zero, so that every
    entry of a result is exercised.
    """
    dtype = np.dtype(dtype)
    chosen = draw(sizes(case))
    params = {name: draw(_choice(choices)) for name, choices in case.params.items()}
    domains = domains or {}
    shapes = {a.name: resolve_shape(a.shape, chosen) for a in case.args}
    out_shape = resolve_shape(case.output, chosen)
    wanted = [a.name for a in case.args if tangents is None or a.name in tangents]
    bound = value_bound(dtype)  # float16 draws from a narrower range, so that x⁸ cannot overflow
    fields = [_Field(shapes[a.name], domains.get(a.name, a.domain), bound) for a in case.args]
    probe_shapes = ([out_shape] if cotangent else []) + [shapes[name] for name in wanted]
    fields += [_Field(shape, bound=PROBE_RANGE, zeros=False) for shape in probe_shapes]
    drawn = iter(_draw_arrays(draw, dtype, fields))
    values = {a.name: next(drawn) for a in case.args}
    drawn_cotangent = next(drawn) if cotangent else np.zeros(out_shape, dtype)
    drawn_tangents = {name: next(drawn) for name in wanted}
    probes = {a.name: drawn_tangents.get(a.name, np.zeros(shapes[a.name], dtype)) for a in case.args}
    return Example(values, params, drawn_cotangent, probes, chosen)


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
