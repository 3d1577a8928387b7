"""The paper's errata, as data: what the paper (the seed document) says, what is right, and an input that tells them apart.

Each :class:`Erratum` names the case and argument of the reference it contradicts,
implements the paper's wrong formula in numpy (``wrong(point)``, on the same
:class:`~reference.spec.Point` the closed forms take), and carries a
counterexample: float64 inputs where the wrong formula and the reference differ
far beyond rounding.  :func:`demonstrate` evaluates both there.

What ``right`` is compared with, per erratum (``compare``):

* ``"data"``: the reference closed form's structured data (``Partial.jacobian(...).data``);
* ``"dense"``: its dense numerator-layout Jacobian (when the paper's object has another shape);
* ``"primal"``: the case's primal value (when the paper mistakes a derivative for a value).

Sections and quotes are the paper's (``seed/000_3ba8d4054b30c47d.txt``).  Only errata
that a numeric counterexample demonstrates are listed; the paper's purely
notational slips are not (see the module's tests and the project report).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from verigrad.reference.cases import get_case
from verigrad.reference.jacobian import StructuredJacobian
from verigrad.reference.spec import Point

__all__ = ["ERRATA", "ERRATA_BY_ID", "Erratum", "demonstrate"]

U64 = 2.0**-53

#: Roundings granted to a primal value when an erratum compares against one.
_PRIMAL_OPS = 64

COMPARE_KINDS = ("data", "dense", "primal")


@dataclass(frozen=True, eq=False)
class Erratum:
    """One mistake of the paper, with the reference it contradicts and a counterexample.

    ``wrong_statement`` quotes the paper (briefly, LaTeX or Chinese as written);
    ``right_statement`` says what holds.  ``wrong(point)`` is the paper's formula
    in numpy.  ``counterexample`` holds float64 input arrays by argument name,
    ``params`` the case parameters, ``t`` the subgradient share the reference is
    evaluated with (it matters only on a kink).  ``precondition`` says in words
    where the wrong formula fails, so that other inputs can be drawn there.
    """

    id: str
    section: str
    wrong_statement: str
    right_statement: str
    case_id: str
    arg: str | None
    wrong: Callable[[Point], np.ndarray]
    counterexample: Mapping[str, np.ndarray]
    precondition: str
    params: Mapping[str, Any] = field(default_factory=dict)
    t: float = 0.0
    compare: str = "data"

    def __post_init__(self) -> None:
        case = get_case(self.case_id)
        if self.compare not in COMPARE_KINDS:
            raise ValueError(f"erratum {self.id}: compare must be one of {COMPARE_KINDS}")
        if (self.arg is None) != (self.compare == "primal"):
            raise ValueError(f"erratum {self.id}: a primal comparison has no arg, a derivative one needs one")
        if self.arg is not None and self.arg not in case.partials:
            raise ValueError(f"erratum {self.id}: case {self.case_id} has no partial {self.arg!r}")
        missing = set(case.arg_names) - set(self.counterexample)
        if missing:
            raise ValueError(f"erratum {self.id}: counterexample lacks {sorted(missing)}")


def _f64(*values: Any) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _scalar(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float64)


# ---------------------------------------------------- the paper's formulas


def _paper_loss_dw_unconditional(p: Point) -> np.ndarray:
    """§6.1 final form: (2/N) Σ_i e_i x_iᵀ with e_i = w·x_i + b − y_i, no [z_i > 0]."""
    e = p.X @ p.w + p.b - p.y
    return (2.0 / p.y.size) * (e @ p.X)


def _paper_loss_db_unconditional(p: Point) -> np.ndarray:
    """§6.2 final form: (2/N) Σ_i e_i, no [z_i > 0]."""
    e = p.X @ p.w + p.b - p.y
    return np.asarray((2.0 / p.y.size) * np.sum(e))


def _paper_activation_db_as_vector(p: Point) -> np.ndarray:
    """§5, first version: ∂activation/∂b = 0ᵀ for z ≤ 0, xᵀ for z > 0 (a vector)."""
    z = p.w @ p.x + p.b
    return np.where(z > 0, 1.0, 0.0) * p.x


def _paper_total_derivative_double_count(p: Point) -> np.ndarray:
    """§4.5.2's general formula on y = x + x² (u₁ = x², f = x + u₁): the u₁ path twice."""
    df_dx, df_du1, du1_dx = 1.0, 1.0, 2.0 * p.x
    return np.asarray(df_dx + df_du1 * du1_dx + df_du1 * du1_dx)


def _paper_jw_last_entry_wrt_x(p: Point) -> np.ndarray:
    """§4.2's simplified ∂y/∂w for y = w ⊗ x: ∂/∂w_i (w_i x_i) = x_i, but the last entry ∂/∂x_n (w_n x_n) = w_n."""
    diagonal = np.array(p.x, dtype=np.float64, copy=True)
    diagonal[-1] = p.w[-1]
    return diagonal


def _paper_dot_jacobian_diag(p: Point) -> np.ndarray:
    """§5: u = w·x with ∂u/∂w = diag(x), an n×n matrix."""
    return np.diag(p.x)


def _paper_power_rule_literal(p: Point) -> np.ndarray:
    """§2's n·x^(n−1), evaluated as written (float64 power, no special case for n = 0)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(p.n * np.asarray(p.x, dtype=np.float64) ** (p.n - 1.0))


def _paper_activation_dw_zero_at_kink(p: Point) -> np.ndarray:
    """§5: ∂activation/∂w = 0ᵀ for w·x + b ≤ 0 (z = 0 included), xᵀ for z > 0."""
    z = p.w @ p.x + p.b
    return np.where(z > 0, 1.0, 0.0) * p.x


def _paper_loss_value_one_sample(p: Point) -> np.ndarray:
    """§6.1: with one input, '损失值' (the loss value) = 2 e₁ x₁ᵀ."""
    e1 = p.X[0] @ p.w + p.b - p.y[0]
    return 2.0 * e1 * p.X[0]


def _paper_loss_dw_unindexed(p: Point) -> np.ndarray:
    """§6.1, read literally: (1/N) Σ_i [z_i > 0]·(−2 v xᵀ) with v and x not indexed (sample 1's)."""
    z = p.X @ p.w + p.b
    v1 = p.y[0] - max(0.0, float(z[0]))
    active = float(np.sum(z > 0))
    return (1.0 / p.y.size) * active * (-2.0 * v1 * p.X[0])


# ------------------------------------------------------------------ the table


ERRATA: tuple[Erratum, ...] = (
    Erratum(
        id="seed-6.1-drops-relu-condition",
        section="§6.1",
        wrong_statement=(
            r"$\frac{\partial C}{\partial \mathbf{w}} = \frac{2}{N} \sum_{i=1}^N e_i \mathbf{x}_i^T$"
            " (the line before moves 'w·x_i + b ≤ 0 / > 0' outside the sum, where i is no longer bound; "
            "then the condition is dropped)"
        ),
        right_statement="∂C/∂w = (2/N) Σ_i [z_i > 0]·e_i·x_iᵀ: the condition is per sample and stays inside the sum.",
        case_id="loss.relu_mse",
        arg="w",
        wrong=_paper_loss_dw_unconditional,
        counterexample={
            "w": _f64(1.0, 0.5),
            "b": _scalar(0.0),
            "X": np.array([[2.0, 0.0], [-2.0, 1.0]]),
            "y": _f64(1.0, 1.0),
        },
        precondition="some sample inactive (z_i < 0) and Σ over inactive samples of e_i·x_i ≠ 0",
    ),
    Erratum(
        id="seed-6.2-drops-relu-condition",
        section="§6.2",
        wrong_statement=r"$\frac{\partial C}{\partial b} = \frac{2}{N} \sum_{i=1}^N e_i$ (与之前类似: the condition dropped as in §6.1)",
        right_statement="∂C/∂b = (2/N) Σ_i [z_i > 0]·e_i.",
        case_id="loss.relu_mse",
        arg="b",
        wrong=_paper_loss_db_unconditional,
        counterexample={
            "w": _f64(1.0, 0.5),
            "b": _scalar(0.0),
            "X": np.array([[2.0, 0.0], [-2.0, 1.0]]),
            "y": _f64(1.0, 1.0),
        },
        precondition="some sample inactive (z_i < 0) and Σ over inactive samples of e_i ≠ 0",
    ),
    Erratum(
        id="seed-5-bias-derivative-as-vector",
        section="§5",
        wrong_statement=(
            r"$\frac{\partial activation}{\partial b} = \{\vec{0}^T,\ \mathbf{x}^T\}$"
            " (first version, copied from ∂/∂w; corrected to {0, 1} two lines later)"
        ),
        right_statement="∂activation/∂b = [z > 0]: a scalar, 0 or 1.",
        case_id="neuron.activation",
        arg="b",
        wrong=_paper_activation_db_as_vector,
        counterexample={"w": _f64(1.0, 2.0), "x": _f64(3.0, -0.5), "b": _scalar(0.5)},
        precondition="z = w·x + b > 0 and x ≠ (1) (for n ≥ 2 even the shape differs)",
    ),
    Erratum(
        id="seed-4.5.2-total-derivative-double-count",
        section="§4.5.2",
        wrong_statement=(
            r"$\frac{\partial f}{\partial x} + \frac{\partial f}{\partial u_1}\frac{\partial u_1}{\partial x}"
            r" + \frac{\partial f}{\partial u_1}\frac{\partial u_1}{\partial x} + \ldots"
            r" + \frac{\partial f}{\partial u_n}\frac{\partial u_n}{\partial x}$"
            " (the u₁ term twice; on y = x + x² this gives 1 + 4x)"
        ),
        right_statement="df/dx = ∂f/∂x + Σ_i ∂f/∂u_i·∂u_i/∂x, every path once: 1 + 2x for y = x + x².",
        case_id="scalar.total_derivative",
        arg="x",
        wrong=_paper_total_derivative_double_count,
        counterexample={"x": _scalar(1.5)},
        precondition="∂f/∂u₁·∂u₁/∂x ≠ 0, i.e. x ≠ 0",
    ),
    Erratum(
        id="seed-4.2-jw-last-entry-wrt-x",
        section="§4.2",
        wrong_statement=(
            r"the simplified $\frac{\partial \mathbf{y}}{\partial \mathbf{w}}$ ends in"
            r" $\frac{\partial}{\partial x_{n}}(f_{n}(w_{n}) \bigcirc g_{n}(x_{n}))$"
        ),
        right_statement="its last diagonal entry is ∂/∂w_n (f_n(w_n) ○ g_n(x_n)); for w ⊗ x that is x_n, not w_n.",
        case_id="elementwise.mul",
        arg="w",
        wrong=_paper_jw_last_entry_wrt_x,
        counterexample={"w": _f64(2.0, 3.0), "x": _f64(5.0, 7.0)},
        precondition="w_n ≠ x_n (on y = w ⊗ x)",
    ),
    Erratum(
        id="seed-5-dot-product-jacobian-diag",
        section="§5",
        wrong_statement=(
            r"$\mathbf{u} = \mathbf{w} \cdot \mathbf{x}$, $y = sum(\mathbf{u})$,"
            r" $\frac{\partial \mathbf{u}}{\partial \mathbf{w}} = diag(\mathbf{x})$"
        ),
        right_statement=(
            "diag(x) is the Jacobian of u = w ⊗ x (and then sum(u) = w·x); u = w·x is a scalar with ∂u/∂w = xᵀ, 1×n."
        ),
        case_id="reduction.dot",
        arg="w",
        wrong=_paper_dot_jacobian_diag,
        counterexample={"w": _f64(1.0, 2.0), "x": _f64(3.0, 4.0)},
        precondition="n ≥ 2 and x ≠ 0",
        compare="dense",
    ),
    Erratum(
        id="seed-2-power-rule-nan-at-n0",
        section="§2",
        wrong_statement=(
            r"指数 $x^n$ → $nx^{n-1}$, for every n: at n = 0 this is 0·x⁻¹, undefined at x = 0"
            " (float64: 0·∞ = NaN, for every |x| < 2⁻¹⁰²⁴ where x⁻¹ overflows)"
        ),
        right_statement="d(x⁰)/dx = d(1)/dx = 0 everywhere (the rule needs n ≠ 0 or x ≠ 0).",
        case_id="scalar.power",
        arg="x",
        wrong=_paper_power_rule_literal,
        counterexample={"x": _scalar(0.0)},
        params={"n": 0},
        precondition="n = 0 and |x| < 2⁻¹⁰²⁴ (x = ±0 or subnormal)",
    ),
    Erratum(
        id="seed-5-relu-derivative-at-kink",
        section="§5",
        wrong_statement=(
            r"$\frac{\partial}{\partial z} \max(0, z) = 0$ for $z \leq 0$, hence"
            r" $\frac{\partial activation}{\partial \mathbf{w}} = \vec{0}^T$ where $\mathbf{w} \cdot \mathbf{x} + b = 0$,"
            " given as the derivative (also §6.1, §6.2)"
        ),
        right_statement=(
            "max(0, z) is not differentiable at z = 0: the gradient tends to 0ᵀ from z < 0 and to xᵀ from z > 0; "
            "the subdifferential is {t·xᵀ : t ∈ [0, 1]} and 0ᵀ is the convention t = 0, not the derivative."
        ),
        case_id="neuron.activation",
        arg="w",
        wrong=_paper_activation_dw_zero_at_kink,
        counterexample={"w": _f64(1.0, 2.0), "x": _f64(3.0, -1.0), "b": _scalar(-1.0)},
        precondition="z = w·x + b = 0 exactly and x ≠ 0 (compared with the limit from z > 0, t = 1)",
        t=1.0,
    ),
    Erratum(
        id="seed-6.1-loss-value-is-gradient",
        section="§6.1",
        wrong_statement=(
            r"假定输入向量只有一个，损失值为$2e_1\mathbf{x}_1^T$ (with one input the loss value is 2e₁x₁ᵀ;"
            " 如果错误e₁为0,那么损失值为0)"
        ),
        right_statement=(
            "2e₁x₁ᵀ is the gradient ∂C/∂w (for N = 1 and z₁ > 0; the original says 'the gradient'); "
            "the loss is C = (y₁ − max(0, z₁))², a scalar: e₁² when z₁ > 0, and y₁² ≠ 0 when z₁ < 0 even if e₁ = 0."
        ),
        case_id="loss.relu_mse",
        arg=None,
        wrong=_paper_loss_value_one_sample,
        counterexample={
            "w": _f64(1.0, 1.0),
            "b": _scalar(0.0),
            "X": np.array([[2.0, 1.0]]),
            "y": _f64(1.0),
        },
        precondition="N = 1 and 2e₁x₁ ≠ C (for instance z₁ > 0, e₁ ≠ 0 and x₁ ≠ e₁/2)",
        compare="primal",
    ),
    Erratum(
        id="seed-6.1-unindexed-sample",
        section="§6.1",
        wrong_statement=(
            r"$\frac{1}{N} \sum_{i=1}^{N} \{ \vec{0}^T;\ -2 v \mathbf{x}^T \}$,"
            r" $-2(y_i - u)\mathbf{x}_i^T$, and §6's $C(v) = \frac{1}{N} \sum_{i=1}^{N} v^2$:"
            " v, u and x carry no sample index"
        ),
        right_statement=(
            "(1/N) Σ_i [z_i > 0]·(−2 v_i x_iᵀ) with v_i = y_i − u_i; read literally (one v and x in every term, "
            "here sample 1's) the sum is −(2/N)·#{i : z_i > 0}·v₁x₁ᵀ, the gradient of one sample, not the mean."
        ),
        case_id="loss.relu_mse",
        arg="w",
        wrong=_paper_loss_dw_unindexed,
        counterexample={
            "w": _f64(1.0),
            "b": _scalar(0.0),
            "X": np.array([[1.0], [2.0]]),
            "y": _f64(0.0, 0.0),
        },
        precondition="N ≥ 2 and the samples' gradient terms differ",
    ),
)

ERRATA_BY_ID: dict[str, Erratum] = {erratum.id: erratum for erratum in ERRATA}
if len(ERRATA_BY_ID) != len(ERRATA):
    raise RuntimeError("duplicate erratum ids")


# ------------------------------------------------------------- demonstration


def _max_abs_difference(wrong: np.ndarray, right: np.ndarray) -> float:
    """max |wrong − right| after broadcasting; inf where they do not broadcast or wrong is not finite."""
    try:
        difference = np.abs(np.subtract(wrong, right, dtype=np.float64))
    except ValueError:
        return float("inf")
    if difference.size == 0:
        return 0.0
    if not np.all(np.isfinite(difference)):
        return float("inf")
    return float(np.max(difference))


def demonstrate(erratum: Erratum, values: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The paper's wrong value and the reference's right one at the counterexample (or at ``values``).

    Returns ``id``, ``section``, ``case``, ``arg``, ``wrong``, ``right`` (arrays),
    ``shapes_match``, ``max_abs_diff`` (inf when the shapes do not broadcast or
    the wrong value is not finite) and ``rounding_bound``: the reference's own
    rounding-error bound at that point (ops · u · max magnitude for a derivative).
    """
    case = get_case(erratum.case_id)
    values = {name: np.asarray(v, dtype=np.float64) for name, v in (values or erratum.counterexample).items()}
    point = Point({**values, **erratum.params}, t=erratum.t)
    wrong = np.asarray(erratum.wrong(point), dtype=np.float64)
    output = np.asarray(case.primal(np, *(values[name] for name in case.arg_names), **erratum.params), dtype=np.float64)
    if erratum.compare == "primal":
        right = output
        bound = _PRIMAL_OPS * U64 * float(np.max(np.abs(output), initial=0.0))
    else:
        partial = case.partials[erratum.arg]
        jacobian: StructuredJacobian = partial.jacobian(point, output.shape, values[erratum.arg].shape)
        right = jacobian.dense() if erratum.compare == "dense" else np.asarray(jacobian.data, dtype=np.float64)
        magnitude = partial.magnitude_jacobian(point, output.shape, values[erratum.arg].shape).data
        bound = float(partial.ops(point)) * U64 * float(np.max(np.abs(magnitude), initial=0.0))
    return {
        "id": erratum.id,
        "section": erratum.section,
        "case": erratum.case_id,
        "arg": erratum.arg,
        "wrong": wrong,
        "right": right,
        "shapes_match": wrong.shape == right.shape,
        "max_abs_diff": _max_abs_difference(wrong, right),
        "rounding_bound": bound,
    }
