"""Structure-aware verification at scale: every Jacobian entry accounted for, none materialized.

The property suite checks small examples (n ≤ 5).  This module checks one case's
argument at any size n (10⁶ in a few seconds) against the structured closed form
(:mod:`reference.jacobian`), with engine VJPs and JVPs chosen by the Jacobian's
structure so that every entry takes part in some comparison, in time and memory
linear in n (dense Jacobians excepted, see below).

Probes, by structure
--------------------
Write J for the exact Jacobian, J' for the Jacobian the engine actually applies
(J' = J + E plus rounding), b for the entry-wise rounding bound of the compared
result (:class:`verigrad.tolerance.Tolerance`).  A result entry fails when it is
further than b from the closed form.

``row`` (scalar output) and ``scalar``
    One VJP with cotangent 1 returns the whole gradient, i.e. every entry of J,
    each compared on its own: any entry with |E_j| > 2·b_j is flagged, with
    certainty.  (JVPs with random sign tangents check forward mode as a sum.)
``column`` (scalar argument)
    One JVP with tangent 1 returns the whole column: any |E_i| > 2·b_i is flagged,
    with certainty.  (VJPs with sign cotangents check reverse mode as a sum.)
``identity``, ``diagonal``, ``dense`` (beyond ``FULL_JACOBIAN_CALLS``)
    VJPs with independent random sign cotangents s ∈ {±1}^m: entry j of the
    result is Σ_i s_i J'_ij = d_j s_j + Σ_{i≠j} s_i E_ij (diagonal case), so every
    entry of column j takes part.  JVPs with sign tangents do the same by rows
    (and exercise forward mode, a separate code path in most engines).
    Since |s| = 1 the bound b does not depend on the draw.

    *Detection guarantee.*  For any column j and any fixed error column E_:j,
    P_s(|Σ_i s_i E_ij| ≥ max_i |E_ij|) ≥ ½: flipping the sign of the largest
    term's s_i changes the sum by 2·max|E_ij|, so one of the two sums is at least
    that large.  Hence if any entry has |E_ij| > 2·b_j (b_j also covers the
    engine's honest rounding), one sign draw flags column j with probability
    ≥ ½, and k independent draws miss it with probability ≤ 2^-k (k = ``probes``
    per direction; the default 4 gives ≤ 1/16 per direction, and VJPs and JVPs
    are independent draws, so ≤ 1/256 when the error shows in both).  A *single*
    wrong entry (a wrong diagonal value, one leaked off-diagonal term, one
    perturbed weight) has nothing to cancel against and is flagged by every draw
    once |E_ij| > 2·b_j.  Only several wrong entries in one column that cancel
    for the drawn signs can escape a draw.  A leaked off-diagonal entry lands on
    top of d_j·s_j, so besides exceeding 2·b_j it must survive the engine's own
    rounding of that sum: leakage below half an ulp of |d_j| is invisible to any
    probe with s_j ≠ 0 (for the identity, b_j is only the underflow floor, so any
    leakage above ~1 ulp of 1 is caught).  That off-diagonals are *exactly* zero
    is the small-n ``structure`` property's job (basis vectors, n ≤ 5).
``dense`` (at most ``FULL_JACOBIAN_CALLS`` outputs / arguments)
    VJPs with the basis cotangents e_i (JVPs with e_j) give the full Jacobian:
    every entry compared on its own, with certainty.

Dense reference Jacobians are materialized by their closed forms, so a dense
case runs only while out·arg ≤ ``DENSE_ENTRY_LIMIT`` (larger: a ``skip``
verdict saying so); everything else is O(n) in time and memory.

Kinks: where a kink variable lies within its rounding blur (a ReLU input that
float32 may round to either side), each such variable gets its own subgradient
share t_c ∈ [0, 1], fitted by least squares, because an engine resolves each
sample's kink separately.

Inputs come from ``numpy.random.default_rng(seed)`` (never global state): values
uniform in ±8 (``|x| ≥ 0.125`` in the nonzero domain), drawn in float64 and
rounded to the dtype, then the sign probes from the same generator.  An argument
that the case reduces (fewer outputs than its entries: a sum, a max, a loss) is
also checked at *equal* inputs (``inputs="equal"``): every entry one value drawn
from its domain, under the worst-case bound (equal terms round alike, so the
probabilistic bound's independence does not hold).  Uniform draws never reach what equal values do at n = 10⁵: a max
or min tied n ways (the tie count, or a 1/k share, past float16's 65,504:
tinygrad #12296), a sum of n equal terms past the format's range where a correct
engine accumulates wider (a float16 mean or logsumexp of 70,000 values).  At equal inputs,
once the derivatives pass, the engine's own forward value (``evaluate``) is also compared with a
correct engine's, the case's program with each primitive correctly rounded to the format: an Inf
or NaN where that is finite is diagnosed ``overflowed`` (:func:`_value_probe`).  That catches the
overflow even where the derivative it ruins (a 1/n share that underflowed to 0) lies inside the
underflow floor.  The seed reproduces a check exactly; hypothesis draws it in the tests.

Entry points: :func:`check_at_scale` (one check, a :class:`~verigrad.records.Verdict`),
:func:`scale_plan` / :func:`run_scale` (many, for ``verigrad check --scale N``).

Deliberately wrong engines that measure what these checks catch
(:class:`SingleEntryEngine`, :class:`DegradedEngine`) are in :mod:`verigrad.oracles.mutants`.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import product
from typing import Any, NamedTuple

import numpy as np

from verigrad import truth
from verigrad.calls import CheckTimeout, ContractViolation, _raised, call_jvp, call_vjp, time_limit
from verigrad.compare import (
    Outcome,
    compare,
    failed_verdict,
    member_bound,
    new_verdict,
    operation_count,
    record_failure,
    skipped_verdict,
    summarize,
    timed_out,
    unsupported,
)
from verigrad.diagnosis import Diagnosis
from verigrad.dtypes import as_dtype, skip_if_unsupported
from verigrad.oracles.mutants import DegradedEngine as DegradedEngine  # re-exported
from verigrad.oracles.mutants import SingleEntryEngine as SingleEntryEngine  # re-exported
from verigrad.oracles.mutants import round_to_bfloat16 as round_to_bfloat16  # re-exported
from verigrad.records import Verdict
from verigrad.reference import (
    CASES,
    LABEL,
    NONZERO_MIN_ABS,
    POSITIVE,
    REAL,
    Case,
    Structure,
    StructuredJacobian,
    get_case,
    resolve_shape,
)
from verigrad.runner import FUNCTIONS
from verigrad.session import load_one
from verigrad.strategies import VALUE_RANGE
from verigrad.tolerance import FLOAT64_U, PROBABILISTIC, WORST, Tolerance, share_floor

__all__ = [
    "DEFAULT_PROBES",
    "DENSE_ENTRY_LIMIT",
    "FULL_JACOBIAN_CALLS",
    "NOT_AT_SCALE",
    "SCALE_FAMILIES",
    "SWEPT_PARAMS",
    "DegradedEngine",
    "ProbeResult",
    "ScaleCheck",
    "SingleEntryEngine",
    "check_at_scale",
    "check_values",
    "dense_sizes",
    "draw_inputs",
    "long_sizes",
    "run_scale",
    "scale_cases",
    "scale_params",
    "scale_plan",
    "scale_sizes",
]

#: Sign probes per direction (VJP, JVP) for identity/diagonal/dense Jacobians: miss probability ≤ 2^-probes.
DEFAULT_PROBES = 4
#: A dense Jacobian with at most this many outputs (arguments) is probed with every basis cotangent (tangent).
FULL_JACOBIAN_CALLS = 64
#: Dense closed forms larger than this many entries are not evaluated (they would need out·arg memory).
DENSE_ENTRY_LIMIT = 20_000_000
#: Kink variables within their rounding blur that get a share each; any beyond share the last one.
MAX_KINK_SHARES = 8
#: The case families ``verigrad check --scale`` runs by default (their arguments scale with n).
SCALE_FAMILIES = ("vector.*", "elementwise.*", "scalar_expansion.*", "reduction.*", "neuron.*", "loss.relu_mse", "chain.matvec_sin", "loss.gd_step",
                  "unary.*", "select.*", "reduce.*", "linalg.*", "broadcast.*", "losses.*")
#: Cases a scale check cannot judge, by id pattern, with the reason (their verdict is a skip saying it).
NOT_AT_SCALE = {
    "reduce.prod*": "a product of thousands of values of magnitude ≠ 1 overflows or underflows, in the closed form "
                    "as in any engine; the property checks cover it at small sizes (zeros included)",
}
#: Directions that overflow a format in any engine, for a reason the closed form's term magnitudes do not
#: show (the program's own intermediate), by (case-id pattern, dtype, direction): dropped, saying why.
PROGRAM_OVERFLOWS = {
    ("loss.relu_mse", "float16", "jvp"): "its primal is the seed's Σr²/N, so forward mode forms Σ2r·ṙ before dividing "
                                         "by N: about 10⁷ at N = 10⁵, past float16's 65,504, in any engine that runs "
                                         "the program as written",
}
#: Parameters whose every value gets its own scale check (a reduction's axis: row-like and column-like);
#: any other parameter takes its first value.
SWEPT_PARAMS = ("axis",)
#: How a scale check draws its inputs (see the module docstring): ``uniform`` for every check, ``equal`` as
#: well for an argument the case reduces.
INPUT_PATTERNS = ("uniform", "equal")
#: The size of a dimension that a dense Jacobian's argument shares with the output (see :func:`scale_sizes`).
SHARED_SIZE = 3
#: Result entries kept in a verdict's evidence (the worst ones).
EVIDENCE_ENTRIES = 5

VJP = "vjp"
JVP = "jvp"
DIRECTIONS = (VJP, JVP)
#: The probe of the function's own value (``evaluate``), taken at equal inputs: see :func:`_value_probe`.
VALUE = "value"


# ---------------------------------------------------------------------- inputs


def scale_sizes(case: Case, n: int, arg: str | None = None, params: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Concrete sizes for ``case`` so that its largest argument has about ``n`` elements.

    k sizes share n: each is ⌊n^(1/k)⌋, except m = ⌊n^(1/k)⌋ // 2 + 1 (so that a
    matrix is never square: a transposed Jacobian cannot pass) and the last (n, or
    N without n), which takes what is left.  So ``n`` alone is n; N × n samples at
    n = 10⁶ are 1000 × 1000; m × n weights 501 × 1996; a two-layer network's
    N, m, n are 100, 51, 196 (its primal work, N·m·n, stays about n).

    A dense Jacobian w.r.t. ``arg`` holds out·arg entries, which those sizes make
    grow as n^1.5; where the shapes allow, it gets :func:`dense_sizes` instead (linear in n).
    """
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    if arg is not None and case.partials[arg].structure is Structure.DENSE and long_sizes(case, arg, params):
        return dense_sizes(case, arg, n, params)
    names = case.size_symbols()
    unknown = names - {"n", "N", "m"}
    if unknown:
        raise ValueError(f"case {case.id}: no scale rule for sizes {sorted(unknown)}")
    if not names:
        return {}
    root = _iroot(n, len(names))
    sizes = dict.fromkeys(names, root)
    if "m" in names and len(names) > 1:
        sizes["m"] = root // 2 + 1
    last = "n" if "n" in names else "N" if "N" in names else "m"
    others = math.prod(size for name, size in sizes.items() if name != last)
    sizes[last] = max(1, n // others)
    return sizes


def _iroot(n: int, k: int) -> int:
    """The largest r ≥ 1 with r^k ≤ n."""
    root = max(1, round(n ** (1 / k)))
    while root > 1 and root**k > n:
        root -= 1
    while (root + 1) ** k <= n:
        root += 1
    return root


def dense_sizes(case: Case, arg: str, n: int, params: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Sizes at which a dense Jacobian w.r.t. ``arg`` has O(n) entries, derived from the case's shapes.

    A size the argument shares with the output (the kept axis of a reduction, the
    rows of both matmul operands) is ``SHARED_SIZE``; the others, the sizes only
    the argument has (the reduced axis, the contracted one) or, if it has none,
    those only the output has (the axis a broadcast argument is repeated along),
    share n between them.  So a reduction along axis 1 is checked on a few long
    rows and along axis 0 on a few long columns; a broadcast (m, 1) column against
    a long n.  Where the argument and the output share every size (softmax along
    an axis: block-diagonal in truth, stored dense) nothing can grow: all sizes
    stay ``SHARED_SIZE``, and :func:`scale_sizes` keeps its ordinary rule instead
    (a large n is then skipped by ``DENSE_ENTRY_LIMIT``).
    """
    names = sorted(case.size_symbols())
    long = long_sizes(case, arg, params)
    sizes = dict.fromkeys(names, SHARED_SIZE)
    shared_elements = SHARED_SIZE ** len(set(names) - long)
    each = max(1, round((n / shared_elements) ** (1 / len(long)))) if long else SHARED_SIZE
    sizes.update(dict.fromkeys(long, each))
    return sizes


def long_sizes(case: Case, arg: str, params: Mapping[str, Any] | None = None) -> set[str]:
    """The sizes :func:`dense_sizes` lets grow with n (empty: the argument shares every size with the output)."""
    names = sorted(case.size_symbols())
    params = _params(case, params)
    in_arg = {s for s in names if _grows(lambda sizes: resolve_shape(case.arg(arg).shape, sizes), names, s)}
    in_out = {s for s in names if _grows(lambda sizes: case.output_shape(sizes, params), names, s)}
    if not (in_arg ^ in_out):
        return set()
    # the other arguments' sizes only (samples) cost primal work, linear in n
    return (in_arg - in_out or in_out - in_arg) | (set(names) - in_arg - in_out)


def _grows(shape_of: Callable[[dict[str, int]], tuple[int, ...]], names: list[str], symbol: str) -> bool:
    """Whether a shape depends on the size ``symbol`` (its element count changes when the size does)."""
    base = dict.fromkeys(names, 2)
    return math.prod(shape_of(base)) != math.prod(shape_of({**base, symbol: 3}))


def _params(case: Case, params: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(params) if params is not None else {name: choices[0] for name, choices in case.params.items()}


def _draw(domain: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Float64 values of one argument's domain: uniform in ±8, away from 0 by 0.125 (nonzero), or positive."""
    if domain == REAL:
        return rng.uniform(-VALUE_RANGE, VALUE_RANGE, size=shape)
    magnitude = rng.uniform(NONZERO_MIN_ABS, VALUE_RANGE, size=shape)
    return magnitude if domain == POSITIVE else np.where(rng.integers(0, 2, size=shape) == 1, magnitude, -magnitude)


def draw_inputs(
    case: Case, dtype: Any, sizes: Mapping[str, int], rng: np.random.Generator, inputs: str = "uniform"
) -> dict[str, np.ndarray]:
    """One array per argument from ``rng`` in ``dtype`` (:func:`_draw`); labels are class indices, integers.

    ``inputs="equal"``: every entry of an argument is one value drawn from its domain (:data:`INPUT_PATTERNS`).
    """
    if inputs not in INPUT_PATTERNS:
        raise ValueError(f"inputs={inputs!r}: use one of {', '.join(INPUT_PATTERNS)}")
    dtype = as_dtype(dtype)
    values = {}
    for arg in case.args:
        shape = resolve_shape(arg.shape, sizes)
        if arg.domain == LABEL:
            values[arg.name] = rng.integers(0, sizes[arg.classes], size=shape)
        elif inputs == "equal":
            values[arg.name] = np.full(shape, _draw(arg.domain, (), rng), dtype=dtype)
        else:
            values[arg.name] = np.asarray(_draw(arg.domain, shape, rng), dtype=dtype)
    return values


def reduces(case: Case, arg: str, params: Mapping[str, Any]) -> bool:
    """Whether the case's output has fewer entries than ``arg`` (at sizes 4, 5, ...: a reduction, a loss)."""
    sizes = {name: 4 + index for index, name in enumerate(sorted(case.size_symbols()))}
    return math.prod(case.output_shape(sizes, dict(params))) < math.prod(resolve_shape(case.arg(arg).shape, sizes))


def _signs(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return (2 * rng.integers(0, 2, size=shape, dtype=np.int8) - 1).astype(dtype)


def _basis(size: int, index: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    e = np.zeros(size, dtype=dtype)
    e[index] = 1
    return e.reshape(shape)


# ----------------------------------------------------------------------- kinks
# (verigrad.truth.SharePoint: one subgradient share per kink variable)


@dataclass
class _Reference:
    """The closed-form Jacobian at t = 0 and, per near-kink share, the Jacobian with that share's variables at t = 1."""

    base: StructuredJacobian
    kink_jacobians: list[StructuredJacobian]
    magnitude: StructuredJacobian
    ops: float
    near_kink: int = 0
    #: A subdifferential that is no segment (a max's simplex over its ties, a norm's ball): its member nearest
    #: an engine's result, as ``nearest(method, probe, result)``; None where the shares above describe it.
    nearest: Callable[[str, np.ndarray, np.ndarray], np.ndarray] | None = None

    def apply(self, method: str, probe: np.ndarray, result: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        if self.nearest is not None and result is not None:
            return np.asarray(self.nearest(method, probe, np.asarray(result, dtype=np.float64)), dtype=np.float64), []
        r0 = np.asarray(getattr(self.base, method)(probe), dtype=np.float64)
        return r0, [np.asarray(getattr(j, method)(probe), dtype=np.float64) - r0 for j in self.kink_jacobians]


def _reference(case: Case, arg: str, values: Mapping[str, np.ndarray], params: Mapping[str, Any], u_kink: float) -> _Reference:
    out = truth.out_shape(case, values, params)
    arg_shape = np.shape(values[arg])
    partial = case.partials[arg]
    base = truth.jacobian(case, arg, values, params, 0.0, u_kink)
    magnitude = truth.magnitude(case, arg, values, params, u_kink)
    ops = truth.ops(case, arg, values, params)
    kink_jacobians: list[StructuredJacobian] = []
    near = np.zeros(0, dtype=np.int64)
    if case.kink is not None:
        p = truth.point(case, values, params, 0.0, u_kink)
        z, z_magnitude, z_ops = case.kink.locus(p)
        z = np.asarray(z, dtype=np.float64)
        blur = np.broadcast_to(z_ops * u_kink * np.asarray(z_magnitude, dtype=np.float64), z.shape)
        near = np.flatnonzero(np.abs(z) <= blur)
        chunks = _share_chunks(near, np.ravel(z)[near], np.ravel(blur)[near])
        arrays = {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}
        for chunk in chunks:
            share = np.zeros(z.size)
            share[chunk] = 1.0
            try:
                kink_jacobians.append(partial.jacobian(truth.SharePoint({**arrays, **params}, share, u_kink), out, arg_shape))
            except ValueError:  # the closed form steps on another variable: one share for all
                kink_jacobians = [truth.jacobian(case, arg, values, params, 1.0, u_kink)]
                break
    nearest = None
    if case.kink is not None and case.kink.nearest is not None:
        point, kink_nearest = truth.point(case, values, params, 0.0, u_kink), case.kink.nearest

        def nearest(method: str, probe: np.ndarray, result: np.ndarray) -> np.ndarray:
            return kink_nearest(point, arg, method, probe, result)

    return _Reference(base, kink_jacobians, magnitude, ops, int(near.size), nearest)


def _share_chunks(near: np.ndarray, z: np.ndarray, blur: np.ndarray) -> list[np.ndarray]:
    """Kink variables grouped into at most ``MAX_KINK_SHARES`` shares.

    Each may be resolved on its own, but only the nearest to their kink (smallest |z| / blur) are likely
    to land on the other side of it than float64 says: those get a share each; the rest are grouped by
    the side they are on (z < 0, z = 0, z > 0), as an engine following its convention at exact zeros and
    the sign elsewhere resolves them.
    """
    if near.size <= MAX_KINK_SHARES:
        return [near[i : i + 1] for i in range(near.size)]
    with np.errstate(divide="ignore", invalid="ignore"):
        closeness = np.where(z == 0, np.inf, np.abs(z) / blur)
    order = np.argsort(closeness, kind="stable")
    alone = order[: MAX_KINK_SHARES - 3]
    rest = order[MAX_KINK_SHARES - 3 :]
    sides = [rest[mask] for mask in (z[rest] < 0, z[rest] == 0, z[rest] > 0)]
    return [near[[k]] for k in alone] + [near[side] for side in sides if side.size]


# ------------------------------------------------------------------ comparison


@dataclass
class ProbeResult:
    """One engine call compared with the closed form."""

    direction: str  # "vjp", "jvp" or "value" (the forward value, for overflow)
    probe: str  # "ones", "signs", "basis[i]" or "forward"
    passed: bool
    bound_fraction: float
    ulps: float
    entries: int
    index: list[int] = field(default_factory=list)
    engine: float | None = None
    reference: float | None = None
    bound: float | None = None
    shares: list[float | None] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("diagnosis", "message")}
        data["diagnosis"] = self.diagnosis.kind if self.diagnosis else None
        return data


def _compare(
    direction: str,
    label: str,
    engine_value: np.ndarray,
    r0: np.ndarray,
    kink_directions: list[np.ndarray],
    bound: np.ndarray,
    magnitude: np.ndarray,
    tolerance: Tolerance,
    sizes: dict[str, int],
) -> ProbeResult:
    outcome = compare(engine_value, r0, kink_directions, bound, magnitude, tolerance, sizes,
                      where=f"{direction} with {label} probe")
    engine, reference, bound_at = outcome.worst or (None, None, None)
    return ProbeResult(direction, label, outcome.passed, outcome.bound_fraction, outcome.ulps, int(np.size(engine_value)),
                       outcome.index, engine, reference, bound_at, outcome.shares, outcome.diagnosis, outcome.message)


def _probe_plan(structure: Structure, direction: str, out_size: int, arg_size: int, probes: int, full: int) -> list[str]:
    """Which probes a direction uses: "ones" (complete at once), "signs" (random ±1) or "basis" (every unit vector)."""
    complete = {VJP: (Structure.ROW, Structure.SCALAR), JVP: (Structure.COLUMN, Structure.SCALAR)}[direction]
    if structure in complete:
        return ["ones"]
    if structure is Structure.DENSE and (out_size if direction == VJP else arg_size) <= full:
        return ["basis"]
    return ["signs"] * probes


def _run_probes(
    case: Case, arg: str, engine: Any, fn: Callable[..., Any], values: dict[str, np.ndarray], ref: _Reference,
    tolerance: Tolerance, direction: str, plan: list[str], rng: np.random.Generator, sizes: dict[str, int],
) -> Iterator[ProbeResult]:
    names = case.arg_names
    primals = tuple(values[name] for name in names)
    dtype = tolerance.dtype
    out = ref.base.out_shape  # a drawn axis (a parameter) may shape the output
    arg_shape = np.shape(values[arg])
    shape = out if direction == VJP else arg_shape
    size = int(np.prod(shape))
    k = operation_count(ref.ops, case.partials[arg].structure, direction, int(np.prod(out)), int(np.prod(arg_shape)))
    probes: list[tuple[str, np.ndarray]] = []
    for kind in plan:
        if kind == "ones":
            probes.append(("ones", np.ones(shape, dtype=dtype)))
        elif kind == "signs":
            probes.append(("signs", _signs(rng, shape, dtype)))
        else:
            probes.extend((f"basis[{i}]", _basis(size, i, shape, dtype)) for i in range(size))
    for label, probe in probes:
        method = "vjp" if direction == VJP else "jvp"
        if direction == VJP:
            result = call_vjp(engine, fn, primals, probe, names, judged=arg)[names.index(arg)]
        else:
            tangents = tuple(probe if name == arg else np.zeros_like(values[name]) for name in names)
            result = call_jvp(engine, fn, primals, tangents, names, out)
        r0, kink_directions = ref.apply(method, probe.astype(np.float64), result)
        magnitude = np.asarray(getattr(ref.magnitude, method)(np.abs(probe).astype(np.float64)), dtype=np.float64)
        # Against the simplex's (ball's) member near a kink, as the property checks do; elsewhere the declared bound.
        if ref.nearest is not None and direction == VJP and ref.near_kink:
            bound, magnitude = member_bound(tolerance, k, magnitude, r0)
        else:
            bound = tolerance.bound(k, magnitude, share_floor(case.partials[arg].share, tolerance.dtype) if direction == VJP else None)
        yield _compare(direction, label, result, r0, kink_directions, bound, magnitude, tolerance, sizes)


# --------------------------------------------------------------------- checks


def _engine(engine: Any) -> Any:
    """An engine object as given, or loaded by its name (:func:`verigrad.session.load_one`)."""
    return load_one(engine)[1] if isinstance(engine, str) else engine


def scale_label(n: int, params: Mapping[str, Any], inputs: str = "uniform") -> str:
    """The suffix of a scale check's id: n, the swept parameters, the input pattern unless uniform."""
    return "-".join([f"n={n}", *(f"{k}={params[k]}" for k in SWEPT_PARAMS if k in params),
                     *([inputs] if inputs != INPUT_PATTERNS[0] else [])])


def check_at_scale(
    case: Case | str,
    arg: str,
    engine: Any,
    dtype: Any = "float64",
    n: int = 1_000_000,
    seed: int = 0,
    mode: str = PROBABILISTIC,
    *,
    probes: int = DEFAULT_PROBES,
    directions: Iterable[str] = DIRECTIONS,
    sizes: Mapping[str, int] | None = None,
    params: Mapping[str, Any] | None = None,
    inputs: str = "uniform",
    timeout: float | None = None,
) -> Verdict:
    """Check ``engine``'s derivative of ``case`` w.r.t. ``arg`` at size ``n``, structure-aware.

    ``case`` is a :class:`~reference.Case` or its id; ``engine`` an engine object or a
    name for :func:`oracles.load_engine`.  Inputs and sign probes come from
    ``numpy.random.default_rng(seed)``; ``sizes`` overrides :func:`scale_sizes` and
    ``params`` the case's parameters (default: the first of each).  ``directions``
    chooses VJP and/or JVP probes; ``probes`` is the number of sign draws per
    direction where the structure needs them (see the module docstring for what
    they guarantee).  ``inputs`` is ``"uniform"`` or ``"equal"`` (every entry of an
    argument one value: the module docstring says why).  Returns a
    :class:`~verigrad.records.Verdict` with property ``"scale"``; it never raises
    for an engine's fault.
    """
    case = get_case(case) if isinstance(case, str) else case
    params = _params(case, params)
    label = scale_label(n, params, inputs)
    reason = next((why for pattern, why in NOT_AT_SCALE.items() if fnmatch.fnmatchcase(case.id, pattern)), None)
    if reason is not None:
        engine = _engine(engine)
        return skipped_verdict(new_verdict("scale", case.id, arg, getattr(engine, "name", type(engine).__name__),
                                           str(as_dtype(dtype)), mode, label), reason)
    sizes = dict(sizes) if sizes is not None else scale_sizes(case, n, arg, params)
    rng = np.random.default_rng(seed)
    values = draw_inputs(case, dtype, sizes, rng, inputs)
    if inputs == "equal":
        # Equal terms round alike (every partial sum of n equal values errs the same way), so the probabilistic
        # bound's premise, independent mean-zero errors, fails: mlx's float32 norm of 10⁵ equal values is off
        # by 3.6e-4, 3.9x that bound and 0.06x the worst-case one.
        mode = WORST
    verdict = check_values(case, arg, engine, values, params=params, mode=mode, probes=probes, directions=directions,
                           rng=rng, timeout=timeout, label=label, check_value=inputs == "equal")
    verdict.counterexample = {"seed": seed, "n": n, "sizes": sizes, "dtype": str(as_dtype(dtype)),
                              "params": verdict.counterexample["params"], "input_pattern": inputs}
    verdict.evidence["scale"].update({"n": n, "seed": seed, "input_pattern": inputs})
    verdict.reproduction = (
        "from verigrad.scale import check_at_scale\n"
        f"print(check_at_scale({case.id!r}, {arg!r}, {verdict.engine!r}, {str(as_dtype(dtype))!r}, n={n}, seed={seed}, "
        f"mode={mode!r}, probes={probes}, sizes={sizes!r}, params={verdict.counterexample['params']!r}, "
        f"inputs={inputs!r}).message)\n"
    )
    return verdict


def check_values(
    case: Case | str,
    arg: str,
    engine: Any,
    values: Mapping[str, np.ndarray],
    *,
    params: Mapping[str, Any] | None = None,
    mode: str = PROBABILISTIC,
    probes: int = DEFAULT_PROBES,
    directions: Iterable[str] = DIRECTIONS,
    rng: np.random.Generator | int = 0,
    full_jacobian_calls: int = FULL_JACOBIAN_CALLS,
    timeout: float | None = None,
    label: str = "",
    check_value: bool = False,
) -> Verdict:
    """:func:`check_at_scale` at given inputs (one array per argument, all of one dtype).

    ``rng`` (a Generator or a seed) draws the sign probes; ``full_jacobian_calls`` = 0
    makes dense Jacobians use sign probes too.  ``check_value``: once the derivatives
    pass, also compare the function's own value (:func:`_value_probe`; meant for equal inputs).
    """
    case = get_case(case) if isinstance(case, str) else case
    if arg not in case.partials:
        raise ValueError(f"case {case.id}: {arg!r} is not a differentiable argument ({case.differentiable_args})")
    directions = tuple(directions)
    unknown = set(directions) - set(DIRECTIONS)
    if unknown:
        raise ValueError(f"unknown directions {sorted(unknown)}; use {DIRECTIONS}")
    engine = _engine(engine)
    values = {a.name: np.asarray(values[a.name]) for a in case.args}
    run = _ScaleRun(case, arg, engine, values, Tolerance(np.dtype(values[arg].dtype), mode),
                    dict(params) if params is not None else {name: choices[0] for name, choices in case.params.items()},
                    probes, directions, full_jacobian_calls, check_value)
    verdict = new_verdict("scale", case.id, arg, getattr(engine, "name", type(engine).__name__), str(run.tolerance.dtype),
                          mode, label)
    verdict.counterexample = {"sizes": run.sizes, "dtype": verdict.dtype, "params": run.params}
    verdict.evidence = {"scale": {"sizes": run.sizes, "structure": run.structure.value, "jacobian": [run.out_size, run.arg_size]}}
    if unsupported(verdict, engine, case.requires) or _too_large(verdict, run) or _out_of_range(verdict, run):
        return verdict
    started = time.perf_counter()
    try:
        with time_limit(timeout):
            run.run(rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng))
    except ContractViolation as error:
        failed_verdict(verdict, error.diagnosis)
        verdict.max_ulps = verdict.max_bound_fraction = math.inf
    except CheckTimeout as error:
        timed_out(verdict, error)
    verdict.seconds = time.perf_counter() - started
    verdict = _conclude(verdict, run)
    skip_if_unsupported(verdict)  # an engine raising on a low-precision dtype does not support it: a skip, as in the suite
    return verdict


@dataclass
class _ScaleRun:
    """One scale check's inputs and the probe results it collects."""

    case: Case
    arg: str
    engine: Any
    values: dict[str, np.ndarray]
    tolerance: Tolerance
    params: dict[str, Any]
    probes: int
    directions: tuple[str, ...]
    full_jacobian_calls: int
    check_value: bool = False
    results: list[ProbeResult] = field(default_factory=list)
    near_kink: int = 0

    def __post_init__(self) -> None:
        self.asked = self.directions  # before the overflow screen drops any (the translation law is probed anyway)
        self.sizes = truth.sizes_of(self.case, self.values)
        self.out_size = int(np.prod(truth.out_shape(self.case, self.values, self.params)))
        self.arg_size = int(np.size(self.values[self.arg]))
        self.structure = self.case.partials[self.arg].structure

    def run(self, rng: np.random.Generator) -> None:
        """Probe each direction in turn; the first failing probe ends the check."""
        ref = _reference(self.case, self.arg, self.values, self.params, max(self.tolerance.u, FLOAT64_U))
        self.near_kink = ref.near_kink
        fn = FUNCTIONS.get(self.case, self.engine, self.params)
        for direction in self.directions:
            plan = _probe_plan(self.structure, direction, self.out_size, self.arg_size, self.probes, self.full_jacobian_calls)
            for result in _run_probes(self.case, self.arg, self.engine, fn, self.values, ref, self.tolerance, direction,
                                      plan, rng, self.sizes):
                self.results.append(result)
                if not result.passed:
                    return
        if _translation_law_applies(self):
            self.results.append(law := _translation_law_probe(self, fn, ref))
            if not law.passed:
                return
        if self.check_value and (value := _value_probe(self, fn)) is not None:
            self.results.append(value)


def _translation_law_applies(run: _ScaleRun) -> bool:
    return (run.case.partials[run.arg].ones_jvp is not None and JVP in run.asked
            and getattr(run.engine, "forward_mode", True) is not False)


def _translation_law_probe(run: _ScaleRun, fn: Callable[..., Any], ref: _Reference) -> ProbeResult:
    """The JVP along the all-ones tangent against the case's translation law (``Partial.ones_jvp``).

    A max, min, mean or logsumexp commutes with adding one constant to every element (J·1 = 1), a softmax, a
    log-softmax or a cross-entropy of logits ignores it (J·1 = 0): the law holds at every point, ties or not,
    under every convention, so no subgradient choice can excuse another value.
    Random-sign tangents cannot show a forward rule that sums its tangents in the format before dividing (over
    70,000 float16 ties the signs cancel; ones reach inf), and the overflow screen drops the other JVP probes
    of such a row; this probe is judged by the closed form's own terms (|J|·1: a max's weights, a mean's 1/N,
    summing to 1), which no correct computation exceeds.
    """
    names = run.case.arg_names
    primals = tuple(run.values[name] for name in names)
    ones = np.ones(np.shape(run.values[run.arg]), dtype=run.tolerance.dtype)
    tangents = tuple(ones if name == run.arg else np.zeros_like(run.values[name]) for name in names)
    out = ref.base.out_shape
    law = np.full(out, float(run.case.partials[run.arg].ones_jvp))
    try:
        result = call_jvp(run.engine, fn, primals, tangents, names, out)
    except ContractViolation as error:  # inf or NaN: say which probe, and what every correct engine gives there
        error.diagnosis.summary += (f" along the all-ones tangent (the translation law: J·1 = {law.flat[0]:g} at every "
                                    "point, whatever the convention at a tie)")
        error.args = (error.diagnosis.summary,)
        raise
    terms = StructuredJacobian(ref.base.structure, np.abs(ref.base.data), ref.base.out_shape, ref.base.arg_shape)
    magnitude = np.asarray(terms.jvp(np.ones(np.shape(ones))), dtype=np.float64)
    k = operation_count(ref.ops, run.structure, JVP, run.out_size, run.arg_size)
    return _compare(JVP, "ones (translation law)", result, law, [], run.tolerance.bound(k, magnitude), magnitude,
                    run.tolerance, run.sizes)


class _RoundedPrimitives:
    """A namespace whose every function is correctly rounded to ``dtype``: float64 inside, one rounding out.

    The model of a correct engine running a case's program in ``dtype``: each vocabulary function
    (``sum``, ``mean``, ``logsumexp``, ...) is one primitive, computed exactly enough and rounded
    once.  A mean or logsumexp of 10⁵ equal values stays finite; a sum of them past 65,504 is ``inf``
    in float16 as it must be (the program itself overflows there, and a correct engine with it).
    """

    def __init__(self, xp: Any, dtype: np.dtype) -> None:
        self._xp, self._dtype = xp, dtype

    def __getattr__(self, name: str) -> Any:
        function = getattr(self._xp, name)
        if not callable(function):
            return function

        def rounded(*args: Any, **kwargs: Any) -> Any:
            with np.errstate(all="ignore"):
                out = function(*args, **kwargs)
                array = np.asarray(out)
                return array.astype(self._dtype).astype(np.float64) if array.dtype.kind == "f" else out

        return rounded


def _value_probe(run: _ScaleRun, fn: Callable[..., Any]) -> ProbeResult | None:
    """The engine's forward value (``evaluate``, where it has one) against a correct engine's, for overflow only.

    The correct engine is :class:`_RoundedPrimitives` over numpy (the fd engine's namespace): the case's
    program with each primitive correctly rounded to the dtype.  Where its value is finite and at most
    half the format's largest number, an engine whose value is Inf or NaN overflowed inside a
    primitive that a correct one keeps in range: a float16 mean or logsumexp of 70,000 values summed
    in float16 (its derivative then often underflows to zeros the underflow floor cannot tell from a
    flush).  Meant for equal inputs, where nothing cancels.  A finite value always passes: its
    rounding error is not bounded here.
    """
    evaluate = getattr(run.engine, "evaluate", None)
    if evaluate is None:
        return None
    from verigrad.oracles.fd import FiniteDifferences

    dtype = run.tolerance.dtype
    primals = tuple(run.values[name] for name in run.case.arg_names)
    model_inputs = [v if v.dtype.kind in "iub" else v.astype(np.float64) for v in primals]
    with np.errstate(all="ignore"):
        model = np.asarray(run.case.bind(_RoundedPrimitives(FiniteDifferences.xp, dtype), **run.params)(*model_inputs),
                           dtype=np.float64)
        try:
            value = np.asarray(evaluate(fn, primals)).astype(np.float64)
        except Exception as error:  # the engine's own failure, as for its vjp and jvp (never "verigrad raised")
            raise _raised(f"{getattr(run.engine, 'name', 'engine')}.evaluate", error) from error
    if value.shape != model.shape:  # the derivative probes judge shapes; a value of another shape is not compared
        return None
    largest = float(np.finfo(dtype).max)
    overflowed = np.isfinite(model) & (np.abs(model) <= largest / 2) & ~np.isfinite(value)
    entries = int(model.size)
    if not overflowed.any():
        return ProbeResult(VALUE, "forward", True, 0.0, 0.0, entries)
    flat = int(np.flatnonzero(overflowed)[0])
    index = [int(i) for i in np.unravel_index(flat, model.shape)]
    engine_value, reference = float(value.ravel()[flat]), float(model.ravel()[flat])
    summary = (f"the function's own value is {engine_value} where a correct {dtype.name} engine's is {reference:.6g} "
               f"(each primitive correctly rounded; largest {largest:.6g}): a primitive overflowed inside")
    diagnosis = Diagnosis("overflowed", summary, index, reference, engine_value,
                          {"entries_overflowed": int(overflowed.sum()), "largest": largest})
    return ProbeResult(VALUE, "forward", False, math.inf, math.inf, entries, index, engine_value, reference, None,
                       diagnosis=diagnosis, message=f"overflowed: {summary}" + (f" (forward value at index {index})" if index else ""))


def _too_large(verdict: Verdict, run: _ScaleRun) -> Verdict | None:
    """The verdict as a skip when a dense closed form would not fit in memory, else None."""
    entries = run.out_size * run.arg_size
    if run.structure is not Structure.DENSE or entries <= DENSE_ENTRY_LIMIT:
        return None
    return skipped_verdict(verdict, f"dense Jacobian {run.out_size}×{run.arg_size}: its closed form would hold {entries:.3g} "
                                    f"entries (limit {DENSE_ENTRY_LIMIT:.3g}); use a smaller n")


def _out_of_range(verdict: Verdict, run: _ScaleRun) -> Verdict | None:
    """Drop the directions a correct engine cannot compute here; the verdict as a skip when none is left.

    The rounding model bounds errors, not overflow: where a derivative's own terms exceed the dtype's
    largest finite value (a float16 MLP's squared error reaches 2e9 at n = 10^5), a correct engine
    computing in this dtype returns inf or NaN, so there is nothing to compare.  A JVP sums its row's
    terms.  (The other arguments' gradients a VJP returns are not judged here, finite or not.)  Overflow that a correct computation avoids (a mean's 1/N, a max's ties)
    keeps small term magnitudes and is still checked.  An engine without forward mode
    (``forward_mode = False``) is probed by VJPs only.  What was dropped is in the evidence.
    """
    dropped = {direction: why for direction in run.directions if (why := _why_not(run, direction))}
    run.directions = tuple(d for d in run.directions if d not in dropped)
    if dropped:
        verdict.evidence["scale"]["directions_dropped"] = dropped
    if run.directions or _translation_law_applies(run):
        return None
    return skipped_verdict(verdict, "; ".join(f"{direction}: {why}" for direction, why in dropped.items()))


def _why_not(run: _ScaleRun, direction: str) -> str | None:
    """Why ``direction`` cannot be probed in this run (None: it can)."""
    program = next((why for (pattern, dtype, way), why in PROGRAM_OVERFLOWS.items()
                    if way == direction and dtype == run.tolerance.dtype.name and fnmatch.fnmatchcase(run.case.id, pattern)), None)
    if program is not None:
        return program
    if direction == JVP and getattr(run.engine, "forward_mode", True) is False:
        return f"{getattr(run.engine, 'name', 'the engine')} has no forward mode (its JVP is assembled from VJPs, probed here)"
    largest = float(np.finfo(run.tolerance.dtype).max)
    u = max(run.tolerance.u, FLOAT64_U)
    if direction == VJP:
        out = truth.out_shape(run.case, run.values, run.params)
        peaks = {run.arg: float(np.max(truth.magnitude(run.case, run.arg, run.values, run.params, u).vjp(np.ones(out)), initial=0.0))}
    else:
        peaks = {run.arg: float(np.max(truth.magnitude(run.case, run.arg, run.values, run.params, u).jvp(
            np.ones(np.shape(run.values[run.arg]))), initial=0.0))}
    arg, peak = max(peaks.items(), key=lambda item: item[1])
    if peak <= largest:
        return None
    return (f"the closed form's terms ({direction}, ∂/∂{arg}) reach {peak:.3g}, beyond {run.tolerance.dtype.name}'s "
            f"largest value {largest:.6g}: a correct engine overflows too; use a smaller n")


def _conclude(verdict: Verdict, run: _ScaleRun) -> Verdict:
    """The probes' errors, the first failure (if any), the kink convention and what the check guarantees."""
    results = run.results
    failing = next((r for r in results if not r.passed), None)
    if failing is not None:
        record_failure(verdict, Outcome(False, failing.message, failing.ulps, failing.bound_fraction, failing.diagnosis))
    summarize(verdict, [Outcome(r.passed, ulps=r.ulps, bound_fraction=r.bound_fraction) for r in results])
    shares = [t for r in results if r.passed for t in r.shares if t is not None]
    verdict.convention = float(np.median(shares)) if shares else None
    verdict.evidence["scale"].update({
        "near_kink": run.near_kink,
        "probes": [r.to_dict() for r in results],
        "guarantee": guarantee(run.structure, run.out_size, run.arg_size, run.probes, run.directions, run.full_jacobian_calls),
    })
    return verdict


def guarantee(
    structure: Structure, out_size: int, arg_size: int, probes: int = DEFAULT_PROBES,
    directions: tuple[str, ...] = DIRECTIONS, full_jacobian_calls: int = FULL_JACOBIAN_CALLS,
) -> str:
    """What a passing check of this structure rules out, in one sentence (see the module docstring)."""
    complete = [
        direction.upper()
        for direction in directions
        if _probe_plan(structure, direction, out_size, arg_size, probes, full_jacobian_calls)[0] != "signs"
    ]
    if complete:
        return (f"every Jacobian entry compared on its own ({' and '.join(complete)}): any entry off by more than twice "
                "its rounding bound is flagged with certainty")
    return (f"every entry takes part in {probes} random-sign probe(s) per direction: an entry off by more than twice its "
            f"column's (row's) bound escapes with probability ≤ 2^-{probes} per direction; a single wrong entry never escapes")


# --------------------------------------------------------------------- many


def scale_cases(case_pattern: str | None = None) -> list[Case]:
    """The cases a scale run covers: ``SCALE_FAMILIES``, or those matching the comma list of globs."""
    patterns = [p.strip() for p in (case_pattern.split(",") if case_pattern else SCALE_FAMILIES) if p.strip()]
    return [case for case in CASES if any(fnmatch.fnmatchcase(case.id, pattern) for pattern in patterns)]


class ScaleCheck(NamedTuple):
    """One scale check of a plan: a case's argument on an engine and dtype, at these parameters."""

    case: str
    arg: str
    engine: str
    dtype: str
    params: dict[str, Any]
    inputs: str = "uniform"


def scale_params(case: Case) -> list[dict[str, Any]]:
    """The parameters a case is scale-checked at: every value of a ``SWEPT_PARAMS`` one, the first of the others."""
    choices = [values if name in SWEPT_PARAMS else values[:1] for name, values in case.params.items()]
    return [dict(zip(case.params, chosen, strict=True)) for chosen in product(*choices)]


def scale_plan(
    engines: Iterable[str], dtypes: Iterable[str] = ("float64", "float32"), case_pattern: str | None = None
) -> list[ScaleCheck]:
    """Every scale check, in a stable order: uniform inputs, and equal ones where the case reduces the argument."""
    return [
        ScaleCheck(case.id, arg, engine, dtype, params, inputs)
        for case in scale_cases(case_pattern)
        for arg in case.differentiable_args
        for params in scale_params(case)
        for inputs in (INPUT_PATTERNS if reduces(case, arg, params) else INPUT_PATTERNS[:1])
        for engine in engines
        for dtype in dtypes
    ]


def run_scale(
    engines: Mapping[str, Any] | Iterable[str],
    n: int,
    seed: int = 0,
    *,
    dtypes: Iterable[str] = ("float64", "float32"),
    case_pattern: str | None = None,
    mode: str = PROBABILISTIC,
    probes: int = DEFAULT_PROBES,
    timeout: float | None = None,
) -> Iterator[Verdict]:
    """Verdicts of every scale check for these engines (names or a name → engine mapping), as they are decided.

    Every check of one case uses the same inputs (same ``seed``), so engines are compared on equal terms.
    """
    loaded = dict(engines) if isinstance(engines, Mapping) else {name: _engine(name) for name in engines}
    for case_id, arg, name, dtype, params, inputs in scale_plan(list(loaded), tuple(dtypes), case_pattern):
        yield check_at_scale(case_id, arg, loaded[name], dtype, n, seed, mode, probes=probes, params=params,
                             inputs=inputs, timeout=timeout)
