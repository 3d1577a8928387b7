"""Hypothesis strategies for every input the checks need: one module, imported as ``vs``.

Sizes come from a few buckets so that engines that compile per shape (JAX) do
not spend the run compiling; values from each argument's domain; probes
(cotangents, tangents) from [-2, 2].  Every draw is hypothesis's, so a failure
shrinks to a minimal counterexample and a seed reproduces a run.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import strategies as st

from verigrad.dtypes import as_dtype, finfo, value_bound
from verigrad.reference import LABEL, NONZERO, NONZERO_MIN_ABS, POSITIVE, REAL, Case, resolve_shape

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
#: float16's smallest normal number is 2⁻¹⁴: from 2⁻¹² a square (Σ x², a norm) is subnormal and loses
#: precision that a later √ or division amplifies (x/‖x‖ off by 1 % at x = 2⁻¹⁰), outside the rounding
#: model.  Its non-zero inputs are at least 2⁻⁶, so squares and two-factor products stay normal (2⁻¹²).
MIN_NONZERO_BY_DTYPE = {"float16": 2.0**-6}


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
#: The longest byte-string choice an example's arrays are drawn in (their bytes are drawn in such chunks).
CHUNK_BYTES = ELEMENT_BYTES * 32
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
    smallest = NONZERO_MIN_ABS if domain in (NONZERO, POSITIVE) else MIN_NONZERO
    smallest = max(smallest, MIN_NONZERO_BY_DTYPE.get(str(np.dtype(dtype)), 0.0))
    raw = np.frombuffer(blob, dtype=np.uint8).reshape(-1, ELEMENT_BYTES)
    selector, exponent_byte = raw[:, 0], raw[:, 1]
    mantissa = raw[:, 2:].astype(np.float64) @ (256.0 ** -np.arange(1, ELEMENT_BYTES - 1))
    exponents = _exponents(smallest, bound)
    exponent = exponents[exponent_byte % len(exponents)]
    at_bound = np.isnan(exponent)
    magnitude = np.where(at_bound, bound, np.ldexp(1.0 + mantissa, np.where(at_bound, 0, exponent).astype(int)))
    values = np.where(selector & 1 & (domain != POSITIVE), -magnitude, magnitude)
    if zeros and domain == REAL:
        values = np.where(selector < ZERO_SELECTORS, 0.0, values)
    return values.astype(dtype).reshape(shape)


@lru_cache(maxsize=4096)
def array(
    dtype: np.dtype, shape: tuple[int, ...], domain: str = "real", bound: float = VALUE_RANGE, zeros: bool = True
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``dtype`` and ``shape`` with elements from ``domain`` (exact zeros included if ``zeros``).

    One byte-string choice per array (per 32 elements), not one choice per element: hypothesis's
    per-choice bookkeeping was most of a check's time, and the bytes still shrink
    element by element (see :func:`decode`).  Cached: building a strategy costs
    more than drawing from it.
    """
    dtype = as_dtype(dtype)
    size = ELEMENT_BYTES * int(np.prod(shape, dtype=np.int64))
    return _blob(size).map(lambda blob: decode(blob, dtype, shape, domain, bound, zeros))


def sizes(case: Case) -> st.SearchStrategy[dict[str, int]]:
    """The sizes a case's shapes need: one entry of its :func:`shape_menu` (the smallest first, for shrinking).

    One strategy per case, built once; keyed by id and checked by identity, because
    a user's case (``verify_case``, ``check_function``) need not be in the table.
    """
    known = _MENUS.get(case.id)
    if known is None or known[0] is not case:
        known = _MENUS[case.id] = (case, st.sampled_from(shape_menu(case)))
    return known[1]


#: case id -> (the case, its sizes strategy).
_MENUS: dict[str, tuple[Case, st.SearchStrategy[dict[str, int]]]] = {}


#: Sizes that cross the SIMD vector widths of CPU kernels (4, 8 or 16 lanes): a remainder loop, a
#: full vector, one past it.  Each case gets one of them, in turn, so the catalog covers them all
#: while each case compiles few shapes (JAX and tinygrad compile once per shape).
CROSSING_WIDTHS = (7, 8, 9, 16, 17, 33)


def shape_menu(case: Case) -> tuple[dict[str, int], ...]:
    """The few size combinations a case draws from: the small buckets, a square one, one crossing a vector width.

    Square: every size symbol equal (m = N = n), so a matrix case meets square
    matrices (a Jacobian transposed only for square shapes shows); the buckets
    keep m ≠ n (non-square).  The crossing width is the case's turn in
    :data:`CROSSING_WIDTHS`, lowered until the example fits the draw budget.
    """
    names = sorted(case.size_symbols())
    if not names:
        return ({},)
    menu = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(SIZE_BUCKETS[n] for n in names))]
    turn = zlib.crc32(case.id.encode()) % len(CROSSING_WIDTHS)
    widths = CROSSING_WIDTHS[: turn + 1][::-1]
    widest, largest = (names[-1] if "n" not in names else "n"), menu[-1]
    for make in (lambda w: dict.fromkeys(names, w), lambda w: {**largest, widest: w}):
        fitting = [candidate for candidate in map(make, widths) if _elements(case, candidate) <= MAX_ELEMENTS]
        if fitting and fitting[0] not in menu:
            menu.append(fitting[0])
    return tuple(menu)


def _elements(case: Case, chosen: dict[str, int]) -> int:
    """Elements one example draws at these sizes: inputs, tangents and the cotangent (the widest parameters)."""
    arguments = sum(int(np.prod(resolve_shape(a.shape, chosen))) for a in case.args)
    outputs = max(
        int(np.prod(case.output_shape(chosen, dict(zip(case.params, combo, strict=True)))))
        for combo in itertools.product(*case.params.values())
    )
    return 2 * arguments + outputs


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
    chunks = [CHUNK_BYTES] * (size // CHUNK_BYTES) + ([size % CHUNK_BYTES] if size % CHUNK_BYTES else [])
    if len(chunks) <= 1:
        return st.binary(min_size=size, max_size=size)
    # Several choices of at most CHUNK_BYTES: hypothesis ranks a byte-string choice (its shrink order) by a big
    # integer of all its bytes, quadratic in the length; a 2.3 kB choice spent most of a shrink ranking itself.
    return st.tuples(*(st.binary(min_size=n, max_size=n) for n in chunks)).map(b"".join)


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
    large: bool = False,
) -> Example:
    """An example for ``case`` in ``dtype``: inputs, parameters, and the probes a property uses.

    Probes not asked for are zeros (every drawn byte costs time):
    ``cotangent`` draws the output cotangent, ``tangents`` names the arguments that
    get a drawn tangent (None: all of them).  Probes are non-zero, so that every
    entry of a result is exercised.  ``large``: one example in :data:`LARGE_ONE_IN`
    is a large one (:func:`_large_example`) where the case allows it.
    """
    dtype = as_dtype(dtype)
    # Large draws in every format: their magnitudes shrink with n where the format's range needs it (large_bound).
    if large and large_eligible(case) and draw(_LARGE_TICKET) == LARGE_ONE_IN - 1:
        return _large_example(case, dtype, draw(_LARGE_SIZE), draw(_SEED), cotangent, tangents)
    chosen = draw(sizes(case))
    params = {name: draw(_choice(choices)) for name, choices in case.params.items()}
    domains = domains or {}
    shapes = {a.name: resolve_shape(a.shape, chosen) for a in case.args}
    out_shape = case.output_shape(chosen, params)
    wanted = [a.name for a in case.args if tangents is None or a.name in tangents]
    bound = value_bound(dtype)  # float16 draws from a narrower range, so that x⁸ cannot overflow
    # A label field is drawn as a real one and read as a class index (see _labels).
    fields = [_Field(shapes[a.name], _drawn_domain(domains.get(a.name, a.domain)), bound) for a in case.args]
    probe_shapes = ([out_shape] if cotangent else []) + [shapes[name] for name in wanted]
    fields += [_Field(shape, bound=PROBE_RANGE, zeros=False) for shape in probe_shapes]
    drawn = iter(_draw_arrays(draw, dtype, fields))
    values = {a.name: _labels(next(drawn), chosen[a.classes]) if a.domain == LABEL else next(drawn) for a in case.args}
    square = [a.name for a in case.args if is_square(a.shape) and shapes[a.name][0] > 1]
    if square and draw(_TIED_SPECTRUM_TICKET) == TIED_SPECTRUM_ONE_IN - 1:
        for name in square:
            values[name] = draw(permuted_diagonals(shapes[name][0])).astype(dtype)
    drawn_cotangent = next(drawn) if cotangent else np.zeros(out_shape, dtype)
    drawn_tangents = {name: next(drawn) for name in wanted}
    probes = {a.name: drawn_tangents.get(a.name, np.zeros(shapes[a.name], dtype)) for a in case.args}
    return Example(values, params, drawn_cotangent, probes, chosen)


#: One example in this many draws each square matrix argument as a permuted diagonal matrix with tied entries
#: (see :func:`permuted_diagonals`), where a case declares one: I, 2I, diag(2, 2, 1), a permutation matrix.
TIED_SPECTRUM_ONE_IN = 8
_TIED_SPECTRUM_TICKET = st.integers(0, TIED_SPECTRUM_ONE_IN - 1)
#: The diagonal's values: few, so that a 3 × 3 draw ties most of the time, and exact in every format.
TIED_VALUES = (1.0, 2.0, -1.0, 0.5)


def is_square(shape: tuple[Any, ...]) -> bool:
    """Whether a declared shape is a square matrix by construction ((3, 3), ("n", "n")), not by a draw's sizes."""
    return len(shape) == 2 and shape[0] == shape[1]


@lru_cache(maxsize=16)
def permuted_diagonals(n: int) -> st.SearchStrategy[np.ndarray]:
    """P·diag(d), n × n, with d from :data:`TIED_VALUES` (the simplest: the identity): ties in a spectrum.

    Singular values or pivots that repeat are where a decomposition's derivative divides by their
    differences (an SVD's, an eigendecomposition's, an LU's with no row exchange), and random draws
    never repeat them exactly: torch's det Hessian is NaN at I, 2I, diag(2, 2, 3) and permutation matrices.
    """
    diagonal = st.lists(st.sampled_from(TIED_VALUES), min_size=n, max_size=n)
    return st.tuples(st.permutations(range(n)), diagonal).map(lambda drawn: np.diag(drawn[1])[list(drawn[0])])


#: One example in this many is large, where a property asks for it and the case has one argument and
#: a scalar output (a row Jacobian): one VJP at any size, and a finite-difference oracle's n columns of
#: n-element evaluations stay within seconds (fd: 1.5 s at 4096 elements, 6 s at 10240; a matrix loss
#: at 20000 took fd 50-150 s, so those stay small).
LARGE_ONE_IN = 64
#: Elements of the argument of a large example: hundreds to ten thousand.
LARGE_SIZES = (384, 4096, 10240)
#: A large example's values at the draw's simplest (0): integers in [-2, 2], so a max or min ties
#: hundreds or thousands of ways (tinygrad #12296); 1: uniform in ±large_bound.
_LARGE_TICKET = st.integers(0, LARGE_ONE_IN - 1)
_LARGE_SIZE = st.sampled_from(LARGE_SIZES)
_SEED = st.integers(0, 2**32 - 1)


#: A large example keeps a sum and a sum of squares of its n elements (n·b and n·b²: the largest forward of
#: a large-eligible case, reduce.norm2's Σ x²) below the format's largest finite number over this factor.
#: Rounding cannot take a computed sum of non-negative terms past it: each addition of t either leaves the
#: partial sum s alone (t < ulp(s)/2) or errs by at most ulp(s + t)/2 ≤ 2t, so the sum stays below 3·Σ t.
OVERFLOW_HEADROOM = 4.0


def large_bound(dtype: Any, elements: int) -> float:
    """The magnitude bound b of a large example of ``elements`` entries in ``dtype``: the dtype's value bound,
    halved (ties stay ties) until n·max(b, b²) ≤ largest finite / OVERFLOW_HEADROOM.

    float32 and float64 keep ±8 at every size; float16 (65504) gets 2 at 384 elements and 1 at 4096 and
    10240, so a correct engine's forward and backward stay finite while > 2048 elements tie.
    """
    largest = float(finfo(dtype).max) / OVERFLOW_HEADROOM
    bound = min(VALUE_RANGE, value_bound(dtype))
    while elements * max(bound, bound * bound) > largest:
        bound /= 2
    return bound


#: A large example's cotangent c is scaled so that its even share over the n elements (c/n ≤ c/k, a k-way
#: tie's share) lies this many times above the format's smallest normal number: the tolerance's underflow
#: floor (roundings × smallest normal; float16: 2⁻¹⁴) would otherwise hide a wrong share at n = 10240.
SHARE_OVER_FLOOR = 2.0**10


def large_cotangent_scale(dtype: Any, elements: int) -> float:
    """The power of two (at least 1) a large example's cotangent is multiplied by: min |c| / n ≥ SHARE_OVER_FLOOR ×
    the smallest normal number.  1 for float32, float64 and bfloat16; float16: 64 at 384 elements, 2048 at 10240."""
    tiny = float(finfo(dtype).tiny)
    scale = 1.0
    while 0.5 * scale / elements < SHARE_OVER_FLOOR * tiny:
        scale *= 2
    return scale


def large_eligible(case: Case) -> bool:
    """Whether a case may draw large examples: one array argument and a scalar output (a row Jacobian)."""
    return len(case.args) == 1 and bool(case.size_symbols()) and all(p.structure.value == "row" for p in case.partials.values())


def _large_sizes(case: Case, elements: int) -> dict[str, int]:
    """Sizes giving the largest argument about ``elements`` entries: 4 for every symbol but the widest."""
    names = sorted(case.size_symbols())
    widest = "n" if "n" in names else names[-1]
    chosen = dict.fromkeys(names, 4)
    largest = max(int(np.prod(resolve_shape(a.shape, {**chosen, widest: 1}))) for a in case.args)
    chosen[widest] = max(1, elements // max(largest, 1))
    return chosen


def _large_example(case: Case, dtype: np.dtype, elements: int, seed: int, cotangent: bool,
                   tangents: tuple[str, ...] | None) -> Example:
    """A large example from numpy's generator seeded by hypothesis's draw (hypothesis cannot hold it as bytes).

    Even seeds tie: every input an integer in [-2, 2], ±2 each three times as likely as -1, 0 or 1 (so max
    and min tie about n/3 ways: > 2048, float16's exact count, at 10240 elements), times min(1, b/2) for the
    bound b = :func:`large_bound`; odd seeds are uniform in ±b.  Probes are uniform in ±[1/2, PROBE_RANGE].
    """
    rng = np.random.default_rng(seed)
    chosen = _large_sizes(case, elements)
    widest = max(int(np.prod(resolve_shape(a.shape, chosen))) for a in case.args)
    bound = large_bound(dtype, widest)
    params = {name: choices[0] for name, choices in case.params.items()}
    values = {}
    for arg in case.args:
        shape = resolve_shape(arg.shape, chosen)
        if arg.domain == LABEL:
            values[arg.name] = rng.integers(0, chosen[arg.classes], shape)
            continue
        if seed % 2 == 0:
            raw = np.clip(rng.integers(-4, 5, shape), -2, 2).astype(np.float64) * min(1.0, bound / 2)
        else:
            raw = rng.uniform(-bound, bound, shape)
        if arg.domain != REAL:
            raw = np.where(np.abs(raw) < NONZERO_MIN_ABS, 1.0, raw)
            raw = np.abs(raw) if arg.domain == POSITIVE else raw
        values[arg.name] = raw.astype(dtype)

    def probe(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
        magnitude = rng.uniform(0.5, PROBE_RANGE, shape) * scale
        return np.where(rng.integers(0, 2, shape) == 1, magnitude, -magnitude).astype(dtype)

    out_shape = case.output_shape(chosen, params)
    wanted = [a.name for a in case.args if tangents is None or a.name in tangents]
    drawn_cotangent = probe(out_shape, large_cotangent_scale(dtype, widest)) if cotangent else np.zeros(out_shape, dtype)
    probes = {a.name: probe(values[a.name].shape) if a.name in wanted else np.zeros(values[a.name].shape, dtype) for a in case.args}
    return Example(values, params, drawn_cotangent, probes, chosen)


def _drawn_domain(domain: str) -> str:
    return REAL if domain == LABEL else domain


def _labels(values: np.ndarray, classes: int) -> np.ndarray:
    """Class indices in [0, classes) from drawn reals: all-zero bytes (the simplest draw) give class 0."""
    return (np.floor(np.abs(values.astype(np.float64))).astype(np.int64) % classes).reshape(values.shape)


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
    return examples(case, dtype, tangents=(), large=True).map(lambda ex: replace(ex, values=project(dict(ex.values))))
