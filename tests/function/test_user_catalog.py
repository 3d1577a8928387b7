"""Users' own cases with closed forms: verify_case, `verigrad check --catalog`, `pytest --verigrad-catalog`."""

from __future__ import annotations

import textwrap

import pytest

from verigrad.catalogs import CatalogError, load_catalog
from verigrad.cli import main
from verigrad.records import read_records
from verigrad.reference import CASES
from verigrad.verify_case import verify_case

pytest_plugins = ["pytester"]

#: A user's catalog module: softplus with its closed form, and a wrong closed form (the factor ½ missing from 0.5·x²).
CATALOG = textwrap.dedent('''
    import numpy as np
    from verigrad.reference import Arg, Case, Partial, Structure

    def sigmoid(p):
        return 1.0 / (1.0 + np.exp(-p.x))

    CASES = (
        Case(id="{prefix}.softplus", section="mine", formula=r"\\log(1 + e^x)", args=(Arg("x", ("n",)),), output=("n",),
             primal=lambda xp, x: xp.log(1.0 + xp.exp(x)),
             partials={{"x": Partial(Structure.DIAGONAL, sigmoid, sigmoid, lambda p: 16, r"\\sigma(x)")}}),
        Case(id="{prefix}.half_square", section="mine", formula=r"x^2 / 2", args=(Arg("x", ("n",)),), output=("n",),
             primal=lambda xp, x: 0.5 * x * x,
             partials={{"x": Partial(Structure.DIAGONAL, lambda p: {factor} * p.x, lambda p: p.x, lambda p: 4, "x")}}),
    )
''')


def _write(tmp_path, name: str, factor: str = "1.0") -> str:
    (tmp_path / f"{name}.py").write_text(CATALOG.format(prefix=name, factor=factor), encoding="utf-8")
    return name


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_verify_case_accepts_right_closed_forms_and_the_builtin_catalog(in_tmp) -> None:
    cases = load_catalog(_write(in_tmp, "rightcases"))
    assert [verify_case(case, examples=10) for case in cases] == [[], []]
    assert verify_case(CASES[0], examples=5) == []


def test_verify_case_finds_a_wrong_closed_form(in_tmp) -> None:
    cases = load_catalog(_write(in_tmp, "wrongcases", factor="2.0"))
    assert verify_case(cases[0], examples=5) == []
    mismatches = verify_case(cases[1], examples=5)
    assert mismatches and "wrongcases.half_square ∂/∂x" in mismatches[0]


def test_verigrad_check_runs_a_users_catalog_beside_the_builtin_one(in_tmp) -> None:
    module = _write(in_tmp, "clicases")
    status = main(["check", "torch", "--catalog", module, "--cases", "clicases.*,elementwise.mul", "--properties", "vjp",
                   "--dtype", "float64", "--examples", "3", "--seed", "0", "--no-report", "--records", "records.jsonl"])
    _, verdicts = read_records([in_tmp / "records.jsonl"])
    assert status == 0
    assert {v.case for v in verdicts} == {"clicases.softplus", "clicases.half_square", "elementwise.mul"}


def test_a_wrong_engine_fails_on_a_users_case(in_tmp) -> None:
    module = _write(in_tmp, "mutantcases")
    status = main(["check", "verigrad.oracles.mutants:WrongSign", "--catalog", module, "--cases", "mutantcases.*",
                   "--properties", "vjp", "--dtype", "float64", "--examples", "3", "--seed", "0", "--no-report",
                   "--records", "records.jsonl"])
    _, verdicts = read_records([in_tmp / "records.jsonl"])
    assert status == 1
    assert {v.diagnosis["kind"] for v in verdicts} == {"wrong_sign"}
    assert "get_case('mutantcases." in verdicts[0].reproduction


@pytest.mark.parametrize(("module", "content", "words"),
                         [("nocases", "X = 1", "defines no CASES"), ("notcases", "CASES = (1,)", "Case objects")],
                         ids=["no-cases", "not-cases"])
def test_a_bad_catalog_is_a_clear_error(in_tmp, module: str, content: str, words: str) -> None:
    (in_tmp / f"{module}.py").write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=words):
        load_catalog(module)


def test_a_missing_catalog_is_a_usage_error(in_tmp, capsys) -> None:
    assert main(["check", "torch", "--catalog", "no_such_catalog_module", "--no-report"]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_pytest_runs_a_users_catalog(pytester: pytest.Pytester) -> None:
    """The shipped suite on a user's catalog, run by pytest in this process."""
    module = _write(pytester.path, "pytestcases")
    pytester.syspathinsert()
    completed = pytester.runpytest_inprocess(
        "--pyargs", "verigrad.suite", "--engine", "torch", "--verigrad-catalog", module, "-n", "0",
        "-k", "pytestcases and vjp and float64", "--verigrad-examples", "3", "-q", "-p", "no:cacheprovider",
        "--verigrad-records", "records.jsonl")
    assert completed.ret == 0, completed.stdout.str()[-2000:]
    assert "2 passed" in completed.stdout.str()


def test_pytest_reports_failures_unshrunk_when_asked(pytester: pytest.Pytester) -> None:
    """``--verigrad-no-shrink`` reaches the checks: a wrong engine's failure is the example that found it, said so."""
    from verigrad.runner import NOT_SHRUNK

    (pytester.path / "doubled.py").write_text(
        "from verigrad.oracles import load_engine\n\n\n"
        "class Doubled:\n    name = 'doubled'\n\n    def __init__(self):\n        self.inner = load_engine('torch')\n"
        "        self.xp = self.inner.xp\n\n    def vjp(self, fn, primals, cotangent):\n"
        "        return tuple(2 * g for g in self.inner.vjp(fn, primals, cotangent))\n\n"
        "    def jvp(self, fn, primals, tangents):\n        return self.inner.jvp(fn, primals, tangents)\n", encoding="utf-8")
    pytester.syspathinsert()
    completed = pytester.runpytest_inprocess(
        "--pyargs", "verigrad.suite", "--engine", "doubled:Doubled", "-n", "0", "-k", "test_vjp and elementwise.mul and float64",
        "--verigrad-examples", "3", "--verigrad-no-shrink", "-q", "-p", "no:cacheprovider", "--verigrad-records", "records.jsonl")
    assert completed.ret == 1, completed.stdout.str()[-2000:]
    headers, verdicts = read_records([pytester.path / "records.jsonl"])
    assert headers[0]["shrink"] is False
    assert verdicts and all(v.status == "fail" and v.message.endswith(NOT_SHRUNK) for v in verdicts)


def test_a_wrong_closed_form_is_named_as_the_suspect_when_three_libraries_agree(in_tmp, capsys) -> None:
    """`verigrad check` on three libraries with a user's closed form missing a factor ½: one 'shared by engines' line."""
    module = _write(in_tmp, "sharedwrong", factor="2.0")
    status = main(["check", "torch", "jax", "autograd", "--catalog", module, "--cases", "sharedwrong.half_square",
                   "--properties", "vjp", "--dtype", "float64", "--seed", "0", "--examples", "3",
                   "--no-shrink",  # the engines share each example: they fail on the first one alike
                   "--records", "shared.jsonl", "--report", "shared.html"])
    out = capsys.readouterr().out
    assert status == 1
    assert "shared by engines" in out and "vjp[sharedwrong.half_square-x-*-float64]" in out
    assert "autograd, jax, torch (3 libraries)" in out
    headers, _ = read_records([in_tmp / "shared.jsonl"])  # the records' footer keeps it, and the report draws it
    (shared,) = headers[0]["summary"]["shared_by_engines"]
    assert f"<strong>shared by engines</strong> {shared['line']}" in (in_tmp / "shared.html").read_text(encoding="utf-8")
