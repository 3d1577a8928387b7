"""The vocabulary of the case table: arguments, partial derivatives, kinks, cases.

A :class:`Case` holds one catalog entry's whole story: the primal (written once,
against an array namespace ``xp``), one :class:`Partial` per differentiable
argument with its closed form in numerator layout and the magnitude that bounds
its rounding error, the input domain, the kink locus with its subdifferential,
and the paper's section it comes from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verigrad.reference.jacobian import Structure, StructuredJacobian, data_shape
from verigrad.reference.shapes import resolve_shape, symbols

#: How many roundings (units of u) a library sin/cos/log/pow call counts for in
#: the error analysis.  glibc's libm, SLEEF (PyTorch) and XLA's CPU polynomial
#: kernels document maximum errors of 1 to 4 ulp for these functions in float32
#: and float64; one ulp of a value v is at most 2u·|v|, so 4 ulp is 8 roundings.
TRANSCENDENTAL = 8

#: Input domains a case may ask for.  ``nonzero`` keeps values away from 0 by
#: ``NONZERO_MIN_ABS`` so that divisors and logarithms stay well conditioned;
#: ``positive`` is the same magnitudes with a + sign (sqrt, log); ``label`` is an
#: integer class index in [0, size of the arg's ``classes`` symbol), never
#: differentiated (the labels of a classification loss).
REAL = "real"
NONZERO = "nonzero"
POSITIVE = "positive"
LABEL = "label"
DOMAINS = (REAL, NONZERO, POSITIVE, LABEL)
NONZERO_MIN_ABS = 0.125


@dataclass(frozen=True)
class Arg:
    """One input of a case.

    ``shape`` uses symbolic sizes (``"n"``, ``"m"``, ``"N"``) or integers; ``()``
    is a scalar.  Non-differentiable arguments (data such as ``X`` in a gradient
    step) are passed to the primal but have no closed form.
    """

    name: str
    shape: tuple[str | int, ...] = ()
    domain: str = REAL
    differentiable: bool = True
    classes: str | None = None  # label args: the size symbol counting the classes

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"arg {self.name!r}: unknown domain {self.domain!r}")
        if (self.domain == LABEL) != (self.classes is not None) or (self.domain == LABEL and self.differentiable):
            raise ValueError(f"arg {self.name!r}: a label arg names its classes symbol and is not differentiable")


class Point:
    """The arrays and parameters of one input, as float64, by argument name.

    ``t`` is the subgradient share chosen at a kink (see :class:`Kink`), ``u`` the
    unit roundoff under which a kink variable counts as zero: ``u = 0`` gives the
    exact closed form.
    """

    def __init__(
        self, values: Mapping[str, Any], t: float = 0.0, u: float = 0.0
    ) -> None:
        self._values = dict(values)
        self.t = float(t)
        self.u = float(u)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def at_share(self, t: float) -> Point:
        """The same point with subgradient share ``t`` (the ends of a kink's segment are t = 0 and 1)."""
        return Point(self._values, t=t, u=self.u)

    def step(self, z: np.ndarray, magnitude: Any = 0.0, ops: float = 0.0) -> np.ndarray:
        """Heaviside [z > 0], equal to ``t`` where z is zero.

        Where the rounding error of computing z (``ops·u·magnitude``) could flip
        its sign, the point counts as on the kink too: an engine evaluating z in
        floating point may legitimately land on either side.
        """
        z = np.asarray(z, dtype=np.float64)
        blur = ops * self.u * np.asarray(magnitude, dtype=np.float64)
        return np.where(np.abs(z) <= blur, self.t, (z > 0).astype(np.float64))


@dataclass(frozen=True)
class Partial:
    """The closed-form derivative of a case with respect to one argument.

    ``closed_form(p)`` returns the structured data (None for the identity);
    ``magnitude(p)`` returns non-negative values of the same shape such that a
    correct evaluation in a precision with unit roundoff u errs by at most
    ``ops(p) · u · magnitude(p)`` per entry (first order; the harness adds the
    accumulation of a VJP/JVP on top).  ``share``: each VJP entry is the cotangent
    times an exact quotient (a mean's 1/N), a rounding or two from exact values, so
    near zero it may lose only what those roundings may in a format with gradual
    underflow, not what a chain whose early underflow later factors amplify may.
    ``ones_jvp``: the JVP along the all-ones tangent of this argument, the same at
    every point and under every convention at a kink, because the case commutes
    with adding one constant to every element (a max, min, mean or logsumexp: 1;
    a softmax, log-softmax or cross-entropy of logits, which ignore it: 0).
    A correct forward mode forms it from terms no larger than its own, however
    many elements there are, so the scale checks probe it where the magnitudes
    screen every other JVP out (many ties in float16).
    """

    structure: Structure
    closed_form: Callable[[Point], np.ndarray | None]
    magnitude: Callable[[Point], Any]
    ops: Callable[[Point], float]
    latex: str
    share: bool = False
    ones_jvp: float | None = None

    def jacobian(self, point: Point, out_shape: tuple[int, ...], arg_shape: tuple[int, ...]) -> StructuredJacobian:
        """The structured Jacobian at ``point``."""
        data = self.closed_form(point)
        if data is not None:
            data = np.broadcast_to(np.asarray(data, dtype=np.float64), data_shape(self.structure, out_shape, arg_shape)).copy()
        return StructuredJacobian(self.structure, data, out_shape, arg_shape)

    def magnitude_jacobian(self, point: Point, out_shape: tuple[int, ...], arg_shape: tuple[int, ...]) -> StructuredJacobian:
        """The rounding-error magnitudes as a structured Jacobian (identity: zeros)."""
        if self.structure is Structure.IDENTITY:
            return StructuredJacobian(Structure.DIAGONAL, np.zeros(arg_shape), out_shape, arg_shape)
        data = np.broadcast_to(
            np.abs(np.asarray(self.magnitude(point), dtype=np.float64)),
            data_shape(self.structure, out_shape, arg_shape),
        ).copy()
        return StructuredJacobian(self.structure, data, out_shape, arg_shape)



@dataclass(frozen=True)
class Kink:
    """Where a case is not differentiable, and what a correct engine may return there.

    ``locus(p)`` returns ``(z, magnitude, ops)``: the kink variable (the case is
    at a kink where z == 0) and the rounding-error scale of computing it.
    ``project(values)`` moves a drawn input exactly onto the kink (for example
    ties ``w_i = x_i``), in a way that is exact in any floating-point order of
    evaluation.  The subdifferential is described by the share ``t ∈ [0, 1]``
    passed to the closed forms as ``Point.t``: every value in it is correct,
    and which one an engine picks is its convention.
    """

    where: str
    subdifferential: str
    locus: Callable[[Point], tuple[Any, Any, float]]
    project: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    convention_note: str = ""
    #: Where the subdifferential is not a segment (a k-way tie: a simplex; the
    #: 2-norm at 0: a ball), the member closest to an engine's result:
    #: ``nearest(point, arg, kind, probe, engine_value)`` with kind "vjp" or
    #: "jvp" and the probe its cotangent or tangent.  None: the segment between
    #: the closed forms at t = 0 and t = 1, as the harness fits it.
    nearest: Callable[[Point, str, str, np.ndarray, np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class Case:
    """One catalog entry: primal, closed forms, structure, domain, kink, section."""

    id: str
    section: str
    formula: str
    args: tuple[Arg, ...]
    output: tuple[str | int, ...]
    primal: Callable[..., Any]
    partials: Mapping[str, Partial]
    params: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    kink: Kink | None = None
    second_derivatives: Mapping[str, Callable[[Point], np.ndarray]] = field(default_factory=dict)
    notes: str = ""
    #: Optional vocabulary the primal calls (``oracles.protocol.OPTIONAL_VOCABULARY``, e.g. "norm"):
    #: an engine whose namespace lacks one skips the case, saying so.
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [a.name for a in self.args]
        differentiable = {a.name for a in self.args if a.differentiable}
        if set(self.partials) != differentiable:
            raise ValueError(
                f"case {self.id}: partials {sorted(self.partials)} must cover exactly the "
                f"differentiable args {sorted(differentiable)}"
            )
        if len(set(names)) != len(names):
            raise ValueError(f"case {self.id}: duplicate argument names {names}")

    def output_shape(self, sizes: Mapping[str, int], params: Mapping[str, Any] | None = None) -> tuple[int, ...]:
        """The concrete output shape.  Its dims may use integer parameters too (a drawn ``axis``)."""
        shape_params = {k: int(v) for k, v in (params or {}).items() if isinstance(v, (int, np.integer))}
        missing = (symbols(self.output) & set(self.params)) - set(shape_params)
        if missing:
            raise ValueError(f"case {self.id}: its output shape needs the parameters {sorted(missing)}")
        return resolve_shape(self.output, {**sizes, **shape_params})

    def size_symbols(self) -> set[str]:
        """The size names (n, m, N, ...) the case's shapes use; parameters are not sizes."""
        names: set[str] = set()
        for shape in [a.shape for a in self.args] + [self.output]:
            names |= symbols(shape)
        return names - set(self.params)

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    @property
    def differentiable_args(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args if a.differentiable)

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(f"case {self.id} has no argument {name!r} (has {self.arg_names})")

    def bind(self, xp: Any, **params: Any) -> Callable[..., Any]:
        """The primal as a function of the arrays only, evaluated in namespace ``xp``."""
        primal = self.primal

        def fn(*arrays: Any) -> Any:
            return primal(xp, *arrays, **params)

        fn.__name__ = self.id.replace(".", "_")
        fn.__qualname__ = fn.__name__
        return fn

    def aliasable_pairs(self) -> tuple[tuple[str, str], ...]:
        """Pairs of differentiable arguments of one shape: one array may be passed as both.

        The total derivative through both is then the sum of the two partials (§4.5.2).
        """
        diff = [a for a in self.args if a.differentiable]
        return tuple(
            (a.name, b.name)
            for i, a in enumerate(diff)
            for b in diff[i + 1 :]
            if a.shape == b.shape
        )
