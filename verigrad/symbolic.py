"""Symbolic and exact evaluation of closed forms and primals: the machinery of ``verigrad.prove``.

A case's primal and closed forms are numpy code; this module runs that very code
on other numbers:

* :class:`SymNum` wraps a sympy expression, :class:`RatNum` a
  :class:`fractions.Fraction`, :class:`BigNum` an mpmath ``mpf``.  Object arrays
  of them go through numpy's operators, ``@``, ``np.sum`` and ``np.cos`` (which
  calls ``elem.cos()``) unchanged, so a closed form or a primal evaluates
  symbolically or exactly without being re-written.
* Float constants that meet a wrapped number (``2.0 / N``, ``eta``) are read as
  the small rationals they round (:func:`recover_constant`): ``float(2/3)``
  stands for 2/3.  Inputs are never floats here, they are wrapped.
* Piecewise-smooth primals (ReLU, max) are differentiated one *region* at a
  time: :class:`Region` fixes the side of every kink expression, the namespace's
  ``maximum`` and ``>`` follow it, and :class:`RegionPoint` makes a closed
  form's ``p.step(z)`` follow it too.  On an open region the primal is a
  polynomial or an elementary function, and sympy differentiates it exactly.

The primal runs through :class:`SymbolicNamespace`, which implements the primal
vocabulary of ``oracles/protocol.py`` and nothing else: a primal calling anything
beyond it raises :class:`Unsupported` naming the call.  The repository's tests
prove the built-in catalog with these functions; ``verigrad.prove`` proves a
user's cases with the same ones.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import sympy

import verigrad.reference.cases as cases_module
from verigrad.oracles.namespaces import composed_norm, composed_std
from verigrad.reference import LABEL, Case, Point, StructuredJacobian, resolve_shape
from verigrad.reference.families import laplace_det, tie_weights
from verigrad.reference.jacobian import Structure, data_shape
from verigrad.truth import sizes_of

U64 = Fraction(1, 2**53)

#: The sizes the symbolic proofs run at (the brief: n = 1..4, m and N = 1..3).
SYMBOLIC_SIZES: dict[str, tuple[int, ...]] = {"n": (1, 2, 3, 4), "m": (1, 2, 3), "N": (1, 2, 3)}
#: A size name the grid does not list (a user's case may name its own sizes) takes these values.
OTHER_SIZES: tuple[int, ...] = (1, 2, 3)


class Transcendental(TypeError):
    """A rational-arithmetic number met sin/cos/log: evaluate with mpmath instead."""


class Unsupported(AttributeError):
    """A primal called something the symbolic namespace does not implement (outside the primal vocabulary)."""


def recover_constant(value: float) -> Fraction:
    """The rational a float constant of the reference code stands for.

    Dyadic constants (0.125, 2.0) are exact already; a quotient such as
    ``2.0 / 3`` is recovered as 2/3 when a fraction with denominator ≤ 1000 lies
    within a few ulps of it.
    """
    exact = Fraction(value)
    if exact.denominator <= 2**20:
        return exact
    small = exact.limit_denominator(1000)
    if abs(small - exact) <= abs(exact) * Fraction(1, 2**48):
        return small
    return exact


# ------------------------------------------------------------- wrapped numbers


_CURRENT_REGION: contextvars.ContextVar[Region | None] = contextvars.ContextVar("region", default=None)


class Num:
    """A number that forwards arithmetic to ``self.v`` and lifts float constants exactly."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    # -- what a subclass provides
    @staticmethod
    def from_rational(value: Fraction) -> Any:
        raise NotImplementedError

    def _lift(self, other: Any) -> Any:
        if isinstance(other, Num):
            return other.v
        if isinstance(other, (bool, np.bool_, int, np.integer)):
            return self.from_rational(Fraction(int(other)))
        if isinstance(other, (float, np.floating)):
            return self.from_rational(recover_constant(float(other)))
        return NotImplemented

    def _wrap(self, v: Any) -> Num:
        return type(self)(v)

    def __add__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(self.v + o)

    def __radd__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(o + self.v)

    def __sub__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(self.v - o)

    def __rsub__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(o - self.v)

    def __mul__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(self.v * o)

    def __rmul__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(o * self.v)

    def __truediv__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(self.v / o)

    def __rtruediv__(self, o: Any) -> Any:
        o = self._lift(o)
        return NotImplemented if o is NotImplemented else self._wrap(o / self.v)

    def __pow__(self, k: Any) -> Num:
        if isinstance(k, Num):
            return self._wrap(self.v**k.v)
        if isinstance(k, (float, np.floating)) and float(k).is_integer():
            k = int(k)
        if isinstance(k, (int, np.integer)):
            return self._wrap(self.v ** int(k))
        return NotImplemented

    def __neg__(self) -> Num:
        return self._wrap(-self.v)

    def __pos__(self) -> Num:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.v!r})"


class SymNum(Num):
    """A sympy expression."""

    __slots__ = ()

    @staticmethod
    def from_rational(value: Fraction) -> Any:
        return sympy.Rational(value.numerator, value.denominator)

    def __abs__(self) -> SymNum:
        return SymNum(sympy.Abs(self.v))

    def sin(self) -> SymNum:
        return SymNum(sympy.sin(self.v))

    def cos(self) -> SymNum:
        return SymNum(sympy.cos(self.v))

    def log(self) -> SymNum:
        return SymNum(sympy.log(self.v))

    def exp(self) -> SymNum:
        return SymNum(sympy.exp(self.v))

    def tanh(self) -> SymNum:
        return SymNum(sympy.tanh(self.v))

    def sqrt(self) -> SymNum:
        return SymNum(sympy.sqrt(self.v))

    def __eq__(self, o: object) -> bool:
        """Numbers (labels, constants) compare by value; an expression with symbols equals only the same
        formula (sympy's own arithmetic cancels the difference to 0), never one simplify would make equal:
        a closed form's ``y == 0`` takes its general branch (simplifying that difference was 1.8 s of a proof)."""
        lifted = self._lift(o)
        if lifted is NotImplemented:
            return NotImplemented
        difference = self.v - lifted
        if not difference.is_number:
            return self is o
        return bool(sympy.simplify(difference) == 0)

    __hash__ = Num.__hash__

    # ``a > b`` in a primal (a mask): the current region decides.
    def __gt__(self, o: Any) -> bool:
        return _region_positive(self - o)

    def __lt__(self, o: Any) -> bool:
        return _region_positive(o - self)

    __ge__ = __gt__
    __le__ = __lt__

    def __float__(self) -> float:
        raise TypeError("a symbolic number has no float value: evaluate steps through a Region")


class _NumericNum(Num):
    """Shared by the exact kinds: real comparisons, and no float(): a closed form that
    rounds an exact number back to float64 (say, by filling a float array) fails loudly
    instead of passing with a float computation in disguise."""

    __slots__ = ()

    def __abs__(self) -> Num:
        return self._wrap(abs(self.v))

    def __float__(self) -> float:
        raise TypeError(f"{type(self).__name__} refuses float(): the exact evaluation would round")

    def __eq__(self, o: object) -> bool:
        lifted = self._lift(o)
        return NotImplemented if lifted is NotImplemented else bool(self.v == lifted)

    __hash__ = None  # type: ignore[assignment]

    def __gt__(self, o: Any) -> bool:
        return self.v > self._lift(o)

    def __lt__(self, o: Any) -> bool:
        return self.v < self._lift(o)

    def __ge__(self, o: Any) -> bool:
        return self.v >= self._lift(o)

    def __le__(self, o: Any) -> bool:
        return self.v <= self._lift(o)


class RatNum(_NumericNum):
    """An exact rational (``fractions.Fraction``)."""

    __slots__ = ()

    @staticmethod
    def from_rational(value: Fraction) -> Fraction:
        return value

    def sin(self) -> RatNum:
        raise Transcendental("sin")

    cos = log = exp = tanh = sqrt = sin


class BigNum(_NumericNum):
    """An mpmath number at the working precision (50 digits in the tests)."""

    __slots__ = ()

    @staticmethod
    def from_rational(value: Fraction) -> Any:
        return mpmath.mpf(value.numerator) / value.denominator

    def sin(self) -> BigNum:
        return BigNum(mpmath.sin(self.v))

    def cos(self) -> BigNum:
        return BigNum(mpmath.cos(self.v))

    def log(self) -> BigNum:
        return BigNum(mpmath.log(self.v))

    def exp(self) -> BigNum:
        return BigNum(mpmath.exp(self.v))

    def tanh(self) -> BigNum:
        return BigNum(mpmath.tanh(self.v))

    def sqrt(self) -> BigNum:
        return BigNum(mpmath.sqrt(self.v))


def to_sympy(value: Any) -> sympy.Expr:
    """A closed form's or primal's entry as a sympy number or expression."""
    if isinstance(value, SymNum):
        return value.v
    if isinstance(value, RatNum):
        return sympy.Rational(value.v.numerator, value.v.denominator)
    if isinstance(value, BigNum):
        return sympy.Float(value.v, mpmath.mp.dps)
    if isinstance(value, sympy.Basic):
        return value
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return sympy.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        r = recover_constant(float(value))
        return sympy.Rational(r.numerator, r.denominator)
    if isinstance(value, np.ndarray) and value.shape == ():
        return to_sympy(value[()])
    raise TypeError(f"cannot read {value!r} as sympy")


def wrap_values(values: Mapping[str, np.ndarray], kind: type[Num]) -> dict[str, np.ndarray]:
    """float64 input arrays as object arrays of exact numbers of ``kind`` (Fraction(x) is exact)."""
    out = {}
    for name, array in values.items():
        array = np.asarray(array, dtype=np.float64)
        wrapped = np.empty(array.shape, dtype=object)
        for index in np.ndindex(array.shape):
            wrapped[index] = kind(kind.from_rational(Fraction(float(array[index]))))
        out[name] = wrapped
    return out


def is_zero(expr: Any) -> bool:
    """Whether a sympy expression is identically 0 (expand first; simplify only if needed)."""
    expanded = sympy.expand(expr)
    if expanded == 0:
        return True
    if sympy.simplify(expanded) == 0:
        return True
    # sympy differentiates |a| to sign(a) but leaves a/|a| alone: the same off a = 0.
    return expanded.has(sympy.sign) and sympy.simplify(expanded.replace(sympy.sign, lambda a: a / sympy.Abs(a))) == 0


# ----------------------------------------------------------------- regions


def _canonical(expr: Any) -> sympy.Expr:
    return sympy.expand(to_sympy(expr))


class Region:
    """The side of every kink expression: 1 (> 0), 0 (< 0), or a share t (exactly on the kink).

    ``discover=True`` records every expression it is asked about (side 1), which
    is how a case's kink expressions are found.  A numeric expression decides
    its own side.
    """

    def __init__(self, sides: Mapping[sympy.Expr, Any] | None = None, discover: bool = False) -> None:
        self.sides: dict[sympy.Expr, Any] = dict(sides or {})
        self.discover = discover
        self.keys: list[sympy.Expr] = []

    def side(self, expr: Any) -> Any:
        key = _canonical(expr)
        if key.is_number:
            return 1 if key > 0 else 0
        if key in self.sides:
            return self.sides[key]
        if -key in self.sides:
            side = self.sides[-key]
            # Point.step(-z) is 1 - step(z) off the kink, and t again on it.
            return 1 - side if side in (0, 1) else side
        if self.discover:
            self.sides[key] = 1
            self.keys.append(key)
            return 1
        raise KeyError(f"expression {key} is not a kink of this region ({list(self.sides)})")

    def positive(self, expr: Any) -> bool:
        side = self.side(expr)
        if side not in (0, 1):
            raise ValueError(f"a primal was evaluated on the kink {expr}: use the two sides")
        return side == 1


def _region_positive(expr: Any) -> bool:
    region = _CURRENT_REGION.get()
    if region is None:
        raise TypeError("a symbolic comparison outside a Region")
    return region.positive(expr)


class SymbolicNamespace:
    """The primal vocabulary (``oracles.protocol.VOCABULARY``) on object arrays of :class:`Num`."""

    def __init__(self, region: Region) -> None:
        self.region = region

    def __getattr__(self, name: str) -> Any:
        raise Unsupported(
            f"the primal calls xp.{name}, which is not in the primal vocabulary (oracles/protocol.py) "
            "that the symbolic namespace implements"
        )

    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    log = staticmethod(np.log)

    exp = staticmethod(np.exp)
    tanh = staticmethod(np.tanh)
    sqrt = staticmethod(np.sqrt)

    @staticmethod
    def zeros_like(a: Any) -> Any:
        return np.zeros_like(np.asarray(a, dtype=object))

    @staticmethod
    def sum(a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return np.sum(np.asarray(a, dtype=object), axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        a = np.asarray(a, dtype=object)
        count = a.size if axis is None else a.shape[axis]
        return np.sum(a, axis=axis, keepdims=keepdims) / count

    @staticmethod
    def prod(a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return np.prod(np.asarray(a, dtype=object), axis=axis, keepdims=keepdims)

    @staticmethod
    def reshape(a: Any, shape: tuple[int, ...]) -> Any:
        return np.reshape(np.asarray(a, dtype=object), shape)

    @staticmethod
    def asarray(array: Any) -> Any:
        return np.asarray(array)

    def abs(self, a: Any) -> Any:
        """|a| element-wise: the side the region says."""
        a = np.asarray(a, dtype=object)
        return self._pick(a, np.zeros(a.shape, dtype=object), a, -a)

    @staticmethod
    def sigmoid(a: Any) -> Any:
        return 1 / (1 + np.exp(-np.asarray(a, dtype=object)))

    def minimum(self, a: Any, b: Any) -> Any:
        """min(a, b) element-wise: a where b - a > 0 in the region."""
        return self._pick(b, a, a, b)

    def clip(self, a: Any, lo: float, hi: float) -> Any:
        return self.minimum(self.maximum(a, np.full(np.shape(a), lo, dtype=object)), np.full(np.shape(a), hi, dtype=object))

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        out = np.where(np.asarray(cond, dtype=bool), np.asarray(a, dtype=object), np.asarray(b, dtype=object))
        return out[()] if out.ndim == 0 else out

    def max(self, a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return self._extremum(a, axis, keepdims, 1)

    def min(self, a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return self._extremum(a, axis, keepdims, -1)

    @staticmethod
    def _extremum(a: Any, axis: int | None, keepdims: bool, sign: int) -> Any:
        """The extremum as Σ w_i a_i, w the one-hot of the region's winner (the reference's tie_weights)."""
        a = np.asarray(a, dtype=object)
        moved = a.reshape(1, -1) if axis is None else np.moveaxis(a, axis, -1)
        value = np.sum(tie_weights(moved, 1.0, sign) * moved, axis=-1)
        if axis is None:
            value = value.reshape((1,) * a.ndim if keepdims else ())
        elif keepdims:
            value = np.expand_dims(value, axis)
        return value[()] if value.ndim == 0 else value

    def logsumexp(self, a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        return np.log(self.sum(np.exp(np.asarray(a, dtype=object)), axis=axis, keepdims=keepdims))

    def softmax(self, a: Any, axis: int = -1) -> Any:
        e = np.exp(np.asarray(a, dtype=object))
        return e / self.sum(e, axis=axis, keepdims=True)

    def log_softmax(self, a: Any, axis: int = -1) -> Any:
        return np.asarray(a, dtype=object) - self.logsumexp(a, axis=axis, keepdims=True)

    def norm(self, a: Any, axis: int | None = None, keepdims: bool = False, ord: float = 2) -> Any:
        """‖a‖₂ (optional vocabulary) as √(Σ a²) behind a double where: the region picks the side of Σ a² = 0;
        ``ord=inf``: max |a_i|, each |a_i| and the maximum by the region."""
        return composed_norm(self)(np.asarray(a, dtype=object), axis=axis, keepdims=keepdims, ord=ord)

    def std(self, a: Any, axis: int | None = None, keepdims: bool = False, ddof: int = 0) -> Any:
        """The standard deviation (optional vocabulary) behind a double where: the region picks the side of Σ(a − ā)² = 0."""
        return composed_std(self)(np.asarray(a, dtype=object), axis=axis, keepdims=keepdims, ddof=ddof)

    def sinc(self, a: Any) -> Any:
        """sin(πa)/(πa), 1 at an exact 0 (optional vocabulary); a symbol is never 0 here, so its quotient is taken."""
        a = np.asarray(a, dtype=object)
        zero = np.asarray(a == 0, dtype=bool)
        safe = np.where(zero, a * 0 + 1, a)
        out = np.where(zero, a * 0 + 1, np.sin(np.pi * safe) / (np.pi * safe))
        return out[()] if out.ndim == 0 else out

    def det(self, a: Any) -> Any:
        """The determinant (optional vocabulary) by Laplace expansion along the first row: exact in any kind."""
        return laplace_det(np.asarray(a, dtype=object))

    def hypot(self, a: Any, b: Any) -> Any:
        """√(a² + b²) (optional vocabulary) behind a double where: the region picks the side of a² + b² = 0."""
        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        s = a * a + b * b
        # The constants as s * 0 (+ 1): numbers of the symbolic kind, which np.sqrt can take element-wise.
        return self.where(s > 0, np.sqrt(self.where(s > 0, s, s * 0 + 1)), s * 0)

    @staticmethod
    def stack(arrays: list[Any]) -> np.ndarray:
        return np.stack([np.asarray(a, dtype=object) for a in arrays])

    @staticmethod
    def concat(arrays: list[Any]) -> np.ndarray:
        return np.concatenate([np.asarray(a, dtype=object) for a in arrays])

    def maximum(self, a: Any, b: Any) -> Any:
        """max(a, b) element-wise: the branch the region says, per element."""
        return self._pick(a, b, a, b)

    def _pick(self, left: Any, right: Any, if_positive: Any, otherwise: Any) -> Any:
        """``if_positive`` where left - right > 0 in the region, ``otherwise`` elsewhere (broadcasting)."""
        left, right, yes, no = np.broadcast_arrays(*(np.asarray(v, dtype=object) for v in (left, right, if_positive, otherwise)))
        out = np.empty(left.shape, dtype=object)
        for index in np.ndindex(left.shape):
            out[index] = yes[index] if self.region.positive(left[index] - right[index]) else no[index]
        return out[()] if out.ndim == 0 else out


class RegionPoint(Point):
    """A Point whose ``step(z)`` reads each element's side from a :class:`Region`."""

    def __init__(self, values: Mapping[str, Any], region: Region) -> None:
        super().__init__(values)
        self.region = region

    def step(self, z: Any, magnitude: Any = 0.0, ops: float = 0.0) -> np.ndarray:
        z = np.asarray(z, dtype=object)
        out = np.empty(z.shape, dtype=object)
        for index in np.ndindex(z.shape):
            out[index] = self.region.side(z[index])
        return out


class ExactPoint(Point):
    """A Point of exact numbers: ``step`` decides z > 0 exactly (t on z = 0), as ``Point.step`` with u = 0."""

    def step(self, z: Any, magnitude: Any = 0.0, ops: float = 0.0) -> np.ndarray:
        z = np.asarray(z, dtype=object)
        out = np.empty(z.shape, dtype=object)
        for index in np.ndindex(z.shape):
            value = z[index]
            out[index] = self.t if value == 0 else (1 if value > 0 else 0)
        return out


class _ObjectZerosNumpy:
    """numpy, except that ``zeros`` makes object arrays (a closed form fills them with numbers)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def zeros(shape: Any, dtype: Any = None) -> np.ndarray:
        return np.zeros(shape, dtype=object if dtype is None else dtype)


@contextlib.contextmanager
def object_array_creation() -> Iterator[None]:
    """Let ``reference.cases`` build its arrays with object dtype while a closed form runs.

    ``_matvec_dW`` fills ``np.zeros(...)``: a float64 array would round an exact
    entry back to float.  Scoped to one evaluation, restored afterwards.
    """
    original = cases_module.np
    cases_module.np = _ObjectZerosNumpy()
    try:
        yield
    finally:
        cases_module.np = original


# ------------------------------------------------------------- symbolic cases


def size_names(case: Case) -> list[str]:
    return sorted(case.size_symbols())


def size_grid(case: Case, grid: Mapping[str, tuple[int, ...]] = SYMBOLIC_SIZES) -> list[tuple[tuple[str, int], ...]]:
    """Every combination of the sizes a case uses, as hashable tuples (a size the grid lacks: :data:`OTHER_SIZES`)."""
    names = size_names(case)
    values = [grid.get(n, OTHER_SIZES) for n in names]
    return [tuple(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


def param_grid(case: Case) -> list[tuple[tuple[str, Any], ...]]:
    names = sorted(case.params)
    return [tuple(zip(names, combo, strict=True)) for combo in itertools.product(*(case.params[n] for n in names))]


Sizes = tuple[tuple[str, int], ...]
Params = tuple[tuple[str, Any], ...]
RegionKey = tuple[tuple[sympy.Expr, int], ...]
#: Label arguments' values, flattened, by name (they are data, not symbols).
Labels = tuple[tuple[str, tuple[int, ...]], ...]


def label_values(case: Case, values: Mapping[str, np.ndarray]) -> Labels:
    """The label arguments of concrete inputs, as a hashable key."""
    return tuple((a.name, tuple(int(v) for v in np.ravel(values[a.name]))) for a in case.args if a.domain == LABEL)


def symbolic_arrays(case: Case, sizes: Mapping[str, int], labels: Labels = ()) -> dict[str, np.ndarray]:
    """One real sympy symbol per input element (``X_1_0``), as object arrays of SymNum.

    Label arguments are data, not symbols: the given ``labels`` (flattened, by
    name), or every class in turn.
    """
    given = dict(labels)
    out = {}
    for arg in case.args:
        shape = resolve_shape(arg.shape, sizes)
        array = np.empty(shape, dtype=object)
        for flat, index in enumerate(np.ndindex(shape)):
            if arg.domain == LABEL:
                array[index] = SymNum(sympy.Integer(given[arg.name][flat] if arg.name in given else flat % sizes[arg.classes]))
            else:
                array[index] = SymNum(sympy.Symbol(arg.name + "".join(f"_{i}" for i in index), real=True))
        out[arg.name] = array
    return out


def flat_symbols(array: np.ndarray) -> list[sympy.Symbol]:
    return [to_sympy(s) for s in np.asarray(array, dtype=object).reshape(-1)]


def evaluate_primal(
    case: Case, arrays: Mapping[str, np.ndarray], params: Mapping[str, Any], region: Region
) -> list[sympy.Expr]:
    """The primal's output entries (flattened) on ``arrays``, on the given region."""
    token = _CURRENT_REGION.set(region)
    try:
        out = case.primal(SymbolicNamespace(region), *(arrays[a.name] for a in case.args), **params)
    finally:
        _CURRENT_REGION.reset(token)
    return [to_sympy(v) for v in np.asarray(out, dtype=object).reshape(-1)]


class _PrimalKey:
    """A case as a cache key: its primal and arguments.

    A case that differs only in its closed forms (a mutant, a user's draft) shares
    the primal's derivatives; a user's case need not be registered under its id.
    """

    __slots__ = ("case",)

    def __init__(self, case: Case) -> None:
        self.case = case

    def __hash__(self) -> int:
        return hash((self.case.primal, self.case.args))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PrimalKey) and self.case.primal is other.case.primal and self.case.args == other.case.args


def kink_keys(case: Case, sizes: Sizes, params: Params, labels: Labels = ()) -> tuple[sympy.Expr, ...]:
    """The kink expressions of a case's primal (what its max/``>`` compare with 0)."""
    return _kink_keys(_PrimalKey(case), sizes, params, labels)


@functools.cache
def _kink_keys(key: _PrimalKey, sizes: Sizes, params: Params, labels: Labels) -> tuple[sympy.Expr, ...]:
    region = Region(discover=True)
    evaluate_primal(key.case, symbolic_arrays(key.case, dict(sizes), labels), dict(params), region)
    return tuple(region.keys)


def regions(keys: tuple[sympy.Expr, ...]) -> list[RegionKey]:
    """All 2^k sign patterns of the kink expressions (one empty region if there are none)."""
    return [tuple(zip(keys, signs, strict=True)) for signs in itertools.product((1, 0), repeat=len(keys))]


def primal_jacobians(
    case: Case, sizes: Sizes, params: Params, region: RegionKey, labels: Labels = ()
) -> dict[str, np.ndarray]:
    """sympy's Jacobian of the primal, per differentiable argument: (out.size, arg.size) object arrays."""
    return _primal_jacobians(_PrimalKey(case), sizes, params, region, labels)


@functools.cache
def _primal_jacobians(
    key: _PrimalKey, sizes: Sizes, params: Params, region: RegionKey, labels: Labels
) -> dict[str, np.ndarray]:
    case = key.case
    arrays = symbolic_arrays(case, dict(sizes), labels)
    outputs = evaluate_primal(case, arrays, dict(params), Region(dict(region)))
    jacobians = {}
    for name in case.differentiable_args:
        syms = flat_symbols(arrays[name])
        jac = np.empty((len(outputs), len(syms)), dtype=object)
        for i, out in enumerate(outputs):
            for j, s in enumerate(syms):
                jac[i, j] = sympy.diff(out, s)
        jacobians[name] = jac
    return jacobians


def primal_hessian(case: Case, arg: str, sizes: Sizes, params: Params, region: RegionKey) -> np.ndarray:
    """sympy's second derivative of a scalar primal with respect to one argument: (arg.size, arg.size)."""
    return _primal_hessian(_PrimalKey(case), arg, sizes, params, region)


@functools.cache
def _primal_hessian(key: _PrimalKey, arg: str, sizes: Sizes, params: Params, region: RegionKey) -> np.ndarray:
    arrays = symbolic_arrays(key.case, dict(sizes))
    (output,) = evaluate_primal(key.case, arrays, dict(params), Region(dict(region)))
    syms = flat_symbols(arrays[arg])
    hess = np.empty((len(syms), len(syms)), dtype=object)
    for i, a in enumerate(syms):
        first = sympy.diff(output, a)
        for j, b in enumerate(syms):
            hess[i, j] = sympy.diff(first, b)
    return hess


def output_shape(case: Case, point: Point, sizes: Mapping[str, int]) -> tuple[int, ...]:
    """The case's output shape at these sizes and the point's parameters (a drawn axis)."""
    return case.output_shape(sizes, {name: getattr(point, name) for name in case.params})


def _evaluate_closed_form(partial: Any, point: Point) -> Any:
    """The closed form on ``point``; comparisons of symbols (a max's ties) follow the point's region."""
    token = _CURRENT_REGION.set(point.region) if isinstance(point, RegionPoint) else None
    try:
        with object_array_creation():
            return partial.closed_form(point)
    finally:
        if token is not None:
            _CURRENT_REGION.reset(token)


def closed_form_dense(
    case: Case,
    arg: str,
    point: Point,
    sizes: Mapping[str, int],
) -> np.ndarray:
    """The closed form evaluated on a symbolic ``point``: a dense (out.size, arg.size) array of sympy entries.

    Mirrors ``Partial.jacobian(...).dense()`` without its cast to float64.
    """
    partial = case.partials[arg]
    out_shape = output_shape(case, point, sizes)
    arg_shape = resolve_shape(case.arg(arg).shape, sizes)
    data = _evaluate_closed_form(partial, point)
    if partial.structure is Structure.IDENTITY:
        if data is not None:
            raise TypeError(f"{case.id} ∂/∂{arg}: an identity closed form must return None, not {type(data).__name__}")
        dense = np.eye(int(np.prod(arg_shape)), dtype=object) * 1
    else:
        data = np.broadcast_to(np.asarray(data, dtype=object), data_shape(partial.structure, out_shape, arg_shape))
        dense = StructuredJacobian(partial.structure, data, out_shape, arg_shape).dense()
    converted = np.empty(dense.shape, dtype=object)
    for index in np.ndindex(dense.shape):
        converted[index] = to_sympy(dense[index])
    return converted


def closed_form_data(case: Case, arg: str, point: Point, sizes: Mapping[str, int]) -> np.ndarray | None:
    """The closed form's structured data on ``point`` as an object array (None for the identity)."""
    partial = case.partials[arg]
    data = _evaluate_closed_form(partial, point)
    if data is None:
        return None
    shape = data_shape(partial.structure, output_shape(case, point, sizes), resolve_shape(case.arg(arg).shape, sizes))
    return np.broadcast_to(np.asarray(data, dtype=object), shape)


def kink_pivot(key: sympy.Expr) -> sympy.Symbol:
    """A symbol the kink expression is linear in with a constant coefficient (b, or w_i at a tie)."""
    for s in sorted(key.free_symbols, key=lambda s: s.name):
        coefficient = sympy.diff(key, s)
        if coefficient.is_number and coefficient != 0:
            return s
    raise ValueError(f"no pivot to put {key} on its kink")


def _on_a_kink(delta: sympy.Expr, keys: tuple[sympy.Expr, ...]) -> bool:
    """Whether DiracDelta(a, ...)'s support a = 0 lies inside the zero set of some kink expression."""
    argument = delta.args[0]
    try:
        pivot = kink_pivot(argument)
    except ValueError:
        return False
    roots = sympy.solve(argument, pivot)
    return bool(roots) and all(any(sympy.simplify(key.subs(pivot, root)) == 0 for key in keys) for root in roots)


def drop_kink_deltas(expr: sympy.Expr, keys: tuple[sympy.Expr, ...]) -> sympy.Expr:
    """``expr`` with every DiracDelta supported on a kink replaced by 0.

    sympy differentiates |a| twice to 2·DiracDelta(a) (‖x‖ at n = 1 is |x|).  On
    an open region of the kinks such a term is 0 where its support a = 0 lies on
    a kink (a = 0 implies some kink expression is 0); any other delta is kept,
    so a closed form that misses a real jump still fails.
    """
    deltas = {d: sympy.Integer(0) for d in expr.atoms(sympy.DiracDelta) if _on_a_kink(d, keys)}
    return expr.xreplace(deltas) if deltas else expr


# ------------------------------------------------------------------ oracles


def _exact_substitution(
    case: Case, sizes: Mapping[str, int], values: Mapping[str, np.ndarray]
) -> dict[sympy.Symbol, sympy.Rational]:
    arrays = symbolic_arrays(case, sizes)
    subs = {}
    for name, syms in arrays.items():
        if case.arg(name).domain == LABEL:  # concrete already
            continue
        for s, v in zip(flat_symbols(syms), np.asarray(values[name], dtype=np.float64).reshape(-1), strict=True):
            f = Fraction(float(v))
            subs[s] = sympy.Rational(f.numerator, f.denominator)
    return subs


def sympy_jacobian_at(
    case: Case, arg: str, values: Mapping[str, np.ndarray], params: Mapping[str, Any], t: float = 0.0
) -> np.ndarray:
    """The exact (out.size, arg.size) Jacobian of the primal at float64 ``values``, by sympy.

    Away from kinks it is the derivative on the region that contains the point.
    On a kink it is the mixture t·(limit from the positive side) + (1 - t)·(limit
    from the negative side): the member of the Clarke subdifferential with share t.
    """
    sizes = sizes_of(case, values)
    size_key = tuple(sorted(sizes.items()))
    param_key = tuple(sorted(params.items()))
    subs = _exact_substitution(case, sizes, values)
    labels = label_values(case, values)
    keys = kink_keys(case, size_key, param_key, labels)
    fixed, on_kink = {}, []
    for key in keys:
        value = key.subs(subs)
        if value > 0:
            fixed[key] = 1
        elif value < 0:
            fixed[key] = 0
        else:
            on_kink.append(key)
    share = sympy.Rational(Fraction(t).numerator, Fraction(t).denominator)
    total = None
    for sides in itertools.product((1, 0), repeat=len(on_kink)):
        weight = sympy.Integer(1)
        for side in sides:
            weight *= share if side == 1 else 1 - share
        region = {**fixed, **dict(zip(on_kink, sides, strict=True))}
        jac = primal_jacobians(case, size_key, param_key, tuple((k, region[k]) for k in keys), labels)[arg]
        term = np.vectorize(lambda e, w=weight: w * e.subs(subs), otypes=[object])(jac)
        total = term if total is None else total + term
    return total


def sympy_values(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float64 arrays as object arrays of SymNum holding the exact sympy Rationals."""
    out = {}
    for name, array in wrap_values(values, RatNum).items():
        converted = np.empty(array.shape, dtype=object)
        for index in np.ndindex(array.shape):
            converted[index] = SymNum(to_sympy(array[index]))
        out[name] = converted
    return out


def sympy_primal_at(case: Case, values: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> list[sympy.Expr]:
    """The primal's exact value at float64 ``values`` (flattened), by sympy."""
    return evaluate_primal(case, sympy_values(values), dict(params), Region())


def on_a_kink(case: Case, values: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> bool:
    """Whether float64 ``values`` lie exactly on a kink of the primal (a compared expression is 0)."""
    sizes = sizes_of(case, values)
    subs = _exact_substitution(case, sizes, values)
    keys = kink_keys(case, tuple(sorted(sizes.items())), tuple(sorted(params.items())), label_values(case, values))
    return any(key.subs(subs) == 0 for key in keys)


# ------------------------------------------------------------ exact closed forms


#: Digits of the mpmath evaluation of closed forms with sin/cos/log: its error (~1e-50) is far below a float64 ulp.
EXACT_DIGITS = 50


def exact_closed_form(
    case: Case, arg: str, sizes: Mapping[str, int], params: Mapping[str, Any], values: Mapping[str, np.ndarray], t: float
) -> tuple[np.ndarray | None, type[Num], Point]:
    """The closed form's structured data in exact arithmetic: (data, kind, exact point).

    Rationals (:class:`RatNum`) where the closed form is rational, else mpmath
    numbers (:class:`BigNum`); call it inside ``mpmath.workdps(EXACT_DIGITS)``.
    """
    for kind in (RatNum, BigNum):
        point = ExactPoint({**wrap_values(values, kind), **params}, t=t)
        try:
            return closed_form_data(case, arg, point, sizes), kind, point
        except Transcendental:
            continue
    raise AssertionError("unreachable: BigNum evaluates every closed form")


def exact_entry(value: Any, kind: type[Num]) -> Any:
    """An exact closed-form entry as a Fraction (RatNum) or an mpf (BigNum)."""
    if isinstance(value, Num):
        return value.v
    if isinstance(value, (float, np.floating)):
        value = recover_constant(float(value))
    else:
        value = Fraction(int(value))
    return value if kind is RatNum else mpmath.mpf(value.numerator) / value.denominator
