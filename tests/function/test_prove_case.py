"""Users' own cases proved from their primals: ``prove_case`` (sympy, exact arithmetic) and ``verigrad verify``.

A right closed form is proved; a wrong one (a sign error, a missing factor, a kink
value outside the subdifferential, a rounding bound too tight) is a mismatch naming
the argument and the Jacobian entry, with a concrete counterexample that plain
float64 numpy confirms; a primal outside the symbolic vocabulary is unsupported,
with the reason, never a traceback.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import verigrad
from verigrad import prove
from verigrad.cli import main
from verigrad.prove import CaseProof, Mismatch, prove_case
from verigrad.reference import Arg, Case, Kink, Partial, Structure, get_case

#: Small grids keep each proof well under a second (the defaults are n = 1..4 and 20 points).
QUICK = {"n": (1, 2)}


def _sigmoid(p):
    return 1.0 / (1.0 + np.exp(-p.x))


def _elementwise(case_id: str, primal, closed_form, magnitude=None, kink: Kink | None = None) -> Case:
    partial = Partial(Structure.DIAGONAL, closed_form, magnitude or (lambda p: np.abs(closed_form(p)) + 1.0),
                      lambda p: 16, "")
    return Case(id=case_id, section="mine", formula="", args=(Arg("x", ("n",)),), output=("n",), primal=primal,
                partials={"x": partial}, kink=kink)


def _dot(case_id: str, closed_form_w) -> Case:
    """w·x: ∂/∂w = x, ∂/∂x = w (dense rows of a scalar output)."""
    return Case(id=case_id, section="mine", formula="", args=(Arg("w", ("n",)), Arg("x", ("n",))), output=(),
                primal=lambda xp, w, x: xp.sum(w * x),
                partials={"w": Partial(Structure.DENSE, closed_form_w, lambda p: np.abs(p.x), lambda p: 4, ""),
                          "x": Partial(Structure.DENSE, lambda p: p.w, lambda p: np.abs(p.w), lambda p: 4, "")})


def _relu_locus(p):
    return p.x, np.abs(p.x), 0


RELU_KINK = Kink("x = 0", "[0, 1]", _relu_locus, lambda values: values)


def _softplus(xp, x):
    return xp.log(1.0 + xp.exp(x))


SOFTPLUS = _elementwise("mine.softplus", _softplus, _sigmoid)
HALF_CUBE = _elementwise("mine.half_cube", lambda xp, x: 0.5 * x * x * x, lambda p: 1.5 * p.x * p.x)
#: Right closed forms: a polynomial (quick), and a transcendental one (sympy simplifies: over a second).
RIGHT = [pytest.param(HALF_CUBE, id="polynomial"),
         pytest.param(SOFTPLUS, id="transcendental", marks=pytest.mark.verigrad_full_only)]
#: Wrong closed forms, each with the argument and entry the proof must name.
WRONG = {
    "sign-error": (_dot("mine.dot_sign", lambda p: -p.x), "w"),
    "missing-factor": (_elementwise("mine.half_square", lambda xp, x: 0.5 * x * x * x, lambda p: p.x * p.x), "x"),
    "kink-value-outside": (
        _elementwise("mine.relu_outside", lambda xp, x: xp.maximum(x, 0.0 * x),
                     lambda p: p.step(p.x) + 4 * p.step(p.x) * (1 - p.step(p.x)), kink=RELU_KINK),
        "x",
    ),
}


def _float64_entry(case: Case, arg: str, values: dict, entry: tuple) -> tuple[float, float]:
    """The float64 closed form and a central difference of the float64 primal at one Jacobian entry."""
    out_index, arg_index = entry
    jacobian = case.partials[arg].jacobian(_point(values), np.shape(case.bind(np)(*values.values())), values[arg].shape)
    out_shape = jacobian.out_shape
    dense = jacobian.dense()
    row = int(np.ravel_multi_index(out_index, out_shape)) if out_shape else 0
    column = int(np.ravel_multi_index(arg_index, values[arg].shape))
    step = 1e-6
    plus, minus = ({**values, arg: values[arg].copy()} for _ in range(2))
    plus[arg][arg_index] += step
    minus[arg][arg_index] -= step
    primal = case.bind(np)
    difference = (np.asarray(primal(*plus.values())) - np.asarray(primal(*minus.values()))) / (2 * step)
    return float(dense[row, column]), float(difference[out_index])


def _point(values: dict):
    from verigrad.reference import Point

    return Point(values)


@pytest.mark.parametrize("case", RIGHT)
def test_a_users_right_closed_form_is_proved(case: Case) -> None:
    proof = prove_case(case, sizes=QUICK)
    assert (proof.status, proof.mismatches, proof.holds) == ("proved", (), True), str(proof)
    assert "n ∈ {1, 2}" in proof.scope


def test_prove_case_is_the_public_api() -> None:
    assert verigrad.prove_case is prove_case and verigrad.CaseProof is CaseProof


@pytest.mark.parametrize("name", ["sign-error", "missing-factor"])
def test_a_wrong_closed_form_is_a_mismatch_naming_argument_and_entry(name: str) -> None:
    case, arg = WRONG[name]
    proof = prove_case(case, sizes=QUICK)
    assert proof.status == "mismatch" and not proof.holds
    first = proof.mismatches[0]
    assert (first.arg, first.sizes) == (arg, {"n": 1})
    assert first.entry[1] == (0,), first.entry
    assert f"∂/∂{arg}[0]" in str(first) or f"/∂{arg}[0]" in str(first)


@pytest.mark.parametrize("name", ["sign-error", "missing-factor"])
def test_the_counterexample_is_confirmed_by_plain_float64(name: str) -> None:
    """At the reported point, numpy's closed form and a central difference of the primal are the values reported."""
    case, arg = WRONG[name]
    first: Mismatch = prove_case(case, sizes=QUICK).mismatches[0]
    example = first.counterexample
    assert example is not None, str(first)
    closed, difference = _float64_entry(case, arg, dict(example.values), first.entry)
    assert closed == pytest.approx(example.closed_form, rel=1e-12)
    assert difference == pytest.approx(example.derivative, rel=1e-6, abs=1e-9)
    assert abs(closed - difference) > 1e-3 * max(1.0, abs(difference))
    assert f"{arg}=" in str(first)


def test_a_kink_value_outside_the_subdifferential_is_a_mismatch_on_the_kink() -> None:
    case, _ = WRONG["kink-value-outside"]
    proof = prove_case(case, sizes={"n": (1,)})
    (mismatch,) = proof.mismatches
    assert "on the kink x_0 = 0 at share t = 1/2" in mismatch.where
    example = mismatch.counterexample
    assert example is not None and example.values["x"].tolist() == [0.0]
    assert (example.t, example.closed_form, example.derivative) == (0.5, 1.5, 0.5)


def test_a_kinked_right_closed_form_is_proved_on_every_region_and_kink() -> None:
    relu = _elementwise("mine.relu", lambda xp, x: xp.maximum(x, 0.0 * x), lambda p: p.step(p.x), kink=RELU_KINK)
    assert prove_case(relu, sizes=QUICK).status == "proved"


@pytest.mark.parametrize(("primal", "words"), [
    (lambda xp, x: xp.arctan(x), "the primal calls xp.arctan, which is not in the primal vocabulary"),
    (lambda xp, x: np.arctan(x), "the primal cannot run on symbolic or exact numbers: TypeError"),
], ids=["namespace", "numpy-ufunc"])
def test_a_primal_outside_the_vocabulary_is_unsupported_with_the_reason(primal, words: str) -> None:
    case = _elementwise("mine.arctan", primal, lambda p: 1.0 / (1.0 + p.x**2))
    for method in ("symbolic", "exact"):
        proof = prove_case(case, method, sizes=QUICK, examples=3)
        assert proof.status == "unsupported" and words in proof.reason, proof.reason
        assert "Traceback" not in str(proof)


def test_a_closed_form_that_rounds_to_float_is_unsupported_with_a_hint() -> None:
    def filled(p):
        out = np.zeros(p.x.shape)  # float64: cannot hold a symbol
        out[...] = p.x
        return out

    proof = prove_case(_elementwise("mine.filled", lambda xp, x: 0.5 * x * x, filled), sizes=QUICK)
    assert proof.status == "unsupported" and "dtype=object" in proof.reason, proof.reason


@pytest.mark.parametrize("case", RIGHT)
def test_exact_method_passes_a_right_closed_form(case: Case) -> None:
    proof = prove_case(case, "exact", sizes=QUICK, examples=5)
    assert proof.status == "passed", str(proof)


@pytest.mark.verigrad_full_only  # hypothesis shrinks the failing point: seconds
def test_exact_method_finds_a_wrong_closed_form_at_a_drawn_point() -> None:
    case, arg = WRONG["sign-error"]
    proof = prove_case(case, "exact", sizes=QUICK, examples=10)
    first = proof.mismatches[0]
    assert (proof.status, first.arg, first.kind) == ("mismatch", arg, "derivative")
    closed, difference = _float64_entry(case, arg, dict(first.counterexample.values), first.entry)
    assert closed == -difference != 0


@pytest.mark.verigrad_full_only  # hypothesis shrinks the failing point: seconds
def test_exact_method_finds_a_rounding_bound_too_tight() -> None:
    """softplus's σ(x) in float64 errs by a few ulps: a declared magnitude of 0 is a violated bound."""
    tight = _elementwise("mine.softplus_tight", _softplus, _sigmoid, magnitude=lambda p: 0.0 * p.x)
    proof = prove_case(tight, "exact", sizes=QUICK, examples=10)
    assert proof.status == "mismatch" and {m.kind for m in proof.mismatches} == {"bound"}, str(proof)
    assert "beyond its declared bound" in str(proof.mismatches[0])


def test_a_builtin_case_is_proved_by_the_same_function() -> None:
    assert prove_case(get_case("elementwise.max"), sizes=QUICK).status == "proved"


@pytest.mark.parametrize("labels", [[0, 0], [1, 0], [1, 1]], ids=["0-0", "1-0", "1-1"])
def test_the_exact_derivative_follows_the_drawn_labels(labels: list[int]) -> None:
    """Labels are data: the primal's exact derivative is taken at the drawn labels, not at a fixed pattern."""
    case = get_case("losses.softmax_xent")
    values = {"Z": np.array([[0.5, -1.0], [0.0, 0.25]]), "labels": np.array(labels)}
    assert prove.exact_mismatches(case, "Z", {"N": 2, "m": 2}, {}, values, 0.0) == []


def test_unknown_method_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown method 'sampled'; use one of symbolic, exact"):
        prove_case(SOFTPLUS, "sampled")


CATALOG = textwrap.dedent('''
    import numpy as np
    from verigrad.reference import Arg, Case, Partial, Structure

    def case(name, primal, closed_form):
        partial = Partial(Structure.DIAGONAL, closed_form, lambda p: np.abs(p.x) + 1.0, lambda p: 4, "")
        return Case(id="verifycases." + name, section="mine", formula="", args=(Arg("x", ("n",)),),
                    output=("n",), primal=primal, partials={"x": partial})

    CASES = (
        case("square", lambda xp, x: x * x, lambda p: 2.0 * p.x),
        case("cube_wrong", lambda xp, x: x * x * x, lambda p: 3.0 * p.x),
        case("arctan", lambda xp, x: xp.arctan(x), lambda p: 1.0 / (1.0 + p.x ** 2)),
    )
''')


@pytest.fixture
def catalog(tmp_path, monkeypatch) -> str:
    (tmp_path / "verifycases.py").write_text(CATALOG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "verifycases"


def test_verigrad_verify_prints_each_status_and_fails_on_a_mismatch(catalog: str, capsys) -> None:
    status = main(["verify", "--catalog", catalog])
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert status == 1
    assert lines[0].startswith("PROVED") and "verifycases.square" in lines[0]
    assert lines[1].startswith("MISMATCH") and "verifycases.cube_wrong" in lines[1]
    assert "∂out[0]/∂x[0]" in lines[2] and "counterexample x=" in lines[2]
    unsupported = lines.index(next(line for line in lines if line.startswith("UNSUPPORTED")))
    assert "xp.arctan" in lines[unsupported + 1]
    assert lines[-1] == "1 proved, 1 mismatch, 1 unsupported"
    assert "Traceback" not in printed.out + printed.err


def test_verigrad_verify_passes_when_every_case_is_proved(catalog: str, capsys) -> None:
    assert main(["verify", "--catalog", catalog, "--cases", "verifycases.square", "--method", "exact",
                 "--examples", "5"]) == 0
    assert capsys.readouterr().out.startswith("PASSED")


def test_verigrad_verify_with_no_matching_case_is_a_usage_error(catalog: str, capsys) -> None:
    assert main(["verify", "--catalog", catalog, "--cases", "nothing.*"]) == 2
    assert "no cases match" in capsys.readouterr().err
