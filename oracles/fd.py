"""Finite differences as an oracle: the complex step where it is exact, Richardson elsewhere.

:class:`FiniteDifferences` differentiates any NumPy function of float arrays.
Every result is an :class:`~oracles.protocol.EstimatedArray` whose
``error_estimate`` bounds its absolute error per element, and whose ``method``
attribute says how it was obtained (``"complex-step"``, ``"richardson"``,
``"mixed"``, or ``"none"`` for a zero tangent or no finite output).
Evaluation is in float64 / complex128 whatever the input dtype; results are
cast to the expected dtype at the end and the cast's rounding is added to the
estimate.

Complex step
    ``Im f(x + i h v) / h`` with ``h = 2⁻⁶⁴·min(|x|, 1)`` (a power of two) has no
    cancellation: it is exact to rounding in one call (estimate: 16 eps of the
    result, plus 4x the gap to the other side below).  It is only right where
    ``f`` is analytic along ``v``, so a result is used only when

    * ``fn`` accepts complex input, returns a complex array, and its real part
      matches the real evaluation ``fn(x)`` (loosely);
    * the step from the other side of the real axis, ``Im f(x - i h' v) / -h'``
      with ``h' = 0.75 h``, agrees to rounding.  NumPy orders complex numbers
      lexicographically, so ``maximum`` and ``>`` at an exact tie pick a
      branch by the sign of the imaginary part, exactly as real steps ±t do:
      the two sides differ, and their mean is the limit of the central
      difference (used at ties where Richardson confirms it);
    * a cheap central difference (steps t and t/2, t = 2⁻¹⁴·min(|x|, 1)) agrees
      within its own error estimate: this catches what the complex step
      cannot see, such as ``abs`` inside a complex expression or ``conj``.

    Otherwise the Richardson estimate is computed as well, and the complex step
    is kept only where it is consistent with it (or where the central
    differences straddle a kink that the complex step does not see: then it
    equals one of the one-sided slopes).

Richardson
    Central differences ``(f(x + t) - f(x - t)) / 2h`` over the steps
    ``t = t₀·2⁻ᵏ``, with ``t₀`` a power of two near ``max(log2(1 + |x|), 1) / 4``
    (logarithmic in |x|, and at least 2²⁴ ulps of x) and the effective
    half-width ``h = (fl(x + t) - fl(x - t)) / 2`` so that the step is exact,
    extrapolated by Neville's scheme in h² up to order 3 (error O(h⁸)).  Each
    extrapolant's error estimate is its largest difference to its neighbours in
    the table plus the propagated rounding noise, carried through the
    extrapolation weights.  The noise of one value is the larger of
    ``8·eps·|f|`` and an empirical probe (the residual of a quadratic fitted to
    f at six points within 2¹⁴ ulps of x), which sees cancellation inside f,
    e.g. sin of a large computed argument near a root.  The estimate with the
    smallest error estimate is taken, per output element.  Steps stop when the
    rounding noise alone exceeds the best error found, so the scan covers the
    V-shaped error curve down to its rounding side but never below a few ulps
    of x: the step is chosen by the error estimate, not by |x|, and is right
    for ``sin(x)`` at ``x = 1e6`` (a stencil from 0.06 down to 0.008; a plain
    central difference would pick 8e-6), where a step proportional to |x|
    is not.  When the chosen stencil straddles a kink (the second difference
    halves with h instead of quartering) and no complex step places the kink
    exactly at x, half the jump of the one-sided slopes is added to the
    estimate: the derivative may be either slope.

Partial derivatives are computed per input element (one column of the Jacobian
at a time, one complex call per column and side, and one central-difference
check along a random direction for all columns together), which makes ``jvp``
(when its own complex step is refused) linear in the tangent and consistent
with ``vjp``: at a kink every column is the symmetric average of the one-sided
derivatives, a valid subgradient.  Non-finite function values give NaN
estimates with an infinite error estimate, never a number.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from verigrad.oracles.namespaces import (
    Namespace,
    composed_hypot,
    composed_log_softmax,
    composed_logsumexp,
    composed_norm,
    composed_sigmoid,
    composed_sinc,
    composed_softmax,
    composed_std,
)
from verigrad.oracles.protocol import EstimatedArray

__all__ = ["FiniteDifferences"]

EPS = float(np.finfo(np.float64).eps)


def _floating(dtype: np.dtype) -> bool:
    """numpy's floating dtypes and ml_dtypes' bfloat16 (numpy kind 'V'): results are cast back to these."""
    return np.dtype(dtype).kind == "f" or np.dtype(dtype).name == "bfloat16"
#: Rounding noise assumed for one function value, relative to its magnitude.
NOISE = 8 * EPS
#: Rounding error of a complex-step result, in eps of its magnitude.
CS_ULPS = 16
#: +ih and -ih results differing by more than this many eps mark a tie (a kink).
TIE_ULPS = 1024
#: Richardson eliminates h², h⁴ and h⁶.
ORDER = 3
#: At most this many steps (halvings) per Richardson scan.
MAX_ROWS = 64
#: Complex step 2^CS_EXP (times the input scale when below 1).
CS_EXP = -64
#: Step of the central-difference consistency check 2^CHECK_EXP (times the input scale below 1).
CHECK_EXP = -14
#: Seed of the (deterministic) probe directions.
PROBE_SEED = 0x5EED

#: log Σ exp with the real part of the maximum as its (constant) shift: exact for any shift,
#: and a real shift keeps a complex-step evaluation analytic.
_LOGSUMEXP = composed_logsumexp(np, lambda m: np.real(m).copy())

COMPLEX = "complex-step"
RICHARDSON = "richardson"
MIXED = "mixed"
NONE = "none"  # nothing to differentiate: a zero tangent, or no finite output


def _pow2_floor(a: Any) -> Any:
    return np.exp2(np.floor(np.log2(a)))


def _cs_step(scale: Any) -> Any:
    """The complex step for inputs of magnitude ``scale`` (0 counts as 1): 2⁻⁶⁴·min(scale, 1), a power of two."""
    s = np.where((scale == 0) | ~np.isfinite(scale), 1.0, np.clip(scale, 2.0**-960, 1.0))
    return _pow2_floor(s) * 2.0**CS_EXP


def _check_step(scale: Any) -> Any:
    """The first step of the central-difference consistency check: 2⁻¹⁴·min(max(scale, 2⁻¹⁰), 1)."""
    s = np.where(np.isfinite(scale), np.clip(scale, 2.0**-10, 1.0), 1.0)
    return _pow2_floor(s) * 2.0**CHECK_EXP


def _base_step(scale: Any) -> Any:
    """The largest Richardson step: a power of two near max(log2(1 + |x|), 1) / 4, and 2²⁴ ulps of x at least.

    Logarithmic in |x|, not proportional: far beyond a function's length
    scale, central differences of a periodic function shrink like 1/t and
    neighbouring steps agree by accident.
    """
    s = np.where(np.isfinite(scale), scale, 1.0)
    log_scale = np.exp2(np.ceil(np.log2(np.maximum(np.log2(1.0 + s), 1.0))) - 2)
    return np.maximum(log_scale, np.exp2(np.ceil(np.log2(2.0**24 * np.spacing(s)))))


def _probe_step(scale: Any) -> Any:
    """The step of the noise probe: 2¹⁴ ulps of max(|x|, 2⁻²⁰)."""
    return 16384 * np.spacing(np.maximum(np.where(np.isfinite(scale), scale, 1.0), 2.0**-20))


def _method(used_complex: np.ndarray) -> str:
    """How a result was obtained, from where the complex step was used (finite outputs only)."""
    if used_complex.size == 0:
        return NONE
    if used_complex.all():
        return COMPLEX
    return RICHARDSON if not used_complex.any() else MIXED


class _Problem:
    """``fn`` at float64 copies of the primals, output flattened; perturbed evaluations."""

    def __init__(self, fn: Callable[..., Any], primals: Sequence[Any], complex_step: bool = True) -> None:
        self.fn = fn
        self.complex_step = complex_step
        self.primals = tuple(primals)
        self.x = [np.array(p, dtype=np.float64) for p in primals]
        with np.errstate(all="ignore"):
            raw = np.asarray(fn(*self.x))
        self.raw_dtype = raw.dtype
        self.out_shape = raw.shape
        self.f0 = np.asarray(raw, dtype=np.float64).ravel()
        self.finite = np.isfinite(self.f0)
        self.abs_f0 = np.abs(self.f0)
        self.scale = float(self.abs_f0[self.finite].max()) if self.finite.any() else 0.0
        self.calls = 1

    def out_dtype(self) -> np.dtype:
        """The dtype ``fn`` returns for the primals as given."""
        dtype = self.raw_dtype
        if any(np.asarray(p).dtype != np.float64 for p in self.primals):
            with np.errstate(all="ignore"):
                dtype = np.asarray(self.fn(*self.primals)).dtype
            self.calls += 1
        return dtype if _floating(dtype) else np.dtype(np.float64)

    def real(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        """fn at perturbed real inputs, flat; NaN if it raises or changes shape."""
        self.calls += 1
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(self.fn(*xs))
            if out.shape != self.out_shape:
                raise ValueError("shape changed")
            return np.asarray(out, dtype=np.float64).ravel()
        except Exception:
            return np.full(self.f0.size, np.nan)

    def complex(self, imag: Sequence[np.ndarray | None], h: Any) -> tuple[np.ndarray, np.ndarray]:
        """``Im fn(x + i·h·imag) / h`` flat, and where it is usable.

        ``imag[k]`` is None for a primal kept real; ``h`` is a scalar or has
        the output's size (element-wise use).  Unusable: fn raises (or warns
        that it drops an imaginary part), returns a non-complex array, a
        non-finite value, or a real part that is not fn(x).
        """
        n = self.f0.size
        if not self.complex_step:
            return np.full(n, np.nan), np.zeros(n, bool)
        zs: list[np.ndarray] = []
        for x, v in zip(self.x, imag, strict=True):
            if v is None:
                zs.append(x)
            else:
                z = x.astype(np.complex128)
                z.imag = np.reshape(h * np.ravel(v), x.shape)
                zs.append(z)
        with _complex_context():
            im, re = self._complex_call(zs)
        return self._usable(im, h, re)

    def complex_columns(self, k: int, idx: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The complex step along each basis direction ``idx`` (flat) of primal k: (output, column) arrays."""
        n = self.f0.size
        if not self.complex_step:
            return np.full((n, idx.size), np.nan), np.zeros((n, idx.size), bool)
        flat = self.x[k].ravel()
        z = flat.astype(np.complex128)
        zs = list(self.x)
        zs[k] = z.reshape(self.x[k].shape)
        im = np.empty((n, idx.size))
        re = np.empty((n, idx.size))
        with _complex_context():
            for col, j in enumerate(idx):
                z[j] = complex(flat[j], steps[col])
                im[:, col], re[:, col] = self._complex_call(zs)  # copies, before z is restored
                z[j] = flat[j]
        return self._usable(im, steps, re)

    def _complex_call(self, zs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Imaginary and real parts of fn(*zs), flat; NaN if fn cannot take complex input."""
        self.calls += 1
        try:
            out = np.asarray(self.fn(*zs))
        except Exception:
            out = None
        if out is None or not np.iscomplexobj(out) or out.shape != self.out_shape:
            nan = np.full(self.f0.size, np.nan)
            return nan, nan
        out = out.ravel()
        return out.imag.copy(), out.real.copy()

    def _usable(self, im: np.ndarray, h: Any, re: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Im/h where usable (NaN elsewhere), and the mask."""
        f0 = self.f0.reshape((-1,) + (1,) * (im.ndim - 1))
        fin = self.finite.reshape(f0.shape)
        with np.errstate(all="ignore"):
            value = im / h
            real_ok = np.abs(re - f0) <= 1e-6 * (np.abs(f0) + self.scale)
        usable = fin & np.isfinite(value) & real_ok
        return np.where(usable, value, np.nan), usable


@contextlib.contextmanager
def _complex_context() -> Iterator[None]:
    """Complex calls: a ComplexWarning (an imaginary part dropped) is an error; other warnings are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with np.errstate(all="ignore"):
            yield


class _Scan:
    """The result of one Richardson scan, per output element."""

    def __init__(
        self,
        value: np.ndarray,
        error: np.ndarray,
        row: np.ndarray,
        order: np.ndarray,
        steps: list[Any],
        plus: np.ndarray,
        minus: np.ndarray,
        half: np.ndarray,
    ) -> None:
        self.value, self.error, self.row, self.order = value, error, row, order
        self.steps, self.plus, self.minus, self.half = steps, plus, minus, half
        self.plain_row = row  # the row of the best plain central difference (set by the scan)

    def one_sided(self, f0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward and backward difference quotients at the smallest step of each chosen stencil."""
        i = np.arange(f0.size)
        h = self.half[self.row, i]
        with np.errstate(all="ignore"):
            return (self.plus[self.row, i] - f0) / h, (f0 - self.minus[self.row, i]) / h

    def kink_error(self, f0: np.ndarray) -> np.ndarray:
        """Half the jump of the one-sided slopes where the chosen stencil straddles a kink, else 0.

        A kink within the smallest step shows as a second difference
        f(x+h) + f(x-h) - 2f(x) that halves with h (instead of quartering).
        The central difference then gives the mean of the two one-sided
        slopes, but unless the kink is exactly at x the derivative is one of
        them: the error estimate must reach both.
        """
        i = np.arange(f0.size)
        rows = np.minimum(self.row + 1, len(self.steps) - 1)
        with np.errstate(all="ignore"):
            s0 = self.plus[self.row, i] + self.minus[self.row, i] - 2 * f0
            s1 = self.plus[rows, i] + self.minus[rows, i] - 2 * f0
            scale = NOISE * np.maximum(
                np.abs(f0), np.maximum(np.abs(self.plus[self.row, i]), np.abs(self.minus[self.row, i]))
            )
            kink = (np.abs(s1) > 0.35 * np.abs(s0)) & (np.abs(s0) > 64 * scale) & (rows > self.row)
            return np.where(kink, np.abs(s0) / (2 * self.half[self.row, i]), 0.0)

    def step(self, row: int, i: int) -> float:
        """The step t of a row of the scan, for entry i."""
        return float(np.ravel(self.steps[row])[0 if np.ndim(self.steps[0]) == 0 else i])


#: Offsets of the noise probe, in units of its step: irregular, so that the rounding
#: errors of the intermediate quantities (a sawtooth in a regular offset) decorrelate.
PROBE_OFFSETS = np.array([-1531, -977, -283, 401, 1123, 1489]) / 1024


def _projector(offsets: np.ndarray) -> np.ndarray:
    """I - A A⁺ for the quadratic least-squares fit through 0 and ``offsets``."""
    u = np.concatenate([[0.0], offsets])
    a = np.stack([np.ones_like(u), u, u * u], axis=1)
    return np.eye(u.size) - a @ np.linalg.pinv(a)


_PROBE_PROJECTOR = _projector(PROBE_OFFSETS)


def _noise(f0: np.ndarray, point: Callable[..., tuple[np.ndarray, Any]], delta: Any) -> np.ndarray:
    """An empirical bound on the rounding noise of one value of f near x, per output element.

    f at x + o·δ for six irregular offsets o in [-1.5, 1.5], with δ = 2¹⁴ ulps of
    x: over so small a range f is a quadratic to far below rounding, so the
    residual of a least-squares quadratic is rounding noise (in the spirit of
    Moré and Wild's ECnoise).  Cancellation inside f (sin of a large computed
    argument near a root of sin) makes this noise far larger than eps·|f|.
    Returns four times the estimated standard deviation.
    """
    active = np.ones(f0.size, bool)
    values = np.stack([f0] + [point(o * delta, active)[0] for o in PROBE_OFFSETS])
    residual = _PROBE_PROJECTOR @ values
    sigma = np.sqrt(np.sum(residual**2, axis=0) / (values.shape[0] - 3))
    return np.where(np.isfinite(sigma), 4 * sigma, 0.0)


class _Table:
    """A Richardson table, row by row (row k: central differences at step t0/2^k and their extrapolations),
    with the best estimate (and best plain difference) found so far for each entry."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.best = np.full(n, np.nan)
        self.best_err = np.full(n, np.inf)
        self.best_row = np.zeros(n, int)
        self.best_order = np.zeros(n, int)
        self.plain_err = np.full(n, np.inf)  # the best plain central difference (no extrapolation)
        self.plain_row = np.zeros(n, int)
        self.values: list[list[np.ndarray]] = []
        self.noise: list[list[np.ndarray]] = []
        self.halves: list[np.ndarray] = []
        self.plus: list[np.ndarray] = []
        self.minus: list[np.ndarray] = []
        self.steps: list[Any] = []

    def add_row(self, t: Any, fp: np.ndarray, off_p: Any, fm: np.ndarray, off_m: Any, level_floor: tuple[np.ndarray, Any]) -> np.ndarray:
        """Row k from f(x ± t): the plain difference and its extrapolations; returns the plain difference's noise."""
        k = len(self.values)
        abs_f0, probe_noise = level_floor
        h = np.broadcast_to(np.asarray((off_p - off_m) / 2, dtype=np.float64), (self.n,))
        valid = np.isfinite(fp) & np.isfinite(fm) & (h > 0)
        d = np.where(valid, (fp - fm) / (2 * h), np.nan)
        level = np.maximum(NOISE * np.maximum(abs_f0, np.maximum(np.abs(fp), np.abs(fm))), probe_noise)
        noise = np.where(valid, level / h, np.inf)
        row, noise_row = [d], [noise]
        for m in range(1, min(k, ORDER) + 1):
            r = (self.halves[k - m] / h) ** 2
            row.append(row[m - 1] + (row[m - 1] - self.values[k - 1][m - 1]) / (r - 1))
            noise_row.append((r * noise_row[m - 1] + self.noise[k - 1][m - 1]) / (r - 1))
        self.values.append(row)
        self.noise.append(noise_row)
        self.halves.append(h)
        self.plus.append(fp)
        self.minus.append(fm)
        self.steps.append(t)
        return noise

    def judge(self, c: int) -> None:
        """Row c's candidates, now with neighbours on both sides: error estimates, and the best so far."""
        for m in range(min(c - 1, ORDER) + 1):
            value = self.values[c][m]
            trunc = np.maximum(np.abs(value - self.values[c - 1][m]), np.abs(self.values[c + 1][m] - value))
            if m:
                trunc = np.maximum(trunc, np.abs(value - self.values[c][m - 1]))
            err = trunc + self.noise[c][m]
            if m == 0:
                better_plain = err < self.plain_err
                self.plain_err = np.where(better_plain, err, self.plain_err)
                self.plain_row = np.where(better_plain, c, self.plain_row)
            better = err < self.best_err
            self.best = np.where(better, value, self.best)
            self.best_err = np.where(better, err, self.best_err)
            self.best_row = np.where(better, c, self.best_row)
            self.best_order = np.where(better, m, self.best_order)

    def scan(self) -> _Scan:
        scan = _Scan(self.best, self.best_err, self.best_row, self.best_order, self.steps, np.array(self.plus),
                     np.array(self.minus), np.array(self.halves))
        scan.plain_row = self.plain_row
        return scan


def _richardson(
    f0: np.ndarray,
    point: Callable[..., tuple[np.ndarray, Any]],
    t0: Any,
    t_floor: Any,
    delta: Any,
    plain: bool = False,
) -> _Scan:
    """Richardson-extrapolated central differences over t0, t0/2, t0/4, ...

    All arrays are flat, one entry per derivative estimated (an output
    element, or an (output, column) pair for several columns at once), with
    ``f0`` the unperturbed values.  ``point(t, active)`` returns f at x + t and
    the actual offset (scalar, or per entry), so that the effective half-width
    h of each difference is exact; it may skip (NaN) entries not ``active``.  The rounding noise of one value is the larger of ``NOISE·|f|`` and
    the :func:`_noise` probe at step ``delta``.  The scan stops for an output
    element when the rounding noise of a plain difference exceeds its best
    error estimate (with ``plain``, its best plain central difference's, which
    scans down to the bottom of the V), when t falls below ``t_floor``, or
    after MAX_ROWS steps.
    """
    n = f0.size
    level_floor = (np.abs(f0), _noise(f0, point, delta))
    table = _Table(n)
    done = ~np.isfinite(f0)
    t = t0
    for k in range(MAX_ROWS):
        fp, off_p = point(t, ~done)
        fm, off_m = point(-t, ~done)
        noise = table.add_row(t, fp, off_p, fm, off_m, level_floor)
        if k >= 2:  # the candidates of row k - 1 now have neighbours on both sides
            table.judge(k - 1)
            target = table.plain_err if plain else table.best_err
            done = done | (np.isfinite(target) & (noise >= target))
        done = done | np.broadcast_to(np.asarray(t) < t_floor, (n,))
        if done.all():
            break
        t = t / 2
    return table.scan()


def _decide(
    f0: np.ndarray,
    c: np.ndarray,
    c_err: np.ndarray,
    c_ok: np.ndarray,
    tie: np.ndarray,
    c_other: np.ndarray,
    scan: _Scan,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per element: the complex step where the Richardson estimate does not refute it, else Richardson.

    ``c_ok`` excludes elements where the complex step is unusable or sees a
    tie.  At a tie, ``c`` and ``c_other`` (the step from the other side of the
    real axis) are the derivatives of the two branches that real steps ±t
    take, so their mean is the limit of the central difference, exact where
    Richardson carries O(t) terms (a piecewise quadratic): it is used where
    Richardson agrees.  Where both are usable but disagree, the central
    differences may straddle a kink closer to x than any step: the complex
    step then equals one of the one-sided difference quotients and the
    central estimate their mean.
    """
    r = scan.value
    # At a tie seen by the complex step the kink is exactly at x and the mean is a subgradient.
    r_err = scan.error + np.where(tie, 0.0, scan.kink_error(f0))
    gap = np.abs(c - r)
    consistent = gap <= 2 * (r_err + c_err)
    forward, backward = scan.one_sided(f0)
    near_kink = np.minimum(np.abs(c - forward), np.abs(c - backward)) <= 0.25 * gap
    mean = (c + c_other) / 2
    mean_err = CS_ULPS * EPS * (np.abs(c) + np.abs(c_other))
    use_mean = tie & (np.abs(mean - r) <= 2 * (r_err + mean_err))
    use_c = c_ok & (consistent | ~np.isfinite(r) | near_kink)
    value = np.where(use_c, c, np.where(use_mean, mean, r))
    err = np.where(use_c, c_err, np.where(use_mean, mean_err, r_err))
    return value, err, use_c | use_mean


class FiniteDifferences:
    """Finite differences: complex step where exact and safe, Richardson central differences elsewhere.

    Knows no cases; differentiates any function of NumPy float arrays.  See the
    module docstring for the method and its error estimates.
    """

    name = "fd"
    #: numpy, with the four vocabulary functions it lacks (and the optional ``norm``, ``std``, ``hypot``, ``sinc`` and ``det``) composed in
    #: forms that stay analytic for complex input (the complex step differentiates through them).
    xp = Namespace(
        np,
        sigmoid=composed_sigmoid(np.tanh),
        logsumexp=_LOGSUMEXP,
        softmax=composed_softmax(_LOGSUMEXP, np.exp),
        log_softmax=composed_log_softmax(_LOGSUMEXP),
        norm=composed_norm(np),
        std=composed_std(np),
        hypot=composed_hypot(np),
        sinc=composed_sinc(np),
        det=np.linalg.det,  # a polynomial: numpy's complex LU keeps it analytic for the complex step
    )
    # numpy evaluates the primal: its matmul of ml_dtypes.bfloat16 arrays returns float32, so the
    # output dtype a bfloat16 caller expects cannot be told from the function's own result.
    supported_dtypes = ("float64", "float32", "float16")
    dtype_reasons: ClassVar[dict[str, str]] = {"bfloat16": "numpy (which fd evaluates the primal with) computes bfloat16 matmuls in float32"}

    def __init__(self, complex_step: bool = True) -> None:
        #: False: never use the complex step (Richardson only), e.g. for functions that
        #: misbehave on complex input in ways the checks cannot see, or to test Richardson.
        self.complex_step = complex_step
        #: How many times the last call evaluated fn (complex and real).
        self.last_calls = 0

    # ------------------------------------------------------------ protocol

    @np.errstate(all="ignore")
    def jvp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]
    ) -> EstimatedArray:
        """Σ_k J_k v_k, with the output's shape and dtype, and an error estimate."""
        problem = _Problem(fn, primals, self.complex_step)
        vs = [
            np.broadcast_to(np.asarray(v, dtype=np.float64), x.shape) for v, x in zip(tangents, problem.x, strict=True)
        ]
        value, err, method = self._jvp(problem, vs)
        result = _finish(value.reshape(problem.out_shape), err.reshape(problem.out_shape), problem.out_dtype(), method)
        self.last_calls = problem.calls
        return result

    @np.errstate(all="ignore")
    def vjp(
        self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray
    ) -> tuple[EstimatedArray, ...]:
        """uᵀ J_k for every primal, with the primal's shape and dtype, each with an error estimate."""
        problem = _Problem(fn, primals, self.complex_step)
        u = np.broadcast_to(np.asarray(cotangent, dtype=np.float64), problem.out_shape).ravel()
        results = []
        for k, (x, p) in enumerate(zip(problem.x, primals, strict=True)):
            if not np.issubdtype(np.asarray(p).dtype, np.inexact):  # integer data (labels): no derivative
                results.append(EstimatedArray(np.zeros(np.shape(p), np.asarray(p).dtype), 0.0))
                continue
            jac, err, used = self._columns(problem, k)
            with np.errstate(all="ignore"):
                value = u @ jac
                bound = np.abs(u) @ err + u.size * EPS * (np.abs(u) @ np.abs(jac))
            dtype = np.asarray(p).dtype
            dtype = dtype if _floating(dtype) else np.dtype(np.float64)
            results.append(
                _finish(value.reshape(x.shape), bound.reshape(x.shape), dtype, _method(used[problem.finite]))
            )
        self.last_calls = problem.calls
        return tuple(results)

    # ------------------------------------------------------------ extras

    @np.errstate(all="ignore")
    def jacobian(self, fn: Callable[..., Any], primals: Sequence[np.ndarray], argnum: int) -> EstimatedArray:
        """The dense Jacobian of fn w.r.t. ``primals[argnum]``: float64, (output.size, arg.size), by columns."""
        problem = _Problem(fn, primals, self.complex_step)
        jac, err, used = self._columns(problem, argnum)
        self.last_calls = problem.calls
        return _finish(jac, err, np.dtype(np.float64), _method(used[problem.finite]))

    @np.errstate(all="ignore")
    def diagonal(self, fn: Callable[..., Any], primals: Sequence[np.ndarray], argnum: int) -> EstimatedArray:
        """The diagonal of the Jacobian of an element-wise fn w.r.t. ``primals[argnum]``.

        A fixed number of calls whatever the size: two complex steps (the
        all-ones tangent, and a probe with random negative magnitudes, which
        shows any off-diagonal leakage and, from the other side of the real
        axis, any tie), fn(x), and a central-difference check (4 calls).
        Raises ValueError if fn is not element-wise in that argument (output
        shape not the argument's, or leakage).  Where the complex step is
        refused, element-wise-ness is checked with ⌈log2 n⌉ real sign probes
        and the elements are computed by Richardson along the all-ones
        direction.  Returned with the argument's shape and dtype.
        """
        problem = _Problem(fn, primals, self.complex_step)
        x = problem.x[argnum]
        if problem.out_shape != x.shape:
            raise ValueError(
                f"diagonal() needs an element-wise function: the output shape {problem.out_shape} "
                f"is not the shape {x.shape} of argument {argnum}"
            )
        value, err, used = self._diagonal(problem, argnum)
        self.last_calls = problem.calls
        dtype = np.asarray(primals[argnum]).dtype
        dtype = dtype if _floating(dtype) else np.dtype(np.float64)
        return _finish(value.reshape(x.shape), err.reshape(x.shape), dtype, _method(used))

    @np.errstate(all="ignore")
    def step_scan(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        tangents: Sequence[np.ndarray],
        steps: Sequence[float],
    ) -> list[tuple[float, np.ndarray]]:
        """Plain central differences (f(x + s·v) - f(x - s·v)) / 2s at each step s, no extrapolation (float64)."""
        problem = _Problem(fn, primals, self.complex_step)
        vs = [
            np.broadcast_to(np.asarray(v, dtype=np.float64), x.shape) for v, x in zip(tangents, problem.x, strict=True)
        ]
        out = []
        for s in steps:
            fp = problem.real([x + s * v for x, v in zip(problem.x, vs, strict=True)])
            fm = problem.real([x - s * v for x, v in zip(problem.x, vs, strict=True)])
            out.append((float(s), ((fp - fm) / (2 * s)).reshape(problem.out_shape)))
        return out

    @np.errstate(all="ignore")
    def chosen_step(
        self,
        fn: Callable[..., Any],
        primals: Sequence[np.ndarray],
        tangents: Sequence[np.ndarray],
        richardson: bool = False,
    ) -> float:
        """The step s (points x ± s·v) the engine picks along the tangents, from its Richardson scan.

        By default the step whose plain central difference has the smallest
        error estimate: the engine's estimate of the bottom of the V-shaped
        error-vs-step curve that :meth:`step_scan` draws.  With
        ``richardson=True``, the largest step of the extrapolated stencil it
        actually uses (s, s/2, ... s/2^m), to the right of that bottom.  For a
        vector output, the step chosen for the output element of largest
        derivative.
        """
        problem = _Problem(fn, primals, self.complex_step)
        vs = [
            np.broadcast_to(np.asarray(v, dtype=np.float64), x.shape) for v, x in zip(tangents, problem.x, strict=True)
        ]
        vmax = max((float(np.max(np.abs(v))) for v in vs if v.size), default=0.0)
        if vmax == 0:
            raise ValueError("chosen_step() needs a nonzero tangent")
        scale = float(np.exp2(np.ceil(np.log2(vmax))))
        vn = [v / scale for v in vs]
        big = max(float(np.max(np.abs(x[v != 0]), initial=0.0)) for x, v in zip(problem.x, vn, strict=True))

        def point(t: float, active: np.ndarray) -> tuple[np.ndarray, float]:
            return problem.real([x + t * v for x, v in zip(problem.x, vn, strict=True)]), t

        scan = _richardson(
            problem.f0,
            point,
            float(_base_step(big)),
            4 * float(np.spacing(big)),
            _probe_step(big),
            plain=not richardson,
        )
        finite = np.isfinite(scan.value)
        if not finite.any():
            return float("nan")
        i = int(np.argmax(np.where(finite, np.abs(scan.value), -1.0)))
        row = scan.row[i] - scan.order[i] if richardson else scan.plain_row[i]
        return scan.step(int(row), i) / scale

    # ------------------------------------------------------------ internals

    def _jvp(self, problem: _Problem, vs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, str]:
        n = problem.f0.size
        fin = problem.finite
        support = [v != 0 for v in vs]
        if not any(s.any() for s in support):
            return np.where(fin, 0.0, np.nan), np.where(fin, 0.0, np.inf), NONE
        vmax = max(float(np.max(np.abs(v))) for v in vs if v.size)
        scale = float(np.exp2(np.ceil(np.log2(vmax))))
        vn = [v / scale for v in vs]
        nonzero = [np.abs(x[(v != 0) & (x != 0)]) for x, v in zip(problem.x, vn, strict=True)]
        small = min((float(a.min()) for a in nonzero if a.size), default=0.0)
        small_all = min(float(np.min(np.abs(x[s]), initial=np.inf)) for x, s in zip(problem.x, support, strict=True))
        hc = float(_cs_step(small))
        cp, ok_p = problem.complex(vn, hc)
        cm, ok_m = problem.complex(vn, -0.75 * hc)  # divided by the negative step: same sign as cp
        c, c_err, ok, _ = _complex_pair(cp, ok_p, cm, ok_m)
        passed = np.zeros(n, bool)
        if ok.any():
            t1 = float(_check_step(small_all))
            t2 = t1 / 2
            f1p = problem.real([x + t1 * v for x, v in zip(problem.x, vn, strict=True)])
            f1m = problem.real([x - t1 * v for x, v in zip(problem.x, vn, strict=True)])
            xp2 = [x + t2 * v for x, v in zip(problem.x, vn, strict=True)]
            xm2 = [x - t2 * v for x, v in zip(problem.x, vn, strict=True)]
            f2p, f2m = problem.real(xp2), problem.real(xm2)
            veff = [(a - b) / (2 * t2) for a, b in zip(xp2, xm2, strict=True)]
            ce, ok_e = problem.complex(veff, hc)
            with np.errstate(all="ignore"):
                d1 = (f1p - f1m) / (2 * t1)
                d2 = (f2p - f2m) / (2 * t2)
                noise = NOISE * np.maximum(problem.abs_f0, np.maximum(np.abs(f2p), np.abs(f2m))) / t2
                tol = 2 * np.abs(d1 - d2) + 4 * noise + c_err + CS_ULPS * EPS * np.abs(ce)
                passed = ok & ok_e & (np.abs(ce - d2) <= tol)
        if (passed | ~fin).all():
            return (*_nan_where_infinite(problem, c * scale, c_err * scale), COMPLEX)
        # Fall back to columns: Σ_j J[:, j] v_j, each column complex-step where safe, else Richardson.
        value = np.zeros(n)
        err = np.zeros(n)
        used_all = [passed[:, None]]
        for k, (v, s) in enumerate(zip(vs, support, strict=True)):
            if not s.any():
                continue
            idx = np.flatnonzero(s.ravel())
            jac, jerr, used = self._columns(problem, k, idx)
            w = v.ravel()[idx]
            with np.errstate(all="ignore"):
                value = value + jac @ w
                err = err + jerr @ np.abs(w) + idx.size * EPS * (np.abs(jac) @ np.abs(w))
            used_all.append(used | passed[:, None])
        value = np.where(passed, c * scale, value)
        err = np.where(passed, c_err * scale, err)
        used = np.concatenate(used_all, axis=1)[fin]
        return (*_nan_where_infinite(problem, value, err), _method(used))

    def _columns(
        self, problem: _Problem, k: int, idx: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns ``idx`` (flat indices) of the Jacobian w.r.t. primal k, their error estimates, and where complex step was used."""
        x = problem.x[k]
        flat = x.ravel()
        idx = np.arange(flat.size) if idx is None else np.asarray(idx)
        n = problem.f0.size
        fin = problem.finite
        steps = _cs_step(np.abs(flat[idx]))
        cp, ok_p = problem.complex_columns(k, idx, steps)
        cm, ok_m = problem.complex_columns(k, idx, -0.75 * steps)
        jac, err, ok, tie = _complex_pair(cp, ok_p, cm, ok_m)
        accepted = self._verified_complex_columns(problem, k, idx, jac, err, ok)
        used = accepted.copy()
        need = fin[:, None] & ~accepted
        cols = np.flatnonzero(need.any(axis=0))
        if cols.size:
            scan = self._richardson_columns(problem, k, idx[cols])
            f0 = np.broadcast_to(problem.f0[:, None], (n, cols.size)).ravel()
            value, verr, use_c = _decide(
                f0,
                jac[:, cols].ravel(),
                err[:, cols].ravel(),
                ok[:, cols].ravel(),
                tie[:, cols].ravel(),
                cm[:, cols].ravel(),
                scan,
            )
            sub = need[:, cols]
            for target, source in ((jac, value), (err, verr), (used, use_c)):
                block = target[:, cols]
                block[sub] = source.reshape(n, cols.size)[sub]
                target[:, cols] = block
        jac[~fin] = np.nan
        err[~fin] = np.inf
        return jac, err, used

    def _verified_complex_columns(
        self, problem: _Problem, k: int, idx: np.ndarray, jac: np.ndarray, err: np.ndarray, ok: np.ndarray
    ) -> np.ndarray:
        """Which complex-step columns pass a central-difference check (one along a random direction for all, then
        each on its own if that fails); entries of columns not accepted are computed by Richardson scans."""
        x = problem.x[k]
        flat = x.ravel()
        fin = problem.finite
        accepted = np.zeros((problem.f0.size, idx.size), bool)
        # One central-difference check along a random direction for all columns that look analytic.
        candidates = np.flatnonzero((ok | ~fin[:, None]).all(axis=0))
        if candidates.size:
            rng = np.random.default_rng(PROBE_SEED)
            r = rng.uniform(0.5, 1.0, candidates.size) * rng.choice([-1.0, 1.0], candidates.size)
            direction = np.zeros(flat.size)
            direction[idx[candidates]] = r
            direction = direction.reshape(x.shape)
            t1 = float(_check_step(np.min(np.abs(flat[idx[candidates]]))))
            d2, tol, xp2, xm2 = _check(problem, k, direction, t1)
            deff = ((xp2 - xm2) / t1).ravel()[idx[candidates]]  # t2 = t1 / 2
            with np.errstate(all="ignore"):
                predicted = jac[:, candidates] @ deff
                tol = (
                    tol
                    + err[:, candidates] @ np.abs(deff)
                    + 4 * candidates.size * EPS * (np.abs(jac[:, candidates]) @ np.abs(deff))
                )
                passed = np.abs(predicted - d2) <= tol
            if (passed | ~fin).all():
                accepted[:, candidates] = True
            else:  # find the columns at fault: check each on its own
                for col in candidates:
                    j = idx[col]
                    e = np.zeros(flat.size)
                    e[j] = 1.0
                    t1 = float(_check_step(abs(flat[j])))
                    d2, tol, xp2, xm2 = _check(problem, k, e.reshape(x.shape), t1, exact_index=j)
                    with np.errstate(all="ignore"):
                        accepted[:, col] = ok[:, col] & (np.abs(jac[:, col] - d2) <= tol + err[:, col])
        return accepted

    def _richardson_columns(self, problem: _Problem, k: int, cols: np.ndarray) -> _Scan:
        """Richardson for the columns ``cols`` (flat indices of primal k) at once: entries (output, column), flat."""
        x = problem.x[k]
        flat = x.ravel()
        n = problem.f0.size
        ax = np.abs(flat[cols])
        per_entry = lambda a: np.broadcast_to(a, (n, cols.size)).ravel()

        def point(t: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            t_col = np.reshape(t, (n, cols.size))[0]
            live = np.reshape(active, (n, cols.size)).any(axis=0)
            values = np.full((n, cols.size), np.nan)
            offsets = np.full(cols.size, np.nan)
            xs = list(problem.x)
            for c in np.flatnonzero(live):
                moved = flat.copy()
                moved[cols[c]] += t_col[c]
                xs[k] = moved.reshape(x.shape)
                values[:, c] = problem.real(xs)
                offsets[c] = moved[cols[c]] - flat[cols[c]]
            return values.ravel(), per_entry(offsets)

        return _richardson(
            per_entry(problem.f0[:, None]),
            point,
            per_entry(_base_step(ax)),
            per_entry(4 * np.spacing(ax)),
            per_entry(_probe_step(ax)),
        )

    def _diagonal(self, problem: _Problem, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = problem.x[k]
        flat = x.ravel()
        n = flat.size
        fin = problem.finite
        ax = np.abs(flat)
        hc = _cs_step(ax)
        rng = np.random.default_rng(PROBE_SEED)
        magnitudes = rng.uniform(0.5, 1.5, n)
        imag = [None] * len(problem.x)
        imag[k] = np.ones(x.shape)
        cp, ok_p = problem.complex(imag, hc)
        imag[k] = (-magnitudes).reshape(x.shape)
        probe, ok_m = problem.complex(imag, hc)
        with np.errstate(all="ignore"):
            cm = probe / -magnitudes
        c, c_err, ok, tie = _complex_pair(cp, ok_p, cm, ok_m)
        # Central-difference check along the all-ones direction (exact per-element steps).
        t1 = _check_step(ax)
        f1p, f1m = _pair_values(problem, k, flat + t1, flat - t1, x.shape)
        xp2, xm2 = flat + t1 / 2, flat - t1 / 2
        f2p, f2m = _pair_values(problem, k, xp2, xm2, x.shape)
        with np.errstate(all="ignore"):
            d1 = (f1p - f1m) / ((flat + t1) - (flat - t1))
            d2 = (f2p - f2m) / (xp2 - xm2)
            noise = NOISE * np.maximum(problem.abs_f0, np.maximum(np.abs(f2p), np.abs(f2m))) / (t1 / 2)
            accepted = ok & (np.abs(c - d2) <= 2 * np.abs(d1 - d2) + 4 * noise + c_err)
        if (accepted | ~fin).all():
            return (*_nan_where_infinite(problem, c, c_err), accepted[fin])
        # The complex probe vouches for element-wise-ness only where the complex step is right:
        # probe with real sign patterns, one per bit of the index, so that some probe splits every pair.
        _check_elementwise(problem, k, t1, f1p, f1m)
        need = fin & ~accepted
        t0 = _base_step(ax)

        def point(t: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            xs = list(problem.x)
            moved = flat + t
            xs[k] = moved.reshape(x.shape)
            return problem.real(xs), moved - flat

        scan = _richardson(problem.f0, point, t0, 4 * np.spacing(ax), _probe_step(ax))
        value, verr, use_c = _decide(problem.f0, c, c_err, ok, tie, cm, scan)
        value = np.where(need, value, c)
        err = np.where(need, verr, c_err)
        used = np.where(need, use_c, True)
        return (*_nan_where_infinite(problem, value, err), used[fin])

    def evaluate(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...]) -> np.ndarray:
        """fn's forward value at the primals (numpy arithmetic, in their dtype)."""
        return np.array(fn(*(np.array(p, copy=True) for p in primals)), copy=True)


# ---------------------------------------------------------------- helpers


def _pair_values(
    problem: _Problem, k: int, xp: np.ndarray, xm: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    xs_p = list(problem.x)
    xs_m = list(problem.x)
    xs_p[k] = xp.reshape(shape)
    xs_m[k] = xm.reshape(shape)
    return problem.real(xs_p), problem.real(xs_m)


def _complex_pair(
    cp: np.ndarray, ok_p: np.ndarray, cm: np.ndarray, ok_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The complex step from both sides: value, error estimate, where it is usable and not at a tie, and the ties."""
    with np.errstate(all="ignore"):
        gap = np.abs(cp - cm)
        # Relative to max(|c|, 1): where the derivative itself is ~0 (x³ at 0)
        # the two sides differ by truncation terms (h² times f'''/6, ~1e-39),
        # not by a branch jump; the 4·gap in the estimate covers those.
        tie = gap > TIE_ULPS * EPS * np.maximum(np.abs(cp) + np.abs(cm), 1.0)
        err = CS_ULPS * EPS * np.abs(cp) + 4 * gap
    tie = ok_p & ok_m & tie
    ok = ok_p & ok_m & ~tie
    return cp, np.where(ok, err, np.inf), ok, tie


def _check(
    problem: _Problem, k: int, direction: np.ndarray, t1: float, exact_index: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Central differences along ``direction`` of primal k at steps t1 and t1/2.

    Returns the estimate at t1/2 (along the effective direction (x₊ - x₋)/t1),
    its error tolerance (twice the change from t1, plus 4x rounding noise), and
    the two points.  With ``exact_index`` (a basis direction) the effective
    half-width of that element divides instead.
    """
    x = problem.x[k]
    t2 = t1 / 2
    f1p, f1m = _pair_values(problem, k, x + t1 * direction, x - t1 * direction, x.shape)
    xp2, xm2 = x + t2 * direction, x - t2 * direction
    f2p, f2m = _pair_values(problem, k, xp2, xm2, x.shape)
    if exact_index is None:
        w1, w2 = 2 * t1, 2 * t2
    else:
        w1 = float((x + t1 * direction).ravel()[exact_index] - (x - t1 * direction).ravel()[exact_index])
        w2 = float(xp2.ravel()[exact_index] - xm2.ravel()[exact_index])
    with np.errstate(all="ignore"):
        d1 = (f1p - f1m) / w1
        d2 = (f2p - f2m) / w2
        noise = 2 * NOISE * np.maximum(problem.abs_f0, np.maximum(np.abs(f2p), np.abs(f2m))) / w2
        tol = 2 * np.abs(d1 - d2) + 4 * noise
    return d2, tol, xp2, xm2


def _check_elementwise(problem: _Problem, k: int, t: np.ndarray, fp: np.ndarray, fm: np.ndarray) -> None:
    """Raise ValueError unless fn(x + t·s) matches fn(x ± t) element by element for sign patterns s."""
    x = problem.x[k]
    flat = x.ravel()
    n = flat.size
    scale = NOISE * 64 * np.maximum(problem.abs_f0, np.maximum(np.abs(fp), np.abs(fm)))
    for bit in range(max(1, int(np.ceil(np.log2(n)))) if n > 1 else 0):
        signs = np.where((np.arange(n) >> bit) & 1, -1.0, 1.0)
        xs = list(problem.x)
        xs[k] = (flat + t * signs).reshape(x.shape)
        got = problem.real(xs)
        expected = np.where(signs > 0, fp, fm)
        with np.errstate(all="ignore"):
            bad = np.isfinite(expected) & ~(np.abs(got - expected) <= scale)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"diagonal() needs an element-wise function: output element {i} changes when other "
                f"elements of argument {k} move (by {got[i] - expected[i]:.3g})"
            )


def _nan_where_infinite(problem: _Problem, value: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fin = problem.finite
    return np.where(fin, value, np.nan), np.where(fin & np.isfinite(value), err, np.inf)


def _finish(value: np.ndarray, err: np.ndarray, dtype: np.dtype, method: str) -> EstimatedArray:
    """Cast to ``dtype``, adding the cast's rounding to the error estimate."""
    value = np.asarray(value, dtype=np.float64)
    with np.errstate(all="ignore"):
        cast = value.astype(dtype)
        err = np.asarray(err, dtype=np.float64) + np.abs(cast.astype(np.float64) - value)
    err = np.where(np.isnan(value), np.inf, err)
    result = EstimatedArray(cast, err)
    result.method = method
    return result
