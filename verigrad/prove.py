"""Prove a case's closed forms from its primal: symbolically with sympy, or in exact arithmetic.

``prove_case(case)`` runs the case's own primal on real sympy symbols (through
:class:`verigrad.symbolic.SymbolicNamespace`, the primal vocabulary of
``oracles/protocol.py``), differentiates it with sympy and shows that every entry
of every closed-form Jacobian equals it: at every size of a small grid
(n = 1..4, m and N = 1..3), for every parameter value, on every region of the
primal's kinks (each sign pattern of what its ``max`` and ``>`` compare), and, on
a kink, that the closed form at shares t = 0, ½, 1 is t·(limit from one side) +
(1 − t)·(limit from the other).  That is a proof for those sizes, not a sample.

``prove_case(case, method="exact")`` draws float64 points with hypothesis and,
in exact arithmetic (fractions, or 50-digit mpmath for sin/cos/log), checks that
the closed form equals the primal's exact derivative there and that its float64
evaluation lies within the case's declared rounding bound ``ops · u ·
magnitude``, the bound every engine check builds on.

Each returns a :class:`CaseProof`: ``proved`` (symbolic), ``passed`` (exact, at
every drawn point), ``mismatch`` (each :class:`Mismatch` names the argument, the
Jacobian entry and a concrete counterexample point), or ``unsupported`` (the
primal or a closed form cannot run on symbols or exact numbers; ``reason`` says
why).  The built-in catalog is proved by the same functions in the repository's
tests (``tests/reference``).  ``verify_case`` (finite differences) is the
numeric check for what cannot be proved here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from verigrad import symbolic
from verigrad.reference import LABEL, NONZERO, NONZERO_MIN_ABS, POSITIVE, Case, Point, resolve_shape
from verigrad.reference.jacobian import Structure
from verigrad.verify_case import verify_case

__all__ = ["METHODS", "CaseProof", "Counterexample", "EntryError", "Mismatch", "ProofOptions", "numeric_proof", "prove_case"]

PROVED, PASSED, MISMATCH, UNSUPPORTED = "proved", "passed", "mismatch", "unsupported"

#: A size whose primal compares more than this many expressions (2^k regions) is left to the smaller sizes.
MAX_REGION_KEYS = 4
#: Kink checks enumerate the other kinks' regions too: smaller sizes keep them quick.
KINK_SIZES: dict[str, tuple[int, ...]] = {"n": (1, 2, 3), "m": (1, 2), "N": (1, 2)}
#: The shares t at which a closed form on a kink must be the mixture of the two sides.
SHARES = (sympy.Integer(0), sympy.Rational(1, 2), sympy.Integer(1))

#: Counterexample candidates: dyadic magnitudes (exact in float64), and how many points to try.
CANDIDATE_MAGNITUDES = (0.5, 1.25, 0.75, 2.0, 1.5, 0.25, 3.0, 1.75, 1.0, 2.5, 0.375, 1.125)
CANDIDATE_TRIALS = 64
#: Mismatches of one argument searched for a counterexample (a region may hold no candidate point).
COUNTEREXAMPLE_TRIES = 5
#: A difference counts as visible at a point when it exceeds this fraction of the values compared.
VISIBLE = 1e-9
#: Mismatches a CaseProof prints (all are in ``mismatches``).
SHOWN = 3

#: Exact-method inputs: sizes per symbol, and 0 or 2⁻¹⁰ ≤ |v| ≤ 8 (no underflow: the bound is first-order and relative).
EXACT_SIZES: dict[str, tuple[int, ...]] = {"n": (1, 2, 3, 5), "m": (1, 2, 3), "N": (1, 2, 4)}
EXACT_VALUE_MAX = 8.0
EXACT_VALUE_MIN_ABS = 2.0**-10


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class Counterexample:
    """A concrete input (float64, exactly representable) where a closed form and the primal's derivative differ."""

    values: Mapping[str, np.ndarray]
    params: Mapping[str, Any]
    t: float
    closed_form: float
    derivative: float

    def __str__(self) -> str:
        return (f"{_inputs_text(self.values, self.params, self.t)}: closed form {self.closed_form!r}, "
                f"derivative of the primal {self.derivative!r}")


def _inputs_text(values: Mapping[str, np.ndarray], params: Mapping[str, Any], t: float = 0.0) -> str:
    inputs = ", ".join(f"{name}={np.asarray(v).tolist()}" for name, v in values.items())
    return inputs + "".join(f", {k}={v!r}" for k, v in params.items()) + (f", t={t}" if t else "")


@dataclass(frozen=True)
class Mismatch:
    """One Jacobian entry where a closed form is not the derivative of the primal (or breaks its rounding bound).

    ``entry`` is (output index, argument index): the closed form's ∂out[i]/∂arg[j].
    ``where`` says on which region, kink or point it was found.
    """

    case: str
    arg: str
    sizes: Mapping[str, int]
    params: Mapping[str, Any]
    entry: tuple[tuple[int, ...], tuple[int, ...]]
    where: str
    closed_form: Any
    derivative: Any
    counterexample: Counterexample | None = None
    kind: str = "derivative"  # or "bound": the float64 closed form breaks its declared rounding bound
    share: float = 0.0  # the share t of a closed form on a kink
    # What a counterexample search needs: the symbols, the region's sides, a kink's pivot and its solution.
    symbols: Mapping[str, np.ndarray] | None = dataclasses.field(default=None, repr=False, compare=False)
    region: Mapping[Any, Any] | None = dataclasses.field(default=None, repr=False, compare=False)
    pivot: tuple[Any, Any] | None = dataclasses.field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        out, arg = self.entry
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        if self.kind == "bound":  # the entry indexes the closed form's structured data
            return f"{self.case} ∂/∂{self.arg} data{list(out)} {self.where}: {self.closed_form}"
        head = f"{self.case} ∂out{list(out) if out else ''}/∂{self.arg}{list(arg) if arg else ''}"
        head += f" (sizes {sizes})" if sizes else ""
        # A symbolic mismatch shows its expressions, then a concrete point; an exact one was found at its point.
        found = f"; counterexample {self.counterexample}" if self.counterexample and self.symbols is not None else ""
        return f"{head} {self.where}: closed form {self.closed_form}, derivative of the primal {self.derivative}{found}"


@dataclass(frozen=True)
class CaseProof:
    """What ``prove_case`` found for one case: a status, the mismatches, the scope or the reason."""

    case: str
    method: str
    status: str
    mismatches: tuple[Mismatch, ...] = ()
    reason: str = ""
    scope: str = ""

    @property
    def holds(self) -> bool:
        """True when the closed forms were proved (symbolic) or held at every drawn point (exact)."""
        return self.status in (PROVED, PASSED)

    def __str__(self) -> str:
        shown = [f"  {m}" for m in self.mismatches[:SHOWN]]
        if len(self.mismatches) > SHOWN:
            shown.append(f"  ... and {len(self.mismatches) - SHOWN} more mismatching entries")
        detail = {MISMATCH: "\n".join(shown) if shown else f"  {self.reason}", UNSUPPORTED: f"  {self.reason}"}
        text = f"{self.status.upper():<12}{self.case}  ({self.method}{': ' + self.scope if self.scope else ''})"
        return text + ("\n" + detail[self.status] if self.status in detail else "")


# ---------------------------------------------------------- symbolic proof


def _entry(dense_index: tuple[int, int], out_shape: tuple[int, ...], arg_shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    i, j = dense_index
    return (tuple(int(k) for k in np.unravel_index(i, out_shape)), tuple(int(k) for k in np.unravel_index(j, arg_shape)))


def _region_text(region: Mapping[Any, Any]) -> str:
    if not region:
        return "everywhere (no kink)"
    return "on the region " + ", ".join(f"{key} {'>' if side == 1 else '<'} 0" for key, side in region.items())


def closed_form_mismatches(
    case: Case, arg: str, grid: Mapping[str, tuple[int, ...]] = symbolic.SYMBOLIC_SIZES
) -> list[Mismatch]:
    """Every (sizes, params, region, entry) where ``case``'s closed form for ``arg`` is not sympy's derivative.

    Raises ValueError when no size of ``grid`` has at most :data:`MAX_REGION_KEYS` kink expressions.
    """
    mismatches, proved = [], 0
    for sizes in symbolic.size_grid(case, grid):
        arrays = symbolic.symbolic_arrays(case, dict(sizes))
        for params in symbolic.param_grid(case):
            keys = symbolic.kink_keys(case, sizes, params)
            if len(keys) > MAX_REGION_KEYS:
                continue
            proved += 1
            for region in symbolic.regions(keys):
                mismatches += _region_mismatches(case, arg, arrays, dict(sizes), params, region)
    if not proved:
        raise ValueError(f"no size of {dict(grid)} has at most {MAX_REGION_KEYS} kink expressions: nothing proved")
    return mismatches


def _region_mismatches(
    case: Case, arg: str, arrays: dict[str, np.ndarray], sizes: dict[str, int], params: symbolic.Params,
    region: symbolic.RegionKey,
) -> list[Mismatch]:
    expected = symbolic.primal_jacobians(case, tuple(sizes.items()), params, region)[arg]
    point = symbolic.RegionPoint({**arrays, **dict(params)}, symbolic.Region(dict(region)))
    actual = symbolic.closed_form_dense(case, arg, point, sizes)
    out_shape = symbolic.output_shape(case, point, sizes)
    arg_shape = resolve_shape(case.arg(arg).shape, sizes)
    if actual.shape != expected.shape:
        return [Mismatch(case.id, arg, sizes, dict(params), ((), ()), f"shape: closed form {actual.shape}",
                         actual.shape, expected.shape)]
    return [
        Mismatch(case.id, arg, sizes, dict(params), _entry(index, out_shape, arg_shape), _region_text(dict(region)),
                 actual[index], expected[index], symbols=arrays, region=dict(region))
        for index in np.ndindex(actual.shape)
        if not symbolic.is_zero(actual[index] - expected[index])
    ]


def segment_kink(case: Case, arg: str) -> bool:
    """Whether the kink's subdifferential is the segment between the two sides' limits (one kink at a time).

    A reduction's many-way ties (a simplex) and the 2-norm at 0 (a ball) are not
    segments; element-wise closed forms still meet one kink per element, unless that
    kink is a point no variable enters linearly (hypot's a² + b² = 0: a disc, no two sides).
    """
    if case.kink is None or (case.kink.nearest is not None and case.partials[arg].structure is not Structure.DIAGONAL):
        return False
    sizes, params = symbolic.size_grid(case)[0], symbolic.param_grid(case)[0]
    return all(_has_pivot(key) for key in symbolic.kink_keys(case, sizes, params))


def _has_pivot(key: Any) -> bool:
    try:
        symbolic.kink_pivot(key)
    except ValueError:
        return False
    return True


def kink_mismatches(case: Case, arg: str, grid: Mapping[str, tuple[int, ...]] = KINK_SIZES) -> list[Mismatch]:
    """Every kink where the closed form with share t is not t·(limit from > 0) + (1 − t)·(limit from < 0)."""
    mismatches = []
    for sizes in symbolic.size_grid(case, grid):
        arrays = symbolic.symbolic_arrays(case, dict(sizes))
        for params in symbolic.param_grid(case):
            keys = symbolic.kink_keys(case, sizes, params)
            for kink in keys:
                for other_region in symbolic.regions(tuple(k for k in keys if k != kink)):
                    mismatches += _on_kink_mismatches(case, arg, arrays, dict(sizes), params, keys, kink, dict(other_region))
    return mismatches


def _on_kink_mismatches(
    case: Case, arg: str, arrays: dict[str, np.ndarray], sizes: dict[str, int], params: symbolic.Params,
    keys: tuple[Any, ...], kink: Any, sides: dict[Any, int],
) -> list[Mismatch]:
    pivot = symbolic.kink_pivot(kink)
    (solution,) = sympy.solve(kink, pivot)
    size_key = tuple(sizes.items())
    positive = symbolic.primal_jacobians(case, size_key, params, tuple((k, sides.get(k, 1)) for k in keys))[arg]
    negative = symbolic.primal_jacobians(case, size_key, params, tuple((k, sides.get(k, 0)) for k in keys))[arg]
    arg_shape = resolve_shape(case.arg(arg).shape, sizes)
    found = []
    for t in SHARES:
        point = symbolic.RegionPoint({**arrays, **dict(params)}, symbolic.Region({**sides, kink: symbolic.SymNum(t)}))
        actual = symbolic.closed_form_dense(case, arg, point, sizes)
        out_shape = symbolic.output_shape(case, point, sizes)
        for index in np.ndindex(actual.shape):
            member = t * positive[index] + (1 - t) * negative[index]
            if not symbolic.is_zero((actual[index] - member).subs(pivot, solution)):
                where = f"on the kink {kink} = 0 at share t = {t}" + (f", {_region_text(sides)[3:]}" if sides else "")
                found.append(Mismatch(case.id, arg, sizes, dict(params), _entry(index, out_shape, arg_shape), where,
                                      actual[index].subs(pivot, solution), member.subs(pivot, solution),
                                      symbols=arrays, region=sides, pivot=(pivot, solution), share=float(t)))
    return found


# ------------------------------------------------------------ counterexamples


def _candidate(trial: int, position: int, domain: str) -> Fraction:
    """A deterministic dyadic value for one input element: magnitudes and signs vary with trial and position."""
    magnitude = Fraction(CANDIDATE_MAGNITUDES[(5 * position + 7 * trial) % len(CANDIDATE_MAGNITUDES)])
    negative = domain != POSITIVE and ((trial + 1) * (position + 3) * 2654435761 >> 9) & 1
    return -magnitude if negative else magnitude


def _in_region(region: Mapping[Any, Any], subs: dict[Any, Any]) -> bool:
    for key, side in region.items():
        if side not in (0, 1):
            continue
        value = key.subs(subs)
        if value == 0 or (value > 0) != (side == 1):
            return False
    return True


def _number(expr: Any, subs: dict[Any, Any]) -> complex | None:
    try:
        value = complex(sympy.N(sympy.sympify(expr).subs(subs), 30))
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and abs(value.imag) <= VISIBLE * (1 + abs(value.real)) else None


def find_counterexample(case: Case, mismatch: Mismatch) -> Counterexample | None:
    """A concrete point in the mismatch's region (and the case's domains) where the two values visibly differ."""
    if mismatch.symbols is None:
        return None
    for trial in range(CANDIDATE_TRIALS):
        subs = _candidate_substitution(case, mismatch.symbols, trial)
        if mismatch.pivot is not None:
            pivot, solution = mismatch.pivot
            subs[pivot] = solution.subs(subs)
        if not _in_region(mismatch.region or {}, subs):
            continue
        closed, derivative = _number(mismatch.closed_form, subs), _number(mismatch.derivative, subs)
        if closed is None or derivative is None:
            continue
        if abs(closed - derivative) > VISIBLE * max(1.0, abs(closed), abs(derivative)):
            return Counterexample(_concrete_values(case, mismatch.symbols, subs), mismatch.params, mismatch.share,
                                  closed.real, derivative.real)
    return None


def _candidate_substitution(case: Case, arrays: Mapping[str, np.ndarray], trial: int) -> dict[Any, Any]:
    subs: dict[Any, Any] = {}
    position = 0
    for arg in case.args:
        if arg.domain == LABEL:
            continue
        for s in symbolic.flat_symbols(arrays[arg.name]):
            value = _candidate(trial, position, arg.domain)
            subs[s] = sympy.Rational(value.numerator, value.denominator)
            position += 1
    return subs


def _concrete_values(case: Case, arrays: Mapping[str, np.ndarray], subs: dict[Any, Any]) -> dict[str, np.ndarray]:
    out = {}
    for name, array in arrays.items():
        entries = [float(symbolic.to_sympy(v).subs(subs)) for v in np.asarray(array, dtype=object).reshape(-1)]
        dtype = np.int64 if case.arg(name).domain == LABEL else np.float64
        out[name] = np.asarray(entries, dtype=dtype).reshape(np.shape(array))
    return out


# ------------------------------------------------------- exact arithmetic


@dataclass(frozen=True)
class EntryError:
    """One entry of a closed form's structured data: float64 value, exact value, |error| and the declared bound."""

    index: tuple[int, ...]
    float64: float
    exact: Any  # Fraction, or mpmath mpf for sin/cos/log closed forms
    error: Any
    bound: Any
    magnitude: float

    @property
    def within_bound(self) -> bool:
        return self.error <= self.bound


def _element(domain: str) -> st.SearchStrategy[float]:
    if domain in (NONZERO, POSITIVE):
        magnitude = st.floats(NONZERO_MIN_ABS, EXACT_VALUE_MAX)
        signs = (1.0,) if domain == POSITIVE else (1.0, -1.0)
        return st.tuples(st.sampled_from(signs), magnitude).map(lambda sm: sm[0] * sm[1])
    return st.floats(-EXACT_VALUE_MAX, EXACT_VALUE_MAX, allow_subnormal=False).map(
        lambda v: 0.0 if abs(v) < EXACT_VALUE_MIN_ABS else v
    )


@st.composite
def exact_points(
    draw: Any, case: Case, grid: Mapping[str, tuple[int, ...]] = EXACT_SIZES
) -> tuple[dict[str, int], dict[str, Any], dict[str, np.ndarray], float]:
    """Sizes, parameters, float64 arrays and a subgradient share t for one case, at small sizes."""
    sizes = {name: draw(st.sampled_from(grid.get(name, symbolic.OTHER_SIZES))) for name in symbolic.size_names(case)}
    params = {name: draw(st.sampled_from(values)) for name, values in sorted(case.params.items())}
    values = {
        arg.name: draw(hnp.arrays(np.int64, resolve_shape(arg.shape, sizes), elements=st.integers(0, sizes[arg.classes] - 1)))
        if arg.domain == LABEL
        else draw(hnp.arrays(np.float64, resolve_shape(arg.shape, sizes), elements=_element(arg.domain)))
        for arg in case.args
    }
    t = draw(st.sampled_from((0.0, 0.5, 1.0)))
    return sizes, params, values, t


def same_kink_side(case: Case, point64: Point, exact_point: Point) -> bool:
    """Whether float64 and exact arithmetic put every declared kink variable on the same side of 0."""
    if case.kink is None:
        return True
    z64 = np.ravel(np.asarray(case.kink.locus(point64)[0], dtype=np.float64))
    exact = np.ravel(np.asarray(case.kink.locus(exact_point)[0], dtype=object))
    exact_sign = [0 if v == 0 else (1 if v > 0 else -1) for v in exact]
    return list(np.sign(z64).astype(int)) == exact_sign


def rounding_errors(
    case: Case, arg: str, sizes: dict[str, int], params: dict[str, Any], values: dict[str, np.ndarray], t: float
) -> list[EntryError] | None:
    """Each entry's float64 error against the exact closed form, with its declared bound ops·u·magnitude.

    ``[]`` for an identity closed form (nothing to round); None where float64 and
    exact arithmetic put a kink variable on different sides (there the float64
    value is the other side's, which the harness covers with ``Point.u``).
    """
    partial = case.partials[arg]
    point64 = Point({**values, **params}, t=t)
    out_shape, arg_shape = case.output_shape(sizes, params), resolve_shape(case.arg(arg).shape, sizes)
    reference = partial.jacobian(point64, out_shape, arg_shape).data
    with mpmath.workdps(symbolic.EXACT_DIGITS):
        exact, kind, exact_point = symbolic.exact_closed_form(case, arg, sizes, params, values, t)
        if reference is None or exact is None:
            if (reference is None) != (exact is None):
                raise TypeError(f"{case.id} ∂/∂{arg}: the closed form returns None (identity) in one arithmetic only")
            return []
        if not same_kink_side(case, point64, exact_point):
            return None
        magnitude = partial.magnitude_jacobian(point64, out_shape, arg_shape).data
        ops = partial.ops(point64)
        rows = []
        for index in np.ndindex(reference.shape):
            ref, mag = float(reference[index]), float(magnitude[index])
            value = symbolic.exact_entry(exact[index], kind)
            if kind is symbolic.RatNum:
                error, bound = abs(Fraction(ref) - value), Fraction(ops) * symbolic.U64 * Fraction(mag)
            else:
                error, bound = abs(mpmath.mpf(ref) - value), mpmath.mpf(ops) * mpmath.mpf(2) ** -53 * mpmath.mpf(mag)
            rows.append(EntryError(tuple(int(i) for i in index), ref, value, error, bound, mag))
    return rows


def exact_mismatches(
    case: Case, arg: str, sizes: dict[str, int], params: dict[str, Any], values: dict[str, np.ndarray], t: float
) -> list[Mismatch]:
    """At one float64 point: the exact closed form against the primal's exact derivative (off kinks), and its bound."""
    found = []
    for row in rounding_errors(case, arg, sizes, params, values, t) or []:
        if not row.within_bound:
            found.append(Mismatch(case.id, arg, sizes, params, (row.index, ()), f"at {_inputs_text(values, params, t)}",
                                  f"float64 {row.float64!r} is {float(row.error):.3g} from the exact "
                                  f"{float(row.exact)!r}, beyond its declared bound {float(row.bound):.3g}",
                                  None, kind="bound"))
    if not symbolic.on_a_kink(case, values, params):
        found += _exact_derivative_mismatches(case, arg, sizes, params, values)
    return found


def _exact_derivative_mismatches(
    case: Case, arg: str, sizes: dict[str, int], params: dict[str, Any], values: dict[str, np.ndarray]
) -> list[Mismatch]:
    expected = symbolic.sympy_jacobian_at(case, arg, values, params)
    with mpmath.workdps(symbolic.EXACT_DIGITS):
        for kind in (symbolic.RatNum, symbolic.BigNum):
            point = symbolic.ExactPoint({**symbolic.wrap_values(values, kind), **params})
            try:
                actual = symbolic.closed_form_dense(case, arg, point, sizes)
                break
            except symbolic.Transcendental:
                continue
        out_shape, arg_shape = case.output_shape(sizes, params), resolve_shape(case.arg(arg).shape, sizes)
        found = []
        for index in np.ndindex(expected.shape):
            closed = complex(sympy.N(actual[index], symbolic.EXACT_DIGITS - 10))
            derivative = complex(sympy.N(expected[index], symbolic.EXACT_DIGITS - 10))
            if abs(closed - derivative) > VISIBLE * max(1.0, abs(derivative)):
                found.append(Mismatch(case.id, arg, sizes, params, _entry(index, out_shape, arg_shape),
                                      f"at {_inputs_text(values, params)}",
                                      closed.real, derivative.real,
                                      counterexample=Counterexample(values, params, 0.0, closed.real, derivative.real)))
    return found


# ------------------------------------------------------------------- driver


@dataclass(frozen=True)
class ProofOptions:
    """How far a proof reaches: the size grid (None: each method's own), and the exact method's points."""

    sizes: Mapping[str, tuple[int, ...]] | None = None
    examples: int = 20
    seed: int = 0


def _prove_symbolic(case: Case, options: ProofOptions) -> CaseProof:
    grid = options.sizes or symbolic.SYMBOLIC_SIZES
    mismatches: list[Mismatch] = []
    for arg in case.differentiable_args:
        found = closed_form_mismatches(case, arg, grid)
        if segment_kink(case, arg):
            found += kink_mismatches(case, arg, options.sizes or KINK_SIZES)
        mismatches += _with_counterexample(case, found)
    sizes = ", ".join(f"{n} ∈ {{{', '.join(map(str, grid.get(n, symbolic.OTHER_SIZES)))}}}" for n in symbolic.size_names(case))
    scope = f"every region of its kinks{', at ' + sizes if sizes else ''}"
    return CaseProof(case.id, "symbolic", MISMATCH if mismatches else PROVED, tuple(mismatches), scope=scope)


def _with_counterexample(case: Case, found: list[Mismatch]) -> list[Mismatch]:
    """The mismatches, the first that has a concrete counterexample (of the first few tried) carrying it."""
    for k, mismatch in enumerate(found[:COUNTEREXAMPLE_TRIES]):
        example = find_counterexample(case, mismatch)
        if example is not None:
            return [*found[:k], dataclasses.replace(mismatch, counterexample=example), *found[k + 1:]]
    return found


class _Found(Exception):
    """A drawn point with mismatches: hypothesis shrinks it."""


def _check_exact(case: Case, options: ProofOptions) -> CaseProof:
    failing: list[Mismatch] = []

    @settings(max_examples=options.examples, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(exact_points(case, options.sizes or EXACT_SIZES))
    def run(point: tuple[dict[str, int], dict[str, Any], dict[str, np.ndarray], float]) -> None:
        sizes, params, values, t = point
        found = [m for arg in case.differentiable_args for m in exact_mismatches(case, arg, sizes, params, values, t)]
        if found:
            failing[:] = found  # the last failing run is hypothesis's shrunk example
            raise _Found

    try:
        hypothesis_seed(options.seed)(run)()
    except _Found:
        return CaseProof(case.id, "exact", MISMATCH, tuple(failing))
    return CaseProof(case.id, "exact", PASSED, scope=f"{options.examples} drawn points, seed {options.seed}")


METHODS: dict[str, Callable[[Case, ProofOptions], CaseProof]] = {"symbolic": _prove_symbolic, "exact": _check_exact}


def prove_case(
    case: Case, method: str = "symbolic", *, sizes: Mapping[str, tuple[int, ...]] | None = None,
    examples: int = 20, seed: int = 0,
) -> CaseProof:
    """Prove ``case``'s closed forms from its primal (``method="symbolic"``) or check them exactly at drawn points.

    ``sizes`` replaces the size grid (say ``{"n": (1, 2)}``; a size it does not
    name takes 1, 2, 3); ``examples`` and ``seed`` set the points of
    ``method="exact"``.  Never raises for what the case's own code does: a primal
    or closed form that cannot run on sympy symbols or exact numbers gives status
    ``unsupported`` with the reason.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if not isinstance(case, Case):
        raise TypeError(f"prove_case takes a verigrad.reference.Case, not {type(case).__name__}")
    reason = _unsupported_primal(case)
    if reason:
        return CaseProof(case.id, method, UNSUPPORTED, reason=reason)
    try:
        return METHODS[method](case, ProofOptions(sizes, examples, seed))
    except Exception as error:  # the case's own code, run on numbers it was not written for: report, never a traceback
        return CaseProof(case.id, method, UNSUPPORTED, reason=_explain("a closed form or the comparison", error))


def numeric_proof(case: Case, examples: int = 20, seed: int = 0) -> CaseProof:
    """``verify_case`` (finite differences of the primal at drawn points) as a CaseProof: passed or mismatch.

    For what the symbolic namespace cannot follow; a sample, not a proof.
    """
    try:
        found = verify_case(case, examples=examples, seed=seed)
    except Exception as error:  # the case's own code in float64: report, never a traceback
        return CaseProof(case.id, "numeric", UNSUPPORTED, reason=_explain("the case", error, "in float64"))
    if found:
        return CaseProof(case.id, "numeric", MISMATCH, reason="\n  ".join(found[:SHOWN]))
    return CaseProof(case.id, "numeric", PASSED, scope=f"finite differences at {examples} drawn points, seed {seed}")


def _unsupported_primal(case: Case) -> str:
    """Why the primal cannot run on sympy symbols at the smallest sizes ('' when it can)."""
    smallest = symbolic.size_grid(case)[0]
    try:
        for params in symbolic.param_grid(case):
            symbolic.kink_keys(case, smallest, params)
    except Exception as error:  # the user's primal on symbols: any failure is the answer
        return _explain("the primal", error)
    return ""


#: Hints for the failures a case's code meets most often on symbols, by a phrase of the message.
HINTS: Sequence[tuple[str, str]] = (
    ("float", "build arrays from the point's own ones (np.zeros_like(p.x)) or with dtype=object, so that they hold symbols"),
    ("not in the primal vocabulary", "write it with the vocabulary's operations, or check the case with verify_case (numeric)"),
    ("ufunc", "numpy functions beyond sin, cos, exp, log, tanh, sqrt have no symbolic form here; use the xp vocabulary"),
)


def _explain(what: str, error: Exception, numbers: str = "on symbolic or exact numbers") -> str:
    if isinstance(error, symbolic.Unsupported):  # says what and why already
        message = str(error)
    else:
        message = f"{what} cannot run {numbers}: {type(error).__name__}: {error}"
    hints = [hint for phrase, hint in HINTS if phrase in str(error)]
    return message + (f" (hint: {hints[0]})" if hints else "")
