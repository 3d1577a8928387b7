"""The reference derivative of a user's function, when verigrad holds no closed form for it.

Three sources, one interface (:class:`Reference`: the dense Jacobian of every
input at a float64 point, with an absolute error estimate per entry):

``FiniteDifferenceReference`` (the default)
    The function's own forward, evaluated in float64 by the engine
    (``engine.evaluate``), differentiated by the fd oracle: complex step where it
    is exact, Richardson-extrapolated central differences elsewhere.  The error
    estimate is the oracle's own.
``ClosedFormReference``
    A numpy closed form of the VJP, ``reference(cotangent, *inputs) -> tuple``
    (one float64 array per input, shaped like it): the Jacobian from basis
    cotangents, exact (estimate 0), as the catalog's closed forms are.
``EngineReference``
    Another engine's derivative of the same function (``reference="jax"``), in
    float64, with that engine's error estimate if it attaches one.

Kinks are found without knowing where they are (:func:`one_sided`): the
one-sided directional derivatives of the float64 forward, each extrapolated
with an error estimate; where they differ by more than their estimates the
point is non-differentiable along that direction, and every value between them
is a subgradient of that section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from verigrad.oracles import error_estimate
from verigrad.oracles.fd import FiniteDifferences
from verigrad.session import load_one

Forward = Callable[..., np.ndarray]
EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Jacobian:
    """One input's dense Jacobian, (output size, input size), float64, with an absolute error estimate per entry."""

    value: np.ndarray
    error: np.ndarray


class Reference(Protocol):
    """What a check compares the engine with: the Jacobian of each input at a float64 point."""

    description: str

    def jacobians(self, primals: tuple[np.ndarray, ...]) -> list[Jacobian]:
        """One :class:`Jacobian` per input at ``primals`` (float64)."""
        ...


def _flat_error(estimate: Any, shape: tuple[int, ...]) -> np.ndarray:
    if estimate is None:
        return np.zeros(shape)
    return np.nan_to_num(np.broadcast_to(np.asarray(estimate, dtype=np.float64), shape), nan=np.inf).copy()


class FiniteDifferenceReference:
    """The float64 forward, differentiated by the fd oracle (see the module docstring)."""

    description = "finite differences of the float64 forward (fd oracle, its own error estimate)"

    def __init__(self, forward: Forward) -> None:
        self.forward = forward
        self._fd = FiniteDifferences()

    def jacobians(self, primals: tuple[np.ndarray, ...]) -> list[Jacobian]:
        result = []
        for k in range(len(primals)):
            jac = self._fd.jacobian(self.forward, primals, k)
            result.append(Jacobian(np.asarray(jac, dtype=np.float64), _flat_error(error_estimate(jac), jac.shape)))
        return result


def _basis_jacobians(
    vjp: Callable[[np.ndarray], Sequence[np.ndarray]], primals: tuple[np.ndarray, ...], out_shape: tuple[int, ...]
) -> list[Jacobian]:
    """Row i of every input's Jacobian is the VJP with the i-th basis cotangent."""
    out_size = int(np.prod(out_shape, dtype=np.int64))
    rows: list[list[np.ndarray]] = [[] for _ in primals]
    errors: list[list[np.ndarray]] = [[] for _ in primals]
    for i in range(out_size):
        basis = np.zeros(out_size)
        basis[i] = 1.0
        pulled = vjp(basis.reshape(out_shape))
        if len(pulled) != len(primals):
            raise ValueError(f"the reference VJP returned {len(pulled)} arrays for {len(primals)} inputs")
        for k, (value, primal) in enumerate(zip(pulled, primals, strict=True)):
            array = np.asarray(value, dtype=np.float64)
            if array.shape != primal.shape:
                raise ValueError(f"the reference VJP of input {k} has shape {array.shape}, not the input's {primal.shape}")
            rows[k].append(array.ravel())
            errors[k].append(_flat_error(error_estimate(value), array.shape).ravel())
    return [
        Jacobian(np.array(r).reshape(out_size, p.size), np.array(e).reshape(out_size, p.size))
        for r, e, p in zip(rows, errors, primals, strict=True)
    ]


class ClosedFormReference:
    """A user's numpy closed form of the VJP: ``reference(cotangent, *inputs)`` -> one array per input."""

    description = "the closed-form VJP given as reference= (exact: no error estimate)"

    def __init__(self, vjp: Callable[..., Sequence[np.ndarray]], out_shape: Callable[[tuple[np.ndarray, ...]], tuple[int, ...]]) -> None:
        self.vjp = vjp
        self.out_shape = out_shape

    def jacobians(self, primals: tuple[np.ndarray, ...]) -> list[Jacobian]:
        def pull(cotangent: np.ndarray) -> Sequence[np.ndarray]:
            result = self.vjp(cotangent, *primals)
            if not isinstance(result, tuple | list):
                raise TypeError(f"reference= must return a tuple of arrays (one per input), got {type(result).__name__}")
            return result

        return _basis_jacobians(pull, primals, self.out_shape(primals))


class EngineReference:
    """Another engine's VJP of the same function, in float64 (with its error estimate, if it gives one)."""

    def __init__(self, engine: Any, fn: Callable[..., Any], out_shape: Callable[[tuple[np.ndarray, ...]], tuple[int, ...]]) -> None:
        self.engine = engine
        self.fn = fn
        self.out_shape = out_shape
        self.description = f"the derivative from the {engine.name} engine in float64"

    def jacobians(self, primals: tuple[np.ndarray, ...]) -> list[Jacobian]:
        return _basis_jacobians(lambda u: self.engine.vjp(self.fn, primals, u), primals, self.out_shape(primals))


class SummedReference:
    """``base`` with input ``second``'s Jacobian added to ``first``'s: the total derivative when one array is both."""

    def __init__(self, base: Reference, first: int, second: int) -> None:
        self.base, self.first, self.second = base, first, second
        self.description = base.description

    def jacobians(self, primals: tuple[np.ndarray, ...]) -> list[Jacobian]:
        result = list(self.base.jacobians(primals))
        a, b = result[self.first], result[self.second]
        result[self.first] = Jacobian(a.value + b.value, a.error + b.error)
        return result


def aliased_forward(forward: Forward, first: int, second: int) -> Forward:
    """``forward`` with input ``second`` replaced by input ``first``: differentiating it w.r.t. ``first`` gives the total derivative."""

    def aliased(*xs: np.ndarray) -> np.ndarray:
        return forward(*(xs[first] if k == second else x for k, x in enumerate(xs)))

    return aliased


def resolve_reference(
    reference: Any, fn: Callable[..., Any], forward: Forward | None, out_shape: Callable[[tuple[np.ndarray, ...]], tuple[int, ...]]
) -> Reference:
    """The :class:`Reference` that ``reference=`` names (None: finite differences of ``forward``)."""
    if reference is None:
        if forward is None:
            raise ValueError("this engine has no evaluate() method, so verigrad cannot evaluate the function's forward "
                             "in float64: pass reference= (a closed-form VJP, or an engine name)")
        return FiniteDifferenceReference(forward)
    if isinstance(reference, str) or hasattr(reference, "vjp"):
        engine = load_one(reference)[1] if isinstance(reference, str) else reference
        return EngineReference(engine, fn, out_shape)
    if callable(reference):
        return ClosedFormReference(reference, out_shape)
    raise TypeError(f"reference= takes a closed-form VJP callable, an engine name or an engine, not {type(reference).__name__}")


# --------------------------------------------------------------- one-sided


#: The first one-sided step, relative to the size of the point along the direction (a power of two).
SIDED_FIRST_STEP = 2.0**-8
#: Steps t, t/2, ... t/2^(SIDED_STEPS-1); Richardson eliminates h, h² and h³ (one-sided quotients have every power).
SIDED_STEPS = 8
SIDED_ORDER = 3
#: Rounding noise of one float64 value of the forward, relative to its magnitude.
SIDED_NOISE = 8 * EPS
#: One-sided derivatives that differ by more than this many times their summed error estimates mark a kink.
KINK_FACTOR = 4.0


@dataclass(frozen=True)
class Sided:
    """The one-sided derivatives of a forward along a direction, flat over the output, with error estimates."""

    left: np.ndarray
    right: np.ndarray
    left_error: np.ndarray
    right_error: np.ndarray


def _sided_limit(forward: Forward, primals: tuple[np.ndarray, ...], direction: tuple[np.ndarray, ...],
                 f0: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """lim_{t→0+} (f(x + sign·t·d) - f(x)) / (sign·t) by Richardson, and its error estimate."""
    size = max((float(np.max(np.abs(x[d != 0]), initial=0.0)) for x, d in zip(primals, direction, strict=True)), default=0.0)
    t = SIDED_FIRST_STEP * float(np.exp2(np.ceil(np.log2(max(size, 1.0)))))
    table: list[list[np.ndarray]] = []
    noise: list[np.ndarray] = []
    for _ in range(SIDED_STEPS):
        with np.errstate(all="ignore"):
            moved = np.asarray(forward(*(x + sign * t * d for x, d in zip(primals, direction, strict=True))), dtype=np.float64).ravel()
            row = [(moved - f0) / (sign * t)]
        noise.append(SIDED_NOISE * (np.abs(moved) + np.abs(f0)) / t)
        for m in range(1, min(len(table), SIDED_ORDER) + 1):
            row.append(row[m - 1] + (row[m - 1] - table[-1][m - 1]) / (2.0**m - 1))
        table.append(row)
        t /= 2
    # Each full-order extrapolant: its error is its change from the previous one and from one order lower,
    # plus the rounding noise of its stencil, amplified by the extrapolation weights (Π (2^m + 1)/(2^m - 1) < 6.5).
    best, best_error = table[-1][-1], np.full(f0.shape, np.inf)
    for i in range(SIDED_ORDER + 1, SIDED_STEPS):
        value = table[i][SIDED_ORDER]
        with np.errstate(all="ignore"):
            error = (np.abs(value - table[i - 1][SIDED_ORDER]) + np.abs(value - table[i][SIDED_ORDER - 1])
                     + 6.5 * noise[i])
        better = error < best_error
        best, best_error = np.where(better, value, best), np.where(better, error, best_error)
    return best, np.where(np.isfinite(best), best_error, np.inf)


def one_sided(forward: Forward, primals: tuple[np.ndarray, ...], direction: tuple[np.ndarray, ...]) -> Sided:
    """The left and right directional derivatives of ``forward`` at ``primals`` along ``direction`` (float64)."""
    f0 = np.asarray(forward(*primals), dtype=np.float64).ravel()
    right, right_error = _sided_limit(forward, primals, direction, f0, 1.0)
    left, left_error = _sided_limit(forward, primals, direction, f0, -1.0)
    return Sided(left, right, left_error, right_error)


def kinked(left: np.ndarray, right: np.ndarray, left_error: np.ndarray, right_error: np.ndarray) -> np.ndarray:
    """Where one-sided derivatives disagree beyond their error estimates: the point is non-differentiable there."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(left) & np.isfinite(right) & (np.abs(right - left) > KINK_FACTOR * (left_error + right_error))
