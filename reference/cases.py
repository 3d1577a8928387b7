"""THE case table: every catalog case, declared once.

Each row gives the primal (written once against an array namespace ``xp``; see
``oracles.protocol`` for the vocabulary it may use), and per differentiable
argument its closed form in numerator layout, its structure, and the magnitude
bounding its rounding error.  Closed forms are evaluated in float64 on a
:class:`~reference.spec.Point`; ``p.step(z, ...)`` is the Heaviside [z > 0] with
the subgradient share ``p.t`` at z = 0.

Rounding-error bookkeeping (``magnitude``/``ops``): a correct evaluation errs by
at most ``ops · u · magnitude`` per entry.  The magnitude is the sum of the
absolute values of the terms of the closed form, plus, where a function is
applied to a computed argument t, ``|t|`` times the function's derivative bound
(an error u·|t| in t moves cos t by up to u·|t|).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from verigrad.reference.families import FAMILY_CASES
from verigrad.reference.jacobian import Structure
from verigrad.reference.spec import NONZERO, TRANSCENDENTAL, Arg, Case, Kink, Partial, Point

S = Structure
T = TRANSCENDENTAL


def _exact(p: Point) -> float:
    """Magnitude of a closed form that a correct engine reproduces exactly."""
    return 0.0


def _const(value: float):
    return lambda p: value


# ---------------------------------------------------------------- kink helpers


def _affine_z(p: Point) -> tuple[np.ndarray, np.ndarray, float]:
    """z = w·x + b (or X w + b row-wise), its rounding magnitude and op count."""
    if hasattr(p, "X"):
        z = p.X @ p.w + p.b
        magnitude = np.abs(p.X) @ np.abs(p.w) + np.abs(p.b)
        return z, magnitude, p.w.size + 1
    z = p.w @ p.x + p.b
    return z, np.abs(p.w) @ np.abs(p.x) + np.abs(p.b), p.w.size + 1


def _active(p: Point) -> np.ndarray:
    z, magnitude, ops = _affine_z(p)
    return p.step(z, magnitude, ops)


def _integers(values: dict[str, np.ndarray], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Round the named arrays to small integers, so that every product and sum is exact."""
    out = dict(values)
    for name in names:
        out[name] = np.clip(np.round(out[name]), -8, 8).astype(out[name].dtype)
    return out


def _project_affine(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Put z = w·x + b exactly on 0: integer w, x and b = -w·x (exact in any order)."""
    out = _integers(values, ("w", "x"))
    out["b"] = np.asarray(-(out["w"] @ out["x"]), dtype=values["b"].dtype)
    return out


def _project_first_sample(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Put sample 0 of a batch exactly on the ReLU kink, the others where they fall."""
    out = _integers(values, ("w", "X"))
    out["b"] = np.asarray(-(out["X"][0] @ out["w"]), dtype=values["b"].dtype)
    return out


def _project_ties(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Tie every other element: x_i = w_i for even i."""
    out = dict(values)
    x = out["x"].copy()
    x[::2] = out["w"][::2]
    out["x"] = x
    return out


RELU_KINK = Kink(
    where="z = w·x + b = 0",
    subdifferential="∂max(0, z)/∂z ∈ [0, 1] at z = 0",
    locus=_affine_z,
    project=_project_affine,
    convention_note="The paper (§5) takes 0 at z = 0; any t ∈ [0, 1] is a valid subgradient.",
)

# --------------------------------------------------------------- loss helpers


def _loss_terms(p: Point):
    """Per-sample quantities of the ReLU-MSE loss: z, active mask, e = z - y, error scale."""
    z, z_magnitude, z_ops = _affine_z(p)
    active = p.step(z, z_magnitude, z_ops)
    scale = 2.0 / p.y.size
    e = z - p.y
    e_magnitude = z_magnitude + np.abs(p.y)
    return z, active, e, e_magnitude, scale


def _loss_ops(p: Point) -> float:
    return p.w.size + p.y.size + 6


def _hessian_ww(p: Point) -> np.ndarray:
    """∂²C/∂w² = (2/N) Σ_i [z_i > 0] x_i x_iᵀ (away from kinks)."""
    _, active, _, _, scale = _loss_terms(p)
    return scale * (p.X.T * active) @ p.X


def _hessian_wb(p: Point) -> np.ndarray:
    """∂²C/∂w∂b = (2/N) Σ_i [z_i > 0] x_i."""
    _, active, _, _, scale = _loss_terms(p)
    return scale * active @ p.X


def _hessian_bb(p: Point) -> np.ndarray:
    """∂²C/∂b² = (2/N) Σ_i [z_i > 0]."""
    _, active, _, _, scale = _loss_terms(p)
    return scale * np.sum(active)


def _hessian_magnitude(p: Point) -> np.ndarray:
    _, active, _, _, scale = _loss_terms(p)
    return scale * (np.abs(p.X).T * active) @ np.abs(p.X)


def _gd_step_primal(xp, w, b, X, y, *, eta):
    z = X @ w + b
    active = z > 0  # the ReLU's derivative; piecewise constant, so it carries no derivative
    g = active * (z - y) * (2 / y.shape[0])
    return xp.concat([w - eta * (g @ X), xp.stack([b - eta * xp.sum(g)])])


def _gd_step_dw(p: Point) -> np.ndarray:
    n = p.w.size
    return np.vstack([np.eye(n) - p.eta * _hessian_ww(p), -p.eta * _hessian_wb(p)[None, :]])


def _gd_step_dw_magnitude(p: Point) -> np.ndarray:
    n = p.w.size
    h = _hessian_magnitude(p)
    _, active, _, _, scale = _loss_terms(p)
    return np.vstack([np.eye(n) + p.eta * h, p.eta * scale * (active @ np.abs(p.X))[None, :]])


def _gd_step_db(p: Point) -> np.ndarray:
    return np.concatenate([-p.eta * _hessian_wb(p), [1.0 - p.eta * _hessian_bb(p)]])


def _gd_step_db_magnitude(p: Point) -> np.ndarray:
    _, active, _, _, scale = _loss_terms(p)
    return np.concatenate([p.eta * scale * (active @ np.abs(p.X)), [1.0 + p.eta * _hessian_bb(p)]])


def _relu_mse_primal(xp, w, b, X, y):
    a = xp.maximum(X @ w + b, xp.zeros_like(y))
    r = y - a
    return xp.sum(r * r) / y.shape[0]


# ------------------------------------------------------- matvec chain helpers


def _matvec_cos(p: Point) -> np.ndarray:
    return np.cos(p.W @ p.x)


def _matvec_argument_scale(p: Point) -> np.ndarray:
    """|cos t| + |t|_abs per row: the error an error u·(|W||x|) in t = W x makes in cos t."""
    return np.abs(_matvec_cos(p)) + np.abs(p.W) @ np.abs(p.x)


def _matvec_dW(p: Point) -> np.ndarray:
    m, n = p.W.shape
    out = np.zeros((m, m, n))
    out[np.arange(m), np.arange(m), :] = _matvec_cos(p)[:, None] * p.x[None, :]
    return out


def _matvec_dW_magnitude(p: Point) -> np.ndarray:
    m, n = p.W.shape
    out = np.zeros((m, m, n))
    out[np.arange(m), np.arange(m), :] = _matvec_argument_scale(p)[:, None] * np.abs(p.x)[None, :]
    return out


def _x_scalar(*, domain: str = "real") -> tuple[Arg, ...]:
    return (Arg("x", (), domain),)


_X = _x_scalar()


CASES: tuple[Case, ...] = (
    # ============================================================ §2 scalar rules
    Case(
        id="scalar.constant",
        section="§2",
        formula=r"y = c",
        args=(Arg("x"), Arg("c")),
        output=(),
        primal=lambda xp, x, c: c,
        partials={
            "x": Partial(S.SCALAR, _const(0.0), _exact, _const(0), r"\frac{dy}{dx} = 0"),
            "c": Partial(S.SCALAR, _const(1.0), _exact, _const(0), r"\frac{dy}{dc} = 1"),
        },
        second_derivatives={"x": _const(0.0)},
        notes="y does not depend on x at all: an engine must return an exact zero, not fail.",
    ),
    Case(
        id="scalar.multiple",
        section="§2",
        formula=r"y = c\,x^3",
        args=(Arg("x"), Arg("c")),
        output=(),
        primal=lambda xp, x, c: c * x**3,
        partials={
            "x": Partial(S.SCALAR, lambda p: 3 * p.c * p.x**2, lambda p: 3 * p.c * p.x**2, _const(5 + T), r"\frac{dy}{dx} = 3c\,x^2"),
            "c": Partial(S.SCALAR, lambda p: p.x**3, lambda p: p.x**3, _const(3 + T), r"\frac{dy}{dc} = x^3"),
        },
        second_derivatives={"x": lambda p: 6 * p.c * p.x},
    ),
    Case(
        id="scalar.power",
        section="§2",
        formula=r"y = x^n,\ n \in \{0, \dots, 8\}",
        args=_X,
        output=(),
        params={"n": tuple(range(9))},
        primal=lambda xp, x, *, n: x**n,
        partials={
            "x": Partial(
                S.SCALAR,
                lambda p: p.n * p.x ** max(p.n - 1, 0) if p.n else 0.0,
                lambda p: p.n * np.abs(p.x) ** max(p.n - 1, 0),
                lambda p: p.n + 2 + T,
                r"\frac{dy}{dx} = n\,x^{n-1}\ (0 \text{ for } n = 0)",
            )
        },
        second_derivatives={"x": lambda p: p.n * (p.n - 1) * p.x ** max(p.n - 2, 0) if p.n > 1 else 0.0},
        notes="At n = 0 the rule n·x^(n-1) evaluated literally is 0·x^(-1): NaN at x = 0. The derivative is 0.",
    ),
    Case(
        id="scalar.sum",
        section="§2",
        formula=r"y = x^2 + \sin x",
        args=_X,
        output=(),
        primal=lambda xp, x: x**2 + xp.sin(x),
        partials={
            "x": Partial(S.SCALAR, lambda p: 2 * p.x + np.cos(p.x), lambda p: 2 * np.abs(p.x) + np.abs(np.cos(p.x)), _const(3 + T), r"\frac{dy}{dx} = 2x + \cos x")
        },
        second_derivatives={"x": lambda p: 2 - np.sin(p.x)},
    ),
    Case(
        id="scalar.difference",
        section="§2",
        formula=r"y = x^2 - \sin x",
        args=_X,
        output=(),
        primal=lambda xp, x: x**2 - xp.sin(x),
        partials={
            "x": Partial(S.SCALAR, lambda p: 2 * p.x - np.cos(p.x), lambda p: 2 * np.abs(p.x) + np.abs(np.cos(p.x)), _const(3 + T), r"\frac{dy}{dx} = 2x - \cos x")
        },
        second_derivatives={"x": lambda p: 2 + np.sin(p.x)},
    ),
    Case(
        id="scalar.product",
        section="§2",
        formula=r"y = x^2 \sin x",
        args=_X,
        output=(),
        primal=lambda xp, x: x**2 * xp.sin(x),
        partials={
            "x": Partial(
                S.SCALAR,
                lambda p: 2 * p.x * np.sin(p.x) + p.x**2 * np.cos(p.x),
                lambda p: np.abs(2 * p.x * np.sin(p.x)) + np.abs(p.x**2 * np.cos(p.x)),
                _const(5 + T),
                r"\frac{dy}{dx} = 2x \sin x + x^2 \cos x",
            )
        },
        second_derivatives={"x": lambda p: 2 * np.sin(p.x) + 4 * p.x * np.cos(p.x) - p.x**2 * np.sin(p.x)},
    ),
    Case(
        id="scalar.chain",
        section="§4.5.1",
        formula=r"y = \sin(x^2)",
        args=_X,
        output=(),
        primal=lambda xp, x: xp.sin(x**2),
        partials={
            "x": Partial(
                S.SCALAR,
                lambda p: 2 * p.x * np.cos(p.x**2),
                lambda p: 2 * np.abs(p.x) * (np.abs(np.cos(p.x**2)) + p.x**2),
                _const(4 + T),
                r"\frac{dy}{dx} = 2x \cos(x^2)",
            )
        },
        second_derivatives={"x": lambda p: 2 * np.cos(p.x**2) - 4 * p.x**2 * np.sin(p.x**2)},
    ),
    Case(
        id="scalar.total_derivative",
        section="§4.5.2",
        formula=r"y = x + x^2",
        args=_X,
        output=(),
        primal=lambda xp, x: x + x**2,
        partials={"x": Partial(S.SCALAR, lambda p: 1 + 2 * p.x, lambda p: 1 + 2 * np.abs(p.x), _const(3), r"\frac{dy}{dx} = 1 + 2x")},
        second_derivatives={"x": _const(2.0)},
        notes="Two paths from x to y; the total derivative adds both exactly once (the paper's general formula counts one twice).",
    ),
    # ============================================== §3-§4 gradients and Jacobians
    Case(
        id="grad.f",
        section="§3",
        formula=r"f(x, y) = 3x^2 y",
        args=(Arg("x"), Arg("y")),
        output=(),
        primal=lambda xp, x, y: 3 * x**2 * y,
        partials={
            "x": Partial(S.SCALAR, lambda p: 6 * p.x * p.y, lambda p: 6 * p.x * p.y, _const(5), r"\frac{\partial f}{\partial x} = 6xy"),
            "y": Partial(S.SCALAR, lambda p: 3 * p.x**2, lambda p: 3 * p.x**2, _const(4), r"\frac{\partial f}{\partial y} = 3x^2"),
        },
        second_derivatives={"x": lambda p: 6 * p.y, "y": _const(0.0)},
    ),
    Case(
        id="grad.g",
        section="§4",
        formula=r"g(x, y) = 2x + y^8",
        args=(Arg("x"), Arg("y")),
        output=(),
        primal=lambda xp, x, y: 2 * x + y**8,
        partials={
            "x": Partial(S.SCALAR, _const(2.0), _const(2.0), _const(1), r"\frac{\partial g}{\partial x} = 2"),
            "y": Partial(S.SCALAR, lambda p: 8 * p.y**7, lambda p: 8 * p.y**7, _const(10 + T), r"\frac{\partial g}{\partial y} = 8y^7"),
        },
        second_derivatives={"x": _const(0.0), "y": lambda p: 56 * p.y**6},
    ),
    Case(
        id="jacobian.fg",
        section="§4",
        formula=r"\begin{bmatrix} f(x, y) \\ g(x, y) \end{bmatrix} = \begin{bmatrix} 3x^2 y \\ 2x + y^8 \end{bmatrix}",
        args=(Arg("x"), Arg("y")),
        output=(2,),
        primal=lambda xp, x, y: xp.stack([3 * x**2 * y, 2 * x + y**8]),
        partials={
            "x": Partial(S.COLUMN, lambda p: np.array([6 * p.x * p.y, 2.0]), lambda p: np.array([6 * p.x * p.y, 2.0]), _const(5), r"\frac{\partial}{\partial x} = \begin{bmatrix} 6xy \\ 2 \end{bmatrix}"),
            "y": Partial(S.COLUMN, lambda p: np.array([3 * p.x**2, 8 * p.y**7]), lambda p: np.array([3 * p.x**2, 8 * p.y**7]), _const(10 + T), r"\frac{\partial}{\partial y} = \begin{bmatrix} 3x^2 \\ 8y^7 \end{bmatrix}"),
        },
    ),
    Case(
        id="vector.identity",
        section="§4.1",
        formula=r"\mathbf{y} = \mathbf{x}",
        args=(Arg("x", ("n",)),),
        output=("n",),
        primal=lambda xp, x: x,
        partials={"x": Partial(S.IDENTITY, lambda p: None, _exact, _const(0), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = I")},
    ),
    # ===================================================== §4.2 element-wise ops
    Case(
        id="elementwise.add",
        section="§4.2",
        formula=r"\mathbf{y} = \mathbf{w} + \mathbf{x}",
        args=(Arg("w", ("n",)), Arg("x", ("n",))),
        output=("n",),
        primal=lambda xp, w, x: w + x,
        partials={
            "w": Partial(S.IDENTITY, lambda p: None, _exact, _const(0), r"\frac{\partial \mathbf{y}}{\partial \mathbf{w}} = I"),
            "x": Partial(S.IDENTITY, lambda p: None, _exact, _const(0), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = I"),
        },
    ),
    Case(
        id="elementwise.sub",
        section="§4.2",
        formula=r"\mathbf{y} = \mathbf{w} - \mathbf{x}",
        args=(Arg("w", ("n",)), Arg("x", ("n",))),
        output=("n",),
        primal=lambda xp, w, x: w - x,
        partials={
            "w": Partial(S.IDENTITY, lambda p: None, _exact, _const(0), r"\frac{\partial \mathbf{y}}{\partial \mathbf{w}} = I"),
            "x": Partial(S.DIAGONAL, _const(-1.0), _exact, _const(0), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = -I"),
        },
    ),
    Case(
        id="elementwise.mul",
        section="§4.2",
        formula=r"\mathbf{y} = \mathbf{w} \otimes \mathbf{x}",
        args=(Arg("w", ("n",)), Arg("x", ("n",))),
        output=("n",),
        primal=lambda xp, w, x: w * x,
        partials={
            "w": Partial(S.DIAGONAL, lambda p: p.x, lambda p: p.x, _const(1), r"\frac{\partial \mathbf{y}}{\partial \mathbf{w}} = \operatorname{diag}(\mathbf{x})"),
            "x": Partial(S.DIAGONAL, lambda p: p.w, lambda p: p.w, _const(1), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = \operatorname{diag}(\mathbf{w})"),
        },
    ),
    Case(
        id="elementwise.div",
        section="§4.2",
        formula=r"\mathbf{y} = \mathbf{w} \oslash \mathbf{x}",
        args=(Arg("w", ("n",)), Arg("x", ("n",), NONZERO)),
        output=("n",),
        primal=lambda xp, w, x: w / x,
        partials={
            "w": Partial(S.DIAGONAL, lambda p: 1 / p.x, lambda p: 1 / p.x, _const(2), r"\frac{\partial \mathbf{y}}{\partial \mathbf{w}} = \operatorname{diag}(1/\mathbf{x})"),
            "x": Partial(S.DIAGONAL, lambda p: -p.w / p.x**2, lambda p: p.w / p.x**2, _const(5), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = \operatorname{diag}(-\mathbf{w}/\mathbf{x}^2)"),
        },
    ),
    Case(
        id="elementwise.max",
        section="§4.2",
        formula=r"\mathbf{y} = \max(\mathbf{w}, \mathbf{x})",
        args=(Arg("w", ("n",)), Arg("x", ("n",))),
        output=("n",),
        primal=lambda xp, w, x: xp.maximum(w, x),
        partials={
            "w": Partial(S.DIAGONAL, lambda p: p.step(p.w - p.x), _const(1.0), _const(1), r"\frac{\partial \mathbf{y}}{\partial \mathbf{w}} = \operatorname{diag}([\mathbf{w} > \mathbf{x}])"),
            "x": Partial(S.DIAGONAL, lambda p: 1.0 - p.step(p.w - p.x), _const(1.0), _const(1), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = \operatorname{diag}([\mathbf{x} > \mathbf{w}])"),
        },
        kink=Kink(
            where="ties w_i = x_i",
            subdifferential="(∂/∂w_i, ∂/∂x_i) ∈ {(t, 1 - t) : t ∈ [0, 1]}",
            # The sign of w - x is exact in floating point, so ties need no blur.
            locus=lambda p: (p.w - p.x, 0.0, 0),
            project=_project_ties,
            convention_note="The Clarke subdifferential at a tie: any split (t, 1-t) with t ∈ [0, 1]; mass must be 1.",
        ),
    ),
    # =================================================== §4.3 scalar expansion
    Case(
        id="scalar_expansion.add",
        section="§4.3",
        formula=r"\mathbf{y} = \mathbf{x} + z",
        args=(Arg("x", ("n",)), Arg("z")),
        output=("n",),
        primal=lambda xp, x, z: x + z,
        partials={
            "x": Partial(S.IDENTITY, lambda p: None, _exact, _const(0), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = I"),
            "z": Partial(S.COLUMN, _const(1.0), _const(1.0), _const(0), r"\frac{\partial \mathbf{y}}{\partial z} = \vec{1}"),
        },
        notes="A VJP through z must sum the cotangent over the broadcast axis.",
    ),
    Case(
        id="scalar_expansion.sub",
        section="§4.3",
        formula=r"\mathbf{y} = \mathbf{x} - z",
        args=(Arg("x", ("n",)), Arg("z")),
        output=("n",),
        primal=lambda xp, x, z: x - z,
        partials={
            "x": Partial(S.IDENTITY, lambda p: None, _exact, _const(0), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = I"),
            "z": Partial(S.COLUMN, _const(-1.0), _const(1.0), _const(0), r"\frac{\partial \mathbf{y}}{\partial z} = -\vec{1}"),
        },
    ),
    Case(
        id="scalar_expansion.mul",
        section="§4.3",
        formula=r"\mathbf{y} = \mathbf{x}\, z",
        args=(Arg("x", ("n",)), Arg("z")),
        output=("n",),
        primal=lambda xp, x, z: x * z,
        partials={
            "x": Partial(S.DIAGONAL, lambda p: p.z, lambda p: p.z, _const(1), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = z I"),
            "z": Partial(S.COLUMN, lambda p: p.x, lambda p: p.x, _const(1), r"\frac{\partial \mathbf{y}}{\partial z} = \mathbf{x}"),
        },
    ),
    Case(
        id="scalar_expansion.div",
        section="§4.3",
        formula=r"\mathbf{y} = \mathbf{x} / z",
        args=(Arg("x", ("n",)), Arg("z", (), NONZERO)),
        output=("n",),
        primal=lambda xp, x, z: x / z,
        partials={
            "x": Partial(S.DIAGONAL, lambda p: 1 / p.z, lambda p: 1 / p.z, _const(2), r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = I / z"),
            "z": Partial(S.COLUMN, lambda p: -p.x / p.z**2, lambda p: p.x / p.z**2, _const(5), r"\frac{\partial \mathbf{y}}{\partial z} = -\mathbf{x} / z^2"),
        },
    ),
    # ============================================================ §4.4 reductions
    Case(
        id="reduction.sum",
        section="§4.4",
        formula=r"y = \operatorname{sum}(\mathbf{x})",
        args=(Arg("x", ("n",)),),
        output=(),
        primal=lambda xp, x: xp.sum(x),
        partials={"x": Partial(S.ROW, _const(1.0), _const(1.0), _const(0), r"\frac{\partial y}{\partial \mathbf{x}} = \vec{1}^T")},
    ),
    Case(
        id="reduction.sum_scaled",
        section="§4.4",
        formula=r"y = \operatorname{sum}(\mathbf{x}\, z)",
        args=(Arg("x", ("n",)), Arg("z")),
        output=(),
        primal=lambda xp, x, z: xp.sum(x * z),
        partials={
            "x": Partial(S.ROW, lambda p: np.full(p.x.shape, p.z), lambda p: np.full(p.x.shape, p.z), _const(1), r"\frac{\partial y}{\partial \mathbf{x}} = z \vec{1}^T"),
            "z": Partial(S.SCALAR, lambda p: np.sum(p.x), lambda p: np.sum(np.abs(p.x)), lambda p: p.x.size + 1, r"\frac{\partial y}{\partial z} = \operatorname{sum}(\mathbf{x})"),
        },
    ),
    Case(
        id="reduction.dot",
        section="§5",
        formula=r"y = \mathbf{w} \cdot \mathbf{x}",
        args=(Arg("w", ("n",)), Arg("x", ("n",))),
        output=(),
        primal=lambda xp, w, x: w @ x,
        partials={
            "w": Partial(S.ROW, lambda p: p.x, lambda p: p.x, _const(1), r"\frac{\partial y}{\partial \mathbf{w}} = \mathbf{x}^T"),
            "x": Partial(S.ROW, lambda p: p.w, lambda p: p.w, _const(1), r"\frac{\partial y}{\partial \mathbf{x}} = \mathbf{w}^T"),
        },
    ),
    # ====================================================== §4.5.3 vector chain
    Case(
        id="chain.vector",
        section="§4.5.3",
        formula=r"\mathbf{y} = \begin{bmatrix} \ln(x^2) \\ \sin(3x) \end{bmatrix}",
        args=_x_scalar(domain=NONZERO),
        output=(2,),
        primal=lambda xp, x: xp.stack([xp.log(x**2), xp.sin(3 * x)]),
        partials={
            "x": Partial(
                S.COLUMN,
                lambda p: np.array([2 / p.x, 3 * np.cos(3 * p.x)]),
                lambda p: np.array([2 / np.abs(p.x), 3 * (np.abs(np.cos(3 * p.x)) + 3 * np.abs(p.x))]),
                _const(5 + T),
                r"\frac{\partial \mathbf{y}}{\partial x} = \begin{bmatrix} 2/x \\ 3\cos(3x) \end{bmatrix}",
            )
        },
    ),
    Case(
        id="chain.matvec_sin",
        section="§4.5.3",
        formula=r"\mathbf{y} = \sin(W \mathbf{x}),\ W \in \mathbb{R}^{m \times n}",
        args=(Arg("W", ("m", "n")), Arg("x", ("n",))),
        output=("m",),
        primal=lambda xp, W, x: xp.sin(W @ x),
        partials={
            "W": Partial(S.DENSE, _matvec_dW, _matvec_dW_magnitude, lambda p: p.x.size + 3 + T, r"\frac{\partial y_k}{\partial W_{kl}} = \cos((W\mathbf{x})_k)\, x_l"),
            "x": Partial(
                S.DENSE,
                lambda p: _matvec_cos(p)[:, None] * p.W,
                lambda p: _matvec_argument_scale(p)[:, None] * np.abs(p.W),
                lambda p: p.x.size + 3 + T,
                r"\frac{\partial \mathbf{y}}{\partial \mathbf{x}} = \operatorname{diag}(\cos(W\mathbf{x}))\, W",
            ),
        },
        notes="m ≠ n: the non-square Jacobian is what exposes a transposed (denominator-layout) answer.",
    ),
    # ============================================================== §5 the neuron
    Case(
        id="neuron.affine",
        section="§5",
        formula=r"z = \mathbf{w} \cdot \mathbf{x} + b",
        args=(Arg("w", ("n",)), Arg("x", ("n",)), Arg("b")),
        output=(),
        primal=lambda xp, w, x, b: w @ x + b,
        partials={
            "w": Partial(S.ROW, lambda p: p.x, lambda p: p.x, _const(1), r"\frac{\partial z}{\partial \mathbf{w}} = \mathbf{x}^T"),
            "x": Partial(S.ROW, lambda p: p.w, lambda p: p.w, _const(1), r"\frac{\partial z}{\partial \mathbf{x}} = \mathbf{w}^T"),
            "b": Partial(S.SCALAR, _const(1.0), _const(1.0), _const(0), r"\frac{\partial z}{\partial b} = 1"),
        },
    ),
    Case(
        id="neuron.relu",
        section="§5",
        formula=r"a = \max(0, z)",
        args=(Arg("z"),),
        output=(),
        primal=lambda xp, z: xp.maximum(z, xp.zeros_like(z)),
        partials={"z": Partial(S.SCALAR, lambda p: p.step(p.z), _const(1.0), _const(1), r"\frac{da}{dz} = [z > 0]")},
        kink=Kink(
            where="z = 0",
            subdifferential="∂max(0, z)/∂z ∈ [0, 1] at z = 0",
            locus=lambda p: (p.z, 0.0, 0),
            project=lambda values: {**values, "z": np.zeros_like(values["z"])},
            convention_note="The paper (§5) takes 0 at z = 0; any t ∈ [0, 1] is a valid subgradient.",
        ),
    ),
    Case(
        id="neuron.activation",
        section="§5",
        formula=r"a = \max(0, \mathbf{w} \cdot \mathbf{x} + b)",
        args=(Arg("w", ("n",)), Arg("x", ("n",)), Arg("b")),
        output=(),
        primal=lambda xp, w, x, b: xp.maximum(w @ x + b, xp.zeros_like(b)),
        partials={
            "w": Partial(S.ROW, lambda p: _active(p) * p.x, lambda p: p.x, _const(1), r"\frac{\partial a}{\partial \mathbf{w}} = [z > 0]\, \mathbf{x}^T"),
            "x": Partial(S.ROW, lambda p: _active(p) * p.w, lambda p: p.w, _const(1), r"\frac{\partial a}{\partial \mathbf{x}} = [z > 0]\, \mathbf{w}^T"),
            "b": Partial(S.SCALAR, _active, _const(1.0), _const(1), r"\frac{\partial a}{\partial b} = [z > 0]"),
        },
        kink=RELU_KINK,
    ),
    # ================================================================ §6 the loss
    Case(
        id="loss.relu_mse",
        section="§6",
        formula=r"C = \frac{1}{N} \sum_i \left(y_i - \max(0, \mathbf{w} \cdot \mathbf{x}_i + b)\right)^2",
        args=(Arg("w", ("n",)), Arg("b"), Arg("X", ("N", "n")), Arg("y", ("N",))),
        output=(),
        primal=_relu_mse_primal,
        partials={
            "w": Partial(
                S.ROW,
                lambda p: (lambda z, s, e, em, k: k * (s * e) @ p.X)(*_loss_terms(p)),
                lambda p: (lambda z, s, e, em, k: k * (s * em) @ np.abs(p.X))(*_loss_terms(p)),
                _loss_ops,
                r"\frac{\partial C}{\partial \mathbf{w}} = \frac{2}{N} \sum_i [z_i > 0]\, e_i\, \mathbf{x}_i^T",
            ),
            "b": Partial(
                S.SCALAR,
                lambda p: (lambda z, s, e, em, k: k * np.sum(s * e))(*_loss_terms(p)),
                lambda p: (lambda z, s, e, em, k: k * np.sum(s * em))(*_loss_terms(p)),
                _loss_ops,
                r"\frac{\partial C}{\partial b} = \frac{2}{N} \sum_i [z_i > 0]\, e_i",
            ),
            "X": Partial(
                S.ROW,
                lambda p: (lambda z, s, e, em, k: k * (s * e)[:, None] * p.w[None, :])(*_loss_terms(p)),
                lambda p: (lambda z, s, e, em, k: k * (s * em)[:, None] * np.abs(p.w)[None, :])(*_loss_terms(p)),
                _loss_ops,
                r"\frac{\partial C}{\partial \mathbf{x}_i} = \frac{2}{N} [z_i > 0]\, e_i\, \mathbf{w}^T",
            ),
            "y": Partial(
                S.ROW,
                lambda p: (lambda z, s, e, em, k: k * (p.y - s * z))(*_loss_terms(p)),
                lambda p: (lambda z, s, e, em, k: k * (np.abs(p.y) + s * em))(*_loss_terms(p)),
                _loss_ops,
                r"\frac{\partial C}{\partial y_i} = \frac{2}{N} (y_i - a_i)",
            ),
        },
        kink=Kink(
            where="z_i = w·x_i + b = 0 for some sample i",
            subdifferential="sample i contributes t·(2/N) e_i x_i with t ∈ [0, 1]",
            locus=lambda p: _affine_z(p),
            project=_project_first_sample,
            convention_note="The paper's final forms (§6.1, §6.2) drop [z_i > 0] altogether: see the errata.",
        ),
        second_derivatives={"w": _hessian_ww},
        notes="e_i = z_i - y_i. The per-sample condition [z_i > 0] stays inside the sum.",
    ),
    Case(
        id="loss.gd_step",
        section="§6.1",
        formula=r"(\mathbf{w}, b) \mapsto \left(\mathbf{w} - \eta \frac{\partial C}{\partial \mathbf{w}},\ b - \eta \frac{\partial C}{\partial b}\right)",
        args=(Arg("w", ("n",)), Arg("b"), Arg("X", ("N", "n"), differentiable=False), Arg("y", ("N",), differentiable=False)),
        output=("n+1",),
        params={"eta": (0.125, 0.5)},
        primal=_gd_step_primal,
        partials={
            "w": Partial(
                S.DENSE,
                _gd_step_dw,
                _gd_step_dw_magnitude,
                _loss_ops,
                r"\frac{\partial (\mathbf{w}', b')}{\partial \mathbf{w}} = \begin{bmatrix} I - \eta \frac{\partial^2 C}{\partial \mathbf{w}^2} \\ -\eta \frac{\partial^2 C}{\partial b \partial \mathbf{w}} \end{bmatrix}",
            ),
            "b": Partial(
                S.COLUMN,
                _gd_step_db,
                _gd_step_db_magnitude,
                _loss_ops,
                r"\frac{\partial (\mathbf{w}', b')}{\partial b} = \begin{bmatrix} -\eta \frac{\partial^2 C}{\partial \mathbf{w} \partial b} \\ 1 - \eta \frac{\partial^2 C}{\partial b^2} \end{bmatrix}",
            ),
        },
        kink=Kink(
            where="z_i = w·x_i + b = 0 for some sample i (the step jumps there)",
            subdifferential="the Jacobian of either side: sample i's Hessian term weighted by t ∈ [0, 1]",
            locus=lambda p: _affine_z(p),
            project=_project_first_sample,
        ),
        notes="The Jacobian of a gradient step is I - η·Hessian (the loss's, loss.relu_mse's second derivative): "
        "this case checks second derivatives through an engine.",
    ),
)


# The families beyond the seed, appended under their own id prefixes (reference/families.py).
CASES = CASES + FAMILY_CASES

CASES_BY_ID: dict[str, Case] = {case.id: case for case in CASES}
if len(CASES_BY_ID) != len(CASES):
    raise RuntimeError("duplicate case ids in the case table")


def get_case(case_id: str) -> Case:
    """The case with this id; a KeyError naming the known ids otherwise."""
    try:
        return CASES_BY_ID[case_id]
    except KeyError:
        raise KeyError(f"unknown case {case_id!r}; known: {', '.join(CASES_BY_ID)}") from None


def register(cases: Iterable[Case]) -> None:
    """Make cases from outside the catalog (a user's own, ``--catalog``) known to :func:`get_case`."""
    for case in cases:
        known = CASES_BY_ID.get(case.id)
        if known is not None and known is not case:
            raise ValueError(f"case id {case.id!r} is already taken by another case")
        CASES_BY_ID[case.id] = case
