"""check_function / assert_gradients: the API as written, its verdicts, its errors, its reproductions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rules import Sin, SinWrongSign

from verigrad import FunctionResult, assert_gradients, check_function
from verigrad.records import read_records

X = np.array([0.3, -1.2, 2.5])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_correct_rule_passes(dtype: str) -> None:
    result = check_function(Sin.apply, (X,), "torch", dtypes=[dtype], examples=10, seed=0)
    assert isinstance(result, FunctionResult)
    assert result.passed, result.summary()
    assert {v.status for v in result.verdicts} <= {"pass", "skip"}
    assert any(v.property == "vjp" and v.status == "pass" and v.examples >= 10 for v in result.verdicts)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_wrong_backward_is_caught_as_wrong_sign(dtype: str) -> None:
    result = check_function(SinWrongSign.apply, (X,), "torch", dtypes=[dtype], properties=["vjp"], examples=10, seed=0)
    (verdict,) = result.verdicts
    assert not result.passed
    assert verdict.status == "fail"
    assert verdict.diagnosis["kind"] == "wrong_sign"
    assert verdict.counterexample["inputs"]["x"]  # named after forward(ctx, x)


def test_assert_gradients_raises_with_diagnosis_and_reproduction() -> None:
    with pytest.raises(AssertionError) as raised:
        assert_gradients(SinWrongSign.apply, (X,), "torch", properties=["vjp"], dtypes=["float64"], examples=5, seed=0)
    text = str(raised.value)
    assert "wrong_sign" in text
    assert "replay(fn, inputs, 'torch', 'vjp'" in text
    assert "seed 0" in text


def test_assert_gradients_returns_the_result_when_right() -> None:
    result = assert_gradients(Sin.apply, (X,), "torch", properties=["vjp"], examples=3, seed=0)
    assert result.passed


def test_reproduction_replays_the_failure(capsys: pytest.CaptureFixture[str]) -> None:
    result = check_function(SinWrongSign.apply, (X,), "torch", dtypes=["float64"], properties=["vjp"], examples=5, seed=0)
    snippet = result.failures[0].reproduction
    # rules.py is imported by file name here, so the snippet's import line names "rules"; run it as written.
    namespace: dict[str, object] = {}
    exec(snippet, namespace)
    printed = capsys.readouterr().out
    assert "failed: VJP of input 'x': wrong_sign" in printed


def test_records_and_report_are_written(tmp_path) -> None:
    records, report = tmp_path / "records.jsonl", tmp_path / "index.html"
    result = check_function(SinWrongSign.apply, (X,), "torch", dtypes=["float64"], properties=["vjp", "deterministic"],
                            examples=3, seed=0, records=records, report=report)
    headers, verdicts = read_records([records])
    assert [v.check_id for v in verdicts] == [v.check_id for v in result.verdicts]
    assert headers[0]["seed"] == 0
    assert "wrong_sign" in report.read_text(encoding="utf-8")


def test_a_seed_reproduces_the_run() -> None:
    runs = [check_function(SinWrongSign.apply, (X,), "torch", dtypes=["float32"], properties=["vjp"], examples=10, seed=7)
            for _ in range(2)]
    assert runs[0].verdicts[0].counterexample == runs[1].verdicts[0].counterexample


def test_a_reverse_only_rule_skips_the_jvp_properties_saying_why() -> None:
    result = check_function(Sin.apply, (X,), "torch", dtypes=["float64"], properties=["jvp", "adjoint"], examples=2, seed=0)
    assert [v.status for v in result.verdicts] == ["skip", "skip"]
    assert "no forward mode" in result.verdicts[0].message


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"inputs": X}, TypeError, "tuple of numpy arrays"),
        ({"inputs": (np.array([1, 2]),)}, TypeError, "floating"),
        ({"inputs": (np.array([np.nan]),)}, ValueError, "NaN"),
        ({"properties": ["vjpp"]}, ValueError, "unknown properties"),
        ({"domain": (1.0, 0.0)}, ValueError, "low < high"),
        ({"mode": "loose"}, ValueError, "mode="),
        ({"engine": "no_such_engine"}, Exception, "unknown engine"),
        ({"dtypes": ["int32"]}, ValueError, "floating dtype"),
    ],
    ids=["not-a-tuple", "int-input", "nan-input", "unknown-property", "bad-domain", "bad-mode", "bad-engine", "int-dtype"],
)
def test_bad_input_gets_a_clear_error(kwargs: dict, error: type, words: str) -> None:
    arguments = {"inputs": (X,), "engine": "torch", **kwargs}
    with pytest.raises(error, match=words):
        check_function(Sin.apply, arguments.pop("inputs"), arguments.pop("engine"), examples=1, **arguments)


def test_examples_zero_checks_the_users_inputs_only() -> None:
    result = check_function(Sin.apply, (X,), "torch", properties=["vjp"], examples=0, seed=0)
    assert [v.examples for v in result.verdicts] == [1, 1]
    assert result.passed


def test_import_verigrad_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, verigrad, verigrad.reference; "
            "heavy = [m for m in ('hypothesis', 'torch', 'jax') if m in sys.modules]; "
            "assert not heavy, heavy; assert callable(verigrad.check_function)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr


def test_points_outside_the_functions_domain_are_not_checked() -> None:
    # Drawn points near 0.5 reach x <= 0, where log is not finite: those points are skipped, not failed.
    result = check_function(torch.log, (np.array([0.5, 1.0, 2.0]),), "torch", properties=["vjp"], examples=20, seed=0)
    assert result.passed, result.summary()
    assert result.verdicts[0].check_id == "vjp[log-all-torch-float64]"


def test_an_infinite_slope_is_not_a_failure() -> None:
    # d√x/dx at 0 is +inf: an engine's inf there is no wrong gradient (the reference has no finite one either).
    result = check_function(torch.sqrt, (np.array([0.0, 1.0, 4.0]),), "torch", properties=["vjp"], examples=10, seed=0)
    assert result.passed, result.summary()


def test_inputs_outside_the_domain_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not finite at the given inputs"):
        check_function(torch.log, (np.array([0.0, 1.0]),), "torch", examples=1)
