"""Deliberately broken engines: each wraps a correct engine and breaks its results one way.

The harness claims to catch wrong gradients; these mutants are how it proves it
(``tests/selftest``), and a user can run them through ``verigrad check`` like any
engine (``--engine verigrad.oracles.mutants:WrongSign``: every mutant wraps PyTorch when
built with no argument).

Like every engine, a mutant knows no cases: it differentiates whatever function
it is handed with the wrapped engine and perturbs the *result* generically (by
sign, scale, dtype, shape, by which primal arrays are the same object or tie...),
never by looking at which function it was given.

Which check exposes each mutant and the diagnosis verigrad must give is test
data: the table ``MUTANTS`` in ``tests/selftest/mutant_table.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from verigrad.oracles.namespaces import Namespace

__all__ = [
    "LARGE_DRAW_MUTANTS", "MUTANT_ENGINES", "RULE_MUTANTS", "SCALE_VALUE_MUTANTS", "DegradedEngine", "MutantEngine", "SingleEntryEngine", "WrongRule", "round_to_bfloat16",
]

Arrays = tuple[np.ndarray, ...]


def _default_engine() -> Any:
    from verigrad.oracles.torch_engine import TorchEngine

    return TorchEngine()


class MutantEngine:
    """A correct engine, passed through unchanged; subclasses break one thing.

    ``label`` names the mutation; the engine's ``name`` is ``mutant-<label>``.
    Results pass through :meth:`perturb_vjp` and :meth:`perturb_jvp`, which see
    the call's inputs as well as the wrapped engine's (correct) results.
    """

    label = "identity"

    def __init__(self, engine: Any = None) -> None:
        self.inner = engine if engine is not None else _default_engine()
        self.name = f"mutant-{self.label}"
        self.xp = self.inner.xp
        declared = getattr(self.inner, "supported_dtypes", None)
        if declared is not None:
            self.supported_dtypes = declared

    def vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray) -> Any:
        return self.perturb_vjp(fn, primals, cotangent, tuple(self.inner.vjp(fn, primals, cotangent)))

    def jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays) -> Any:
        return self.perturb_jvp(fn, primals, tangents, self.inner.jvp(fn, primals, tangents))

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Any:
        return tuple(self.perturb(g) for g in grads)

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> Any:
        return self.perturb(result)

    def perturb(self, array: np.ndarray) -> Any:
        """The element-wise mutation most mutants apply to every result array."""
        return array

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner.name})"

    def __getattr__(self, name: str) -> Any:
        # Optional protocol methods (evaluate, ...) pass through unmutated, where the wrapped engine has them.
        if name.startswith("_") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def _same_dtype(values: Any, like: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.asarray(like).dtype, copy=False)


# --------------------------------------------------------------- wrong values


class WrongSign(MutantEngine):
    """Every result negated (a sign slip in a backward rule)."""

    label = "wrong-sign"

    def perturb(self, array: np.ndarray) -> np.ndarray:
        return -array


class _Scaled(MutantEngine):
    factor = 1.0

    def perturb(self, array: np.ndarray) -> np.ndarray:
        return _same_dtype(array * self.factor, array)


class ScaleTwo(_Scaled):
    """Every result doubled (a ``2·`` that belongs elsewhere, e.g. d(x²) applied twice)."""

    label = "scale-2"
    factor = 2.0


class ScaleHalf(_Scaled):
    """Every result halved."""

    label = "scale-half"
    factor = 0.5


class ScaleBySize(MutantEngine):
    """Every result times the output's size (a sum where a mean was meant, in the backward pass)."""

    label = "scale-size"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        size = max(int(np.size(cotangent)), 1)
        return tuple(_same_dtype(g * size, g) for g in grads)

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        return _same_dtype(result * max(int(np.size(result)), 1), result)


class ScaleByInverseSize(MutantEngine):
    """Every result divided by the output's size (a mean where a sum was meant)."""

    label = "scale-inverse-size"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        size = max(int(np.size(cotangent)), 1)
        return tuple(_same_dtype(g / size, g) for g in grads)

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        return _same_dtype(result / max(int(np.size(result)), 1), result)


class Transposed(MutantEngine):
    """The Jacobian used transposed (denominator layout where numerator is meant).

    VJP: a 2-D primal gets its gradient transposed; where the Jacobian of a primal
    is square, the result is J·u instead of Jᵀu (J built row by row from the
    wrapped engine's VJPs with basis cotangents).  JVP: Jᵀv instead of J v for
    square Jacobians.  Symmetric Jacobians (element-wise functions) hide this bug,
    as they would in a real engine.
    """

    label = "transposed"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        out_size = int(np.size(cotangent))
        rows: list[Arrays] | None = None
        result = []
        for k, (primal, grad) in enumerate(zip(primals, grads, strict=True)):
            if np.ndim(grad) == 2 and grad.shape[0] != grad.shape[1]:
                result.append(np.ascontiguousarray(grad.T))
            elif np.size(primal) == out_size and out_size >= 2:
                if rows is None:
                    rows = self._rows(fn, primals, cotangent)
                jac = np.stack([np.ravel(row[k]) for row in rows])  # out × in, numerator layout
                result.append(_same_dtype((jac @ np.ravel(cotangent)).reshape(np.shape(primal)), grad))
            else:
                result.append(grad)
        return tuple(result)

    def _rows(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray) -> list[Arrays]:
        rows = []
        for i in range(int(np.size(cotangent))):
            basis = np.zeros(np.size(cotangent), dtype=np.asarray(cotangent).dtype)
            basis[i] = 1
            rows.append(tuple(self.inner.vjp(fn, primals, basis.reshape(np.shape(cotangent)))))
        return rows

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        out_size = int(np.size(result))
        total = np.asarray(result, dtype=np.float64).copy()
        for k, (primal, tangent) in enumerate(zip(primals, tangents, strict=True)):
            if np.size(primal) != out_size or out_size < 2 or not np.any(tangent):
                continue
            columns = []
            for j in range(out_size):
                basis = [np.zeros_like(t) for t in tangents]
                basis[k].flat[j] = 1
                columns.append(np.ravel(self.inner.jvp(fn, primals, tuple(basis))))
            jac = np.stack(columns, axis=1)  # out × in
            v = np.ravel(tangent).astype(np.float64)
            total += ((jac.T - jac) @ v).reshape(total.shape)
        return _same_dtype(total, result)


class KinkOutside(MutantEngine):
    """At exact ties between two same-shaped primals, a whole extra cotangent in each gradient.

    A ``max``-like rule that sends the full cotangent to *both* operands at a tie
    and then adds its own share again gives subgradient shares outside [0, 1]
    (e.g. 1.5 where torch's 0.5 is correct).  Away from ties nothing changes;
    the JVP is left correct.
    """

    label = "kink-outside"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        result = [np.array(g, copy=True) for g in grads]
        for i, a in enumerate(primals):
            for j in range(i + 1, len(primals)):
                b = primals[j]
                if a is b or np.shape(a) != np.shape(b) or np.shape(a) != np.shape(cotangent):
                    continue
                ties = np.asarray(a) == np.asarray(b)
                for k in (i, j):
                    result[k] = _same_dtype(result[k] + np.where(ties, cotangent, 0), grads[k])
        return tuple(result)


class BroadcastNotReduced(MutantEngine):
    """A 0-d primal broadcast into the output keeps the per-element gradient (no sum back).

    Computed generically: the wrapped engine's VJP with the 0-d primal replaced by
    an array of the output's shape (``np.broadcast_to``) gives exactly the
    un-reduced gradient a broken engine returns.
    """

    label = "broadcast-not-reduced"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        out_shape = np.shape(cotangent)
        result = list(grads)
        if not out_shape:
            return tuple(result)
        for k, primal in enumerate(primals):
            if np.ndim(primal) != 0:
                continue
            widened = list(primals)
            widened[k] = np.array(np.broadcast_to(primal, out_shape))
            try:
                grad = self.inner.vjp(fn, tuple(widened), cotangent)[k]
            except Exception:
                continue  # the function does not broadcast this way: leave the slot right
            if np.shape(grad) == out_shape:
                result[k] = grad
        return tuple(result)


class LeaksOffDiagonal(MutantEngine):
    """Every entry gets a tiny share (2⁻³⁰) of the sum of all cotangents (tangents, in a JVP).

    What an engine computing element-wise derivatives through a dense, inexactly
    zero Jacobian does: off-diagonal entries that must be exactly zero are not.
    Small enough to hide inside many rounding bounds; the structure property sees it.
    """

    label = "leaks-off-diagonal"
    leak = 2.0**-30

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        spill = self.leak * float(np.sum(cotangent))
        return tuple(_same_dtype(g + spill, g) for g in grads)

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        spill = self.leak * float(sum(np.sum(t) for t in tangents))
        return _same_dtype(result + spill, result)


class TransposedWhenSquare(MutantEngine):
    """The gradient of a square matrix argument comes back transposed; every other shape is right.

    What a kernel that swaps strides only on its square fast path does (burn #5304
    was wrong on 33 of 512 shapes): invisible while every matrix drawn is non-square.
    """

    label = "transposed-when-square"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        return tuple(np.ascontiguousarray(g.T) if np.ndim(g) == 2 and g.shape[0] == g.shape[1] else g for g in grads)


class MeanWithoutOneOverN(MutantEngine):
    """A reduction's backward forgets its 1/N: each gradient times (its primal's size / the output's size).

    Exactly a mean's derivative without the division (N = elements reduced into one
    output); a sum (or anything not reducing) is left alone because there the
    factor is 1 or the function keeps sizes.
    """

    label = "mean-without-1/N"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        out = max(int(np.size(cotangent)), 1)
        return tuple(_same_dtype(g * (np.size(p) // out), g) if np.size(p) > out else g for p, g in zip(primals, grads, strict=True))

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        out = max(int(np.size(result)), 1)
        largest = max((int(np.size(p)) for p in primals), default=out)
        return _same_dtype(result * (largest // out), result) if largest > out else result


class HangsAboveSize(MutantEngine):
    """Hangs (sleeps ``seconds``) once any primal has more than ``limit`` elements: fine on small inputs only."""

    label = "hangs-above-5"

    def __init__(self, engine: Any = None, limit: int = 5, seconds: float = 30.0) -> None:
        super().__init__(engine)
        self.limit, self.seconds = limit, seconds

    def _wait(self, primals: Arrays) -> None:
        if any(np.size(p) > self.limit for p in primals):
            time.sleep(self.seconds)

    def vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray) -> Any:
        self._wait(primals)
        return super().vjp(fn, primals, cotangent)

    def jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays) -> Any:
        self._wait(primals)
        return super().jvp(fn, primals, tangents)


class ForwardOverflows(MutantEngine):
    """Its forward value is Inf once a primal has more than ``limit`` elements, its derivatives right.

    ``evaluate`` as a reduction that forms its sum in the format would give it (a float16 mean of 70,000 values).
    """

    label = "forward-overflows"

    def __init__(self, engine: Any = None, limit: int = 65_504) -> None:
        super().__init__(engine)
        self.limit = limit

    def evaluate(self, fn: Callable[..., Any], primals: Arrays) -> np.ndarray:
        value = np.asarray(self.inner.evaluate(fn, primals))
        if any(np.size(p) > self.limit for p in primals):
            return np.full_like(value, np.inf)
        return value


class SumsTangentsInFormat(MutantEngine):
    """Its JVP is scaled by the sum of the tangents formed in their own format over that sum formed exactly:
    a forward rule that adds its tangents up before dividing (torch's ``amax`` over many float16 ties).

    Right wherever that sum is representable (random-sign tangents: their sum stays small), ``inf`` where it
    overflows (70,000 float16 ones), which only an all-ones tangent shows.
    """

    label = "sums-tangents-in-format"

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            in_format = sum(float(np.sum(t, dtype=np.asarray(t).dtype)) for t in tangents)
            exact = sum(float(np.sum(np.asarray(t, dtype=np.float64))) for t in tangents)
            if exact == 0 or in_format == exact:
                return result
            return np.asarray(np.asarray(result, dtype=np.float64) * (in_format / exact), dtype=np.asarray(result).dtype)


class TiesTakeAll(MutantEngine):
    """Equal entries of one primal each get the whole of their group's gradient (a max/min whose
    backward sends the full cotangent to every tied element: mass k on a k-way tie)."""

    label = "ties-take-all"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        result = []
        for primal, grad in zip(primals, grads, strict=True):
            if np.shape(primal) != np.shape(grad) or not np.size(grad):
                result.append(grad)
                continue
            _, group, counts = np.unique(np.ravel(primal), return_inverse=True, return_counts=True)
            totals = np.bincount(group, weights=np.ravel(grad).astype(np.float64))
            tied = counts[group] > 1
            flat = np.where(tied, totals[group], np.ravel(grad))
            result.append(_same_dtype(flat.reshape(np.shape(grad)), grad))
        return tuple(result)


class TieCountInDtype(MutantEngine):
    """A max/min whose backward counts its k ties by adding ones in the primal's own dtype, one at a time.

    In float16 the count stops at 2048 (2048 + 1 rounds back to 2048; bfloat16 at 256), so each of
    k > 2048 ties gets c/2048 and the gradient's mass is k/2048 instead of 1: the sequential form of
    tinygrad #12296 and jax #38885 (whose tree-shaped counts overflow at 65,520 instead).  Perturbs a
    gradient whose support is one group of equal primal entries (a max's or min's winners); a
    count the dtype holds exactly leaves it unchanged.
    """

    label = "tie-count-in-dtype"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        return tuple(_recount_ties(np.asarray(p), g) if np.shape(p) == np.shape(g) and np.size(g) > 1 else g
                     for p, g in zip(primals, grads, strict=True))


def _recount_ties(primal: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The gradient's mass spread over its tied support, divided by the support's size counted in primal's dtype."""
    support = np.asarray(grad) != 0
    winners = np.unique(primal[support])
    if winners.size != 1:
        return grad
    exact = int(np.sum(support))
    counted = float(np.cumsum(np.ones(exact, dtype=primal.dtype))[-1])
    if counted == exact:
        return grad
    mass = float(np.sum(np.asarray(grad, dtype=np.float64)))
    return _same_dtype(np.where(support, mass / counted, 0.0), grad)


class BroadcastAxisNotReduced(MutantEngine):
    """A primal broadcast along a size-1 axis ((m, 1) + (1, n)) keeps the per-element gradient.

    Generic: the wrapped engine's VJP with that primal widened to the output's
    shape is exactly the un-reduced gradient.
    """

    label = "broadcast-axis-not-reduced"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        out_shape = np.shape(cotangent)
        result = list(grads)
        for k, primal in enumerate(primals):
            shape = np.shape(primal)
            if len(shape) != len(out_shape) or shape == out_shape or 1 not in shape:
                continue
            widened = list(primals)
            widened[k] = np.array(np.broadcast_to(primal, out_shape))
            try:
                result[k] = self.inner.vjp(fn, tuple(widened), cotangent)[k]
            except Exception:
                continue  # not broadcast this way: leave the slot right
        return tuple(result)


class NaNAtZero(MutantEngine):
    """NaN wherever the primal entry is exactly 0 (n·x^(n-1) evaluated as n·x^n / x: MLX #504)."""

    label = "nan-at-zero"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        return tuple(
            _same_dtype(np.where(np.asarray(p) == 0, np.nan, g), g) if np.shape(p) == np.shape(g) else g
            for p, g in zip(primals, grads, strict=True)
        )


class UnchosenBranchLeaks(MutantEngine):
    """NaN wherever the primal is negative: a where whose backward multiplies the unchosen branch's
    derivative by 0 and gets 0·NaN (the branch log x at x < 0; jax #1052)."""

    label = "unchosen-branch-leaks"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        return tuple(
            _same_dtype(np.where(np.asarray(p) < 0, np.nan, g), g) if np.shape(p) == np.shape(g) else g
            for p, g in zip(primals, grads, strict=True)
        )


class WrongRule(MutantEngine):
    """One primitive's derivative rule broken, w.r.t. one operand: its tangent scaled by ``factor``.

    A rule mutant: JAX with ``xp.<primitive>`` replaced by a ``jax.custom_jvp`` of
    the same function whose JVP scales the tangent of operand ``operand`` (the
    VJP is its transpose, so it is wrong the same way).  Every case through that
    primitive and operand fails; the root cause (``verigrad.rootcause``) must
    name it.
    """

    label = "wrong-rule"

    def __init__(self, engine: Any = None, primitive: str = "exp", operand: int = 0, factor: float = -1.0) -> None:
        if engine is None:
            from verigrad.oracles.jax_engine import JaxEngine

            engine = JaxEngine()
        super().__init__(engine)
        import jax  # heavy: only for this mutant

        original = getattr(engine.xp, primitive)

        def broken(*args: Any, **kwargs: Any) -> Any:
            def f(*xs: Any) -> Any:
                return original(*xs, **kwargs)

            wrapped = jax.custom_jvp(f)

            @wrapped.defjvp
            def rule(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
                scaled = tuple(t * factor if k == operand else t for k, t in enumerate(tangents))
                return jax.jvp(f, primals, scaled)

            return wrapped(*args)

        self.name = f"mutant-wrong-rule-{primitive}-{operand}"
        self.xp = Namespace(engine.xp, **{primitive: broken})


# ------------------------------------------------------------ aliased inputs


def _shared_slots(primals: Sequence[np.ndarray]) -> list[list[int]]:
    """Slots holding the very same array object, in order (only sets of 2 or more)."""
    by_object: dict[int, list[int]] = {}
    for k, primal in enumerate(primals):
        by_object.setdefault(id(primal), []).append(k)
    return [slots for slots in by_object.values() if len(slots) > 1]


class MissingTerm(MutantEngine):
    """De-duplicates identical input objects and overwrites instead of accumulating.

    One array passed as two primals becomes one leaf; its gradient ends up as the
    last path's partial only (the earlier paths were overwritten), returned in the
    first slot, zeros in the others.  Distinct arrays are unaffected.
    """

    label = "missing-term"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        result = list(grads)
        for slots in _shared_slots(primals):
            last = grads[slots[-1]]
            result[slots[0]] = last
            for k in slots[1:]:
                result[k] = np.zeros_like(grads[k])
        return tuple(result)


class OverwritesAliased(MutantEngine):
    """Identical input objects share one gradient buffer that each path overwrites.

    Every slot of the same object gets the last path's partial: the other paths'
    terms are missing (and the last one appears once per slot).
    """

    label = "overwrites-aliased"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        result = list(grads)
        for slots in _shared_slots(primals):
            for k in slots:
                result[k] = np.array(grads[slots[-1]], copy=True)
        return tuple(result)


class DoubleCounted(MutantEngine):
    """Identical input objects share one leaf that accumulates correctly, and every slot returns it.

    Each slot holds the total derivative, so the slots together count it twice.
    """

    label = "double-counted"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        result = list(grads)
        for slots in _shared_slots(primals):
            total = sum(np.asarray(grads[k], dtype=np.float64) for k in slots)
            for k in slots:
                result[k] = _same_dtype(total, grads[k])
        return tuple(result)


# ------------------------------------------------------------ dtype, precision


class Upcast(MutantEngine):
    """Results returned as float64 whatever the primals' dtype (float32 inputs get float64 gradients)."""

    label = "upcast"

    def perturb(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array, dtype=np.float64)


class Downcast(MutantEngine):
    """Results returned as float32 whatever the primals' dtype."""

    label = "downcast"

    def perturb(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array, dtype=np.float32)


class Float32Inside(MutantEngine):
    """Computes in float32 and returns results in the primals' dtype (float64 inputs lose ~9 digits)."""

    label = "float32-inside"

    def vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray) -> Arrays:
        grads = self.inner.vjp(fn, _lowered(primals), _lower(cotangent))
        return tuple(_same_dtype(g, p) for g, p in zip(grads, primals, strict=True))

    def jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays) -> np.ndarray:
        result = self.inner.jvp(fn, _lowered(primals), _lowered(tangents))
        return _same_dtype(result, primals[0])


def _lower(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    return array.astype(np.float32) if array.dtype.kind == "f" and array.dtype.itemsize > 4 else array


def _lowered(arrays: Arrays) -> Arrays:
    # Identical objects stay identical (aliasing is part of the input).
    cache: dict[int, np.ndarray] = {}
    return tuple(cache.setdefault(id(a), _lower(a)) for a in arrays)


class RelativeError(MutantEngine):
    """Every entry off by a relative 1e-6, alternating in sign (a slightly wrong constant or formula)."""

    label = "relative-error"
    relative = 1e-6

    def perturb(self, array: np.ndarray) -> np.ndarray:
        signs = np.where(np.arange(np.size(array)) % 2 == 0, 1.0, -1.0).reshape(np.shape(array))
        return _same_dtype(array * (1.0 + self.relative * signs), array)


class NonFinite(MutantEngine):
    """A NaN at the first entry of every result (e.g. an unguarded 0·log 0)."""

    label = "non-finite"

    def perturb(self, array: np.ndarray) -> np.ndarray:
        out = np.array(array, copy=True)
        if out.size:
            out.flat[0] = np.nan
        return out


class Nondeterministic(MutantEngine):
    """Every other call, each entry moves by 1 to 3 ulps (an unordered parallel reduction).

    The noise comes from a private generator seeded at construction: runs are
    reproducible and the global RNG is never touched.
    """

    label = "nondeterministic"

    def __init__(self, engine: Any = None, seed: int = 0) -> None:
        super().__init__(engine)
        self._rng = np.random.default_rng(seed)
        self._calls = 0

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        self._calls += 1
        return tuple(self._noisy(g) for g in grads) if self._calls % 2 == 0 else grads

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        self._calls += 1
        return self._noisy(result) if self._calls % 2 == 0 else result

    def _noisy(self, array: np.ndarray) -> np.ndarray:
        steps = self._rng.integers(1, 4, size=np.shape(array))
        return _same_dtype(array + steps * np.spacing(array), array)


# ------------------------------------------------------- contract violations


class MutatesInputs(MutantEngine):
    """Right results, but every primal array is incremented in place (an in-place update on the caller's memory)."""

    label = "mutates-inputs"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> Arrays:
        self._scribble(primals)
        return grads

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        self._scribble(primals)
        return result

    @staticmethod
    def _scribble(primals: Arrays) -> None:
        for primal in {id(p): p for p in primals}.values():
            primal[...] += 1


class Raises(MutantEngine):
    """Raises RuntimeError on every call."""

    label = "raises"

    def vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray) -> Any:
        raise RuntimeError("mutant-raises: vjp is broken on purpose")

    def jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays) -> Any:
        raise RuntimeError("mutant-raises: jvp is broken on purpose")


class ReturnsNone(MutantEngine):
    """Returns None (a forgotten ``return``)."""

    label = "returns-none"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> None:
        return None

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> None:
        return None


class ReturnsList(MutantEngine):
    """Returns lists instead of a tuple of arrays (VJP) or an array (JVP)."""

    label = "returns-list"

    def perturb_vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray, grads: Arrays) -> list[Any]:
        return list(grads)

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> list[Any]:
        return np.asarray(result).tolist() if np.ndim(result) else [float(result)]


class ReturnsFloat(MutantEngine):
    """Returns Python floats (the sum of each result) instead of arrays."""

    label = "returns-float"

    def perturb(self, array: np.ndarray) -> float:
        return float(np.sum(array))


class Vanishes(MutantEngine):
    """Every result all zeros, in the right shape and dtype: a detached graph or a stop-gradient."""

    label = "vanishes"

    def perturb(self, array: np.ndarray) -> np.ndarray:
        return np.zeros_like(array)


class WrongShape(MutantEngine):
    """Every result reshaped to a column (size, 1): the right numbers in the wrong shape."""

    label = "wrong-shape"

    def perturb(self, array: np.ndarray) -> np.ndarray:
        return np.reshape(array, (-1, 1))


class Hangs(MutantEngine):
    """Sleeps ``seconds`` before answering: a check with a time limit below that times out."""

    label = "hangs"

    def __init__(self, engine: Any = None, seconds: float = 30.0) -> None:
        super().__init__(engine)
        self.seconds = seconds

    def vjp(self, fn: Callable[..., Any], primals: Arrays, cotangent: np.ndarray) -> Any:
        time.sleep(self.seconds)
        return super().vjp(fn, primals, cotangent)

    def jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays) -> Any:
        time.sleep(self.seconds)
        return super().jvp(fn, primals, tangents)


class JvpOnlyWrong(MutantEngine):
    """The JVP off by a relative 2⁻⁸ (a slip in one forward rule); the VJP is right."""

    label = "jvp-only-wrong"

    def perturb_jvp(self, fn: Callable[..., Any], primals: Arrays, tangents: Arrays, result: np.ndarray) -> np.ndarray:
        return _same_dtype(np.asarray(result) * (1 + 2.0**-8), result)


# ------------------------------------------------- single entries, low precision


def _flat_add(array: np.ndarray, index: int, amount: float) -> np.ndarray:
    out = np.array(array, copy=True)
    flat = out.reshape(-1)
    flat[index] = flat[index] + amount
    return out


class SingleEntryEngine:
    """A deliberately wrong engine: ``base`` with ONE Jacobian entry J_ij of primal ``arg`` changed.

    J_ij becomes J_ij·(1 + delta) + absolute, consistently in the VJP (entry j gets
    (delta·J_ij + absolute)·u_i more) and the JVP (entry i gets (…)·v_j more).  It knows
    no cases: J_ij comes from ``base`` itself (a VJP with the basis cotangent e_i),
    and i, j are flat indices into the output and the argument.  With delta = 0,
    ``absolute`` injects an off-diagonal entry where J_ij = 0.
    """

    def __init__(self, base: Any, arg: int, i: int, j: int, delta: float = 0.0, absolute: float = 0.0) -> None:
        self.base, self.arg, self.i, self.j = base, arg, i, j
        self.delta, self.absolute = float(delta), float(absolute)
        self.name = f"{getattr(base, 'name', 'engine')}+entry"
        self.xp = base.xp

    def _change(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], out_shape: tuple[int, ...], dtype: np.dtype) -> float:
        if self.delta == 0.0:
            return self.absolute
        e_i = np.zeros(int(np.prod(out_shape)), dtype=dtype)
        e_i[self.i] = 1
        e_i = e_i.reshape(out_shape)
        entry = float(np.ravel(self.base.vjp(fn, primals, e_i)[self.arg])[self.j])
        return self.delta * entry + self.absolute

    def vjp(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        cotangent = np.asarray(cotangent)
        grads = list(self.base.vjp(fn, primals, cotangent))
        change = self._change(fn, primals, cotangent.shape, cotangent.dtype)
        grads[self.arg] = _flat_add(grads[self.arg], self.j, change * float(np.ravel(cotangent)[self.i]))
        return tuple(grads)

    def jvp(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]) -> np.ndarray:
        out = np.asarray(self.base.jvp(fn, primals, tangents))
        change = self._change(fn, primals, out.shape, out.dtype)
        return _flat_add(out, self.i, change * float(np.ravel(tangents[self.arg])[self.j]))


def round_to_bfloat16(array: np.ndarray) -> np.ndarray:
    """Round to the nearest bfloat16 (ties to even), returned in the array's own dtype."""
    array = np.asarray(array)
    bits = np.asarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32).astype(array.dtype)


class DegradedEngine:
    """A deliberately imprecise engine: ``base`` on inputs rounded to a low precision, or with noise added.

    ``kind``: ``"bfloat16"`` / ``"float16"`` round every floating primal to that format
    before differentiating (what a bf16/fp16 matmul with float32 accumulation
    does to its operands); ``"noise"`` multiplies each result entry by (1 + ε·ξ), ξ
    standard normal from ``numpy.random.default_rng(seed)``.  Results keep the
    primals' dtype, so only the values are wrong, by a few parts in a thousand.
    """

    def __init__(self, base: Any, kind: str = "bfloat16", epsilon: float = 4e-3, seed: int = 0) -> None:
        if kind not in ("bfloat16", "float16", "noise"):
            raise ValueError(f"unknown degradation {kind!r}")
        self.base, self.kind, self.epsilon = base, kind, float(epsilon)
        self._rng = np.random.default_rng(seed)
        self.name = f"{getattr(base, 'name', 'engine')}~{kind}"
        self.xp = base.xp

    def _round(self, primals: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        if self.kind == "noise":
            return tuple(primals)
        if self.kind == "bfloat16":
            return tuple(round_to_bfloat16(p) if np.asarray(p).dtype.kind == "f" else p for p in primals)
        return tuple(np.asarray(p).astype(np.float16).astype(np.asarray(p).dtype) if np.asarray(p).dtype.kind == "f" else p
                     for p in primals)

    def _noise(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        if self.kind != "noise":
            return value
        factor = 1.0 + self.epsilon * self._rng.standard_normal(value.shape)
        return (value.astype(np.float64) * factor).astype(value.dtype)

    def vjp(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], cotangent: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self._noise(g) for g in self.base.vjp(fn, self._round(primals), cotangent))

    def jvp(self, fn: Callable[..., Any], primals: tuple[np.ndarray, ...], tangents: tuple[np.ndarray, ...]) -> np.ndarray:
        return self._noise(self.base.jvp(fn, self._round(primals), tangents))


#: Every deliberately broken engine, in the order of the diagnoses they provoke.
MUTANT_ENGINES: tuple[type[MutantEngine], ...] = (
    WrongSign, ScaleTwo, ScaleHalf, ScaleBySize, ScaleByInverseSize, Transposed, LeaksOffDiagonal, MissingTerm,
    OverwritesAliased, DoubleCounted, KinkOutside, BroadcastNotReduced, Upcast, Downcast, Float32Inside, RelativeError,
    NonFinite, Nondeterministic, MutatesInputs, Raises, ReturnsNone, ReturnsList, ReturnsFloat, WrongShape, Hangs,
    # the families beyond the seed: each a bug the seed's shapes and cases let pass
    TransposedWhenSquare, MeanWithoutOneOverN, HangsAboveSize, TiesTakeAll, BroadcastAxisNotReduced, NaNAtZero,
    UnchosenBranchLeaks,
    JvpOnlyWrong,
    Vanishes,
)

#: Mutants whose bug shows only on the large draws (thousands of elements, one example in 64):
#: the self-test runs them on a large example drawn by ``verigrad.strategies``.
LARGE_DRAW_MUTANTS: tuple[type[MutantEngine], ...] = (TieCountInDtype,)

#: Mutants only the scale checks' value probe sees (their derivatives are right): tests/scale.
SCALE_VALUE_MUTANTS: tuple[type[MutantEngine], ...] = (ForwardOverflows,)

#: Rule mutants: one primitive's derivative broken w.r.t. one operand, built per (primitive, operand);
#: the root-cause self-test (``verigrad.rootcause``) blames each on its own primitive.
RULE_MUTANTS: tuple[type[MutantEngine], ...] = (WrongRule,)
