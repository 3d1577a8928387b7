"""The ``verigrad`` command as a user meets it: exit codes, records, expectations, shards, a killed run."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from run_cli import verigrad

from verigrad.records import read_records
from verigrad.reference import CASES
from verigrad.runner import NOT_SHRUNK

pytest_plugins = ["pytester"]

# A user's own engine, written against the protocol only (HIPS autograd: it imports in 0.2 s,
# which keeps these subprocess tests quick).
USER_ADAPTER = textwrap.dedent(
    """
    from types import SimpleNamespace

    import numpy as np
    import autograd.numpy as anp
    from autograd import make_jvp, make_vjp


    class Engine:
        name = "my-autograd"
        xp = SimpleNamespace(
            sin=anp.sin, cos=anp.cos, log=anp.log, maximum=anp.maximum, sum=anp.sum,
            zeros_like=anp.zeros_like, stack=anp.stack, concat=anp.concatenate,
        )

        def vjp(self, fn, primals, cotangent):
            pullback, _ = make_vjp(lambda args: fn(*args))(tuple(primals))
            return tuple(np.asarray(g, dtype=p.dtype).reshape(p.shape) for g, p in zip(pullback(cotangent), primals))

        def jvp(self, fn, primals, tangents):
            _, out = make_jvp(lambda args: fn(*args))(tuple(primals))(tuple(tangents))
            return np.asarray(out, dtype=primals[0].dtype)


    class Doubled(Engine):
        name = "doubled"

        def vjp(self, fn, primals, cotangent):
            return tuple(2 * g for g in super().vjp(fn, primals, cotangent))
    """
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "my_adapter.py").write_text(USER_ADAPTER)
    return tmp_path


def test_cases_lists_every_catalog_id(tmp_path: Path) -> None:
    result = verigrad("cases", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.split() == [case.id for case in CASES]


def test_user_adapter_passes_and_writes_records_junit_and_summary(workdir: Path) -> None:
    result = verigrad("check", "my_adapter:Engine", "--cases", "elementwise.*", "--examples", "3",
                      "--junit", "out.xml", "--no-report", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdicts by engine and dtype" in result.stdout
    _, verdicts = read_records([workdir / "reports" / "records.jsonl"])
    assert verdicts and all(v.status == "pass" for v in verdicts)
    suites = ET.parse(workdir / "out.xml").getroot()
    assert int(suites[0].get("tests")) == len(verdicts) and suites[0].get("failures") == "0"


def test_wrong_engine_exits_1_with_a_diagnosis_and_reproduction(workdir: Path) -> None:
    result = verigrad("check", "my_adapter:Doubled", "--cases", "elementwise.mul", "--properties", "vjp",
                      "--dtype", "float64", "--examples", "5", "--no-report", cwd=workdir)
    assert result.returncode == 1
    assert "scaled" in result.stdout and "×2" in result.stdout
    _, verdicts = read_records([workdir / "reports" / "records.jsonl"])
    failed = [v for v in verdicts if v.status == "fail"]
    assert failed and all(v.diagnosis["kind"] == "scaled" for v in failed)
    assert "load_engine('my_adapter:Doubled')" in failed[0].reproduction


def test_a_scale_check_verigrad_itself_fails_is_a_crashed_verdict_and_the_run_goes_on(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verigrad import cli, scale

    def broken(case: str, *args: object, **kwargs: object) -> object:
        if case == "elementwise.mul":
            raise ZeroDivisionError("a harness bug")
        return scale.check_at_scale(case, *args, **kwargs)

    monkeypatch.setattr(cli, "check_at_scale", broken)
    result = verigrad("check", "my_adapter:Engine", "--scale", "200", "--cases", "elementwise.mul,elementwise.add",
                      "--dtype", "float64", "--no-report", cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    _, verdicts = read_records([workdir / "reports" / "records.jsonl"])
    crashed = [v for v in verdicts if v.status == "fail"]
    assert {v.case for v in crashed} == {"elementwise.mul"} and all(v.diagnosis["kind"] == "crashed" for v in crashed)
    assert "verigrad raised ZeroDivisionError" in crashed[0].message and "a bug of verigrad's" in crashed[0].message
    assert crashed[0].check_id == "scale[elementwise.mul-w-my-autograd-float64-n=200]"  # the id the check has when it runs
    assert any(v.case == "elementwise.add" and v.status == "pass" for v in verdicts)


def test_a_property_check_verigrad_itself_fails_is_a_crashed_verdict_and_the_run_goes_on(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verigrad import runner, session

    def broken(specs: list, *args: object, **kwargs: object) -> object:
        if specs[0].case == "elementwise.mul":
            raise ZeroDivisionError("a harness bug")
        return runner.run_group(specs, *args, **kwargs)

    monkeypatch.setattr(session, "run_group", broken)
    result = verigrad("check", "my_adapter:Engine", "--cases", "elementwise.mul,elementwise.add", "--properties", "vjp",
                      "--dtype", "float64", "--examples", "5", "--no-report", cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    _, verdicts = read_records([workdir / "reports" / "records.jsonl"])
    crashed = [v for v in verdicts if v.status == "fail"]
    assert {v.case for v in crashed} == {"elementwise.mul"} and all(v.diagnosis["kind"] == "crashed" for v in crashed)
    assert "verigrad raised ZeroDivisionError checking vjp[elementwise.mul-" in crashed[0].message
    assert "a bug of verigrad's" in crashed[0].message
    assert any(v.case == "elementwise.add" and v.status == "pass" for v in verdicts)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "no_such_module:Engine"), "cannot import 'no_such_module'"),
        (("check", "my_adapter:Missing"), "has no attribute 'Missing'"),
        (("check", "nonsense"), "unknown engine 'nonsense'"),
        (("check", "my_adapter:Engine", "--dtype", "float8"), "unknown dtype"),
        (("check", "my_adapter:Engine", "--cases", "no.such.case"), "no checks match"),
        (("check", "my_adapter:Engine", "--shard", "3/2"), "need 1 <= i <= k"),
        (("report", "missing.jsonl"), "does not exist"),
        (("check", "my_adapter:Engine", "-j", "0"), "--jobs takes a positive integer or 'auto', got '0'"),
        (("check", "my_adapter:Engine", "--jobs", "abc"), "--jobs takes a positive integer or 'auto', got 'abc'"),
    ],
    ids=["import", "attribute", "unknown-name", "dtype", "cases", "shard", "records", "jobs-zero", "jobs-word"],
)
def test_usage_errors_exit_2_with_one_clear_line(workdir: Path, args: tuple[str, ...], message: str) -> None:
    result = verigrad(*args, cwd=workdir)
    assert result.returncode == 2
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_expectations_pin_a_failure_and_warn_about_stale_lines(workdir: Path) -> None:
    (workdir / "expect.txt").write_text(
        "elementwise.mul doubled float64 fail  # known: doubles every gradient\n"
        "elementwise.add doubled float64 fail  # wrong on purpose: add's identity doubled is still caught\n"
        "scalar.sum doubled fail  # matches nothing in this run\n"
    )
    pinned = verigrad("check", "my_adapter:Doubled", "--cases", "elementwise.mul", "--properties", "vjp",
                      "--dtype", "float64", "--examples", "3", "--expect", "expect.txt", "--no-report", cwd=workdir)
    assert pinned.returncode == 0, pinned.stdout
    assert "matched no check" in pinned.stdout
    unexpected = verigrad("check", "my_adapter:Engine", "--cases", "elementwise.mul", "--properties", "vjp",
                          "--dtype", "float64", "--examples", "3", "--expect", "expect.txt", "--no-report", cwd=workdir)
    # The pins are for the engine named "doubled": the correct engine is unaffected.
    assert unexpected.returncode == 0


def test_unexpected_pass_fails_the_run(workdir: Path) -> None:
    (workdir / "expect.txt").write_text("elementwise.mul my-autograd float64 fail  # claims a bug that is not there\n")
    result = verigrad("check", "my_adapter:Engine", "--cases", "elementwise.mul", "--properties", "vjp",
                      "--dtype", "float64", "--examples", "3", "--expect", "expect.txt", "--no-report", cwd=workdir)
    assert result.returncode == 1
    assert "expected fail" in result.stdout


def test_shards_merge_into_the_full_set(workdir: Path) -> None:
    common = ("--cases", "reduction.*", "--examples", "2", "--no-report")
    full = verigrad("check", "my_adapter:Engine", *common, "--records", "full.jsonl", cwd=workdir)
    one = verigrad("check", "my_adapter:Engine", *common, "--shard", "1/2", "--records", "s1.jsonl", cwd=workdir)
    two = verigrad("check", "my_adapter:Engine", *common, "--shard", "2/2", "--records", "s2.jsonl", cwd=workdir)
    assert full.returncode == one.returncode == two.returncode == 0
    _, everything = read_records([workdir / "full.jsonl"])
    _, merged = read_records([workdir / "s1.jsonl", workdir / "s2.jsonl"])
    assert sorted(v.check_id for v in merged) == sorted(v.check_id for v in everything)
    report = verigrad("report", "s1.jsonl", "s2.jsonl", "--no-report", cwd=workdir)
    assert report.returncode == 0 and "verdicts by engine and dtype" in report.stdout


def test_a_killed_run_keeps_every_finished_verdict(workdir: Path) -> None:
    records = workdir / "killed.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "verigrad.cli", "check", "my_adapter:Engine", "--examples", "2",
         "--records", str(records), "--no-report"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if records.exists() and len(records.read_text().splitlines()) >= 12:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    lines = records.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "run"
    _, verdicts = read_records([records])
    # Each finished check is there as it was decided: a pass, or a skip of the second-order checks (how far the
    # run got before the kill varies, and the first case's hvp checks skip: the adapter has no hvp or hvp_reverse method).
    assert len(verdicts) >= 11
    assert all(v.status == "pass" or (v.status == "skip" and v.property in ("hvp", "hvp_modes") and "has no hvp" in v.message) for v in verdicts)
    report = verigrad("report", str(records), "--no-report", cwd=workdir)
    assert report.returncode == 0


def _summary(stdout: str) -> str:
    """The summary tables, without the progress lines and the records path."""
    return "\n".join(line for line in stdout.splitlines() if not line.startswith(("[", "records:")))


def test_jobs_2_gives_the_serial_verdicts_and_summary(workdir: Path) -> None:
    # Four properties, not all, and no shrinking: what is compared is the split into workers and the merge
    # (the doubled engine's failures, each shrunk twice, were most of this test's 9 s).
    common = "my_adapter:Engine my_adapter:Doubled --cases elementwise.mul,reduction.sum --dtype float64".split()
    common += "--properties vjp,jvp,adjoint,structure --examples 3 --seed 1 --no-report --no-shrink".split()
    serial = verigrad("check", *common, "--records", "serial.jsonl", cwd=workdir)  # the workers are processes
    parallel = verigrad("check", *common, "-j", "2", "--records", "parallel.jsonl", cwd=workdir)
    assert serial.returncode == parallel.returncode == 1, parallel.stdout + parallel.stderr  # Doubled is wrong
    assert "Traceback" not in parallel.stderr
    (serial_header,), serial_verdicts = read_records([workdir / "serial.jsonl"])
    (parallel_header,), parallel_verdicts = read_records([workdir / "parallel.jsonl"])
    assert (serial_header["jobs"], parallel_header["jobs"]) == (1, 2)
    assert serial_header["shrink"] is parallel_header["shrink"] is False  # --no-shrink reaches the workers
    assert all(v.message.endswith(NOT_SHRUNK) for v in parallel_verdicts if v.status == "fail")
    assert {(v.check_id, v.status) for v in parallel_verdicts} == {(v.check_id, v.status) for v in serial_verdicts}
    assert len(parallel_verdicts) == len(serial_verdicts) > 2
    assert _summary(parallel.stdout) == _summary(serial.stdout)


def test_a_hanging_engine_times_out_under_jobs(workdir: Path) -> None:
    (workdir / "hanging.py").write_text(
        "import time\nfrom my_adapter import Engine\n\n\nclass Hangs(Engine):\n    name = 'hangs'\n\n"
        "    def vjp(self, fn, primals, cotangent):\n        time.sleep(60)\n"
    )
    narrow = "--cases elementwise.mul --properties vjp --dtype float64 --examples 2 --no-report".split()
    started = time.monotonic()
    result = verigrad("check", "hanging:Hangs", "my_adapter:Engine", *narrow, "-j", "2", "--timeout", "0.5", cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started < 30
    _, verdicts = read_records([workdir / "reports" / "records.jsonl"])
    assert {v.engine for v in verdicts} == {"hangs", "my-autograd"} and len(verdicts) == 4
    for verdict in verdicts:
        if verdict.engine == "hangs":
            assert verdict.status == "fail" and verdict.diagnosis["kind"] == "timeout", verdict.message
        else:
            assert verdict.status == "pass", verdict.message


def test_a_crashing_worker_costs_only_its_check(workdir: Path) -> None:
    (workdir / "crashing.py").write_text(
        "import os, signal\nfrom my_adapter import Engine\n\n\nclass Crashes(Engine):\n    name = 'crashes'\n\n"
        "    def jvp(self, fn, primals, tangents):\n        os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    narrow = "--cases elementwise.mul --properties vjp,jvp --dtype float64 --examples 2 --no-report".split()
    # The correct engine shares each check with the crashing one: the dead worker's check is re-run
    # engine by engine, so only the crashing engine's verdicts say "crashed".
    result = verigrad("check", "crashing:Crashes", "my_adapter:Engine", *narrow, "-j", "2", cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    _, verdicts = read_records([workdir / "reports" / "records.jsonl"])
    assert all(v.status == "pass" for v in verdicts if v.engine == "my-autograd") and len(verdicts) == 8
    mine = sorted((v.property, v.status) for v in verdicts if v.engine == "crashes")
    assert mine == [("jvp", "fail")] * 2 + [("vjp", "pass")] * 2
    crashed = [v for v in verdicts if v.status == "fail"]
    assert all(v.diagnosis["kind"] == "crashed" and "SIGSEGV" in v.message for v in crashed)


def test_an_engine_that_fails_to_load_in_a_worker_exits_2(workdir: Path) -> None:
    (workdir / "parent_only.py").write_text(
        "import multiprocessing\nfrom my_adapter import Engine\n\n"
        "if multiprocessing.parent_process() is not None:\n    raise RuntimeError('not in a worker')\n"
    )
    narrow = "--cases elementwise.mul --dtype float64 --no-report".split()
    result = verigrad("check", "parent_only:Engine", *narrow, "-j", "2", cwd=workdir)
    assert result.returncode == 2
    assert "in a worker process" in result.stderr and "not in a worker" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def _suite(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The shipped property suite (the pytest plugin) on the user's adapter."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--pyargs", "verigrad.suite",
               "--engine", "my_adapter:Engine", "-k", "elementwise.mul", "--verigrad-seed", "3", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})


def test_pytest_xdist_workers_write_the_records_a_serial_run_writes(workdir: Path, pytester: pytest.Pytester) -> None:
    # The serial run is in this process (its interpreter and imports were a third of this test), and finds the
    # plugin by its entry point, as a user's pytest does; the three processes of the parallel one are named their
    # plugins (autoloading every installed plugin costs each about a second).
    pytester.chdir()
    pytester.syspathinsert(workdir)
    serial = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "--pyargs", "verigrad.suite", "--engine", "my_adapter:Engine",
                                          "-k", "elementwise.mul", "--verigrad-seed", "3", "-n", "0",
                                          "--verigrad-records", str(workdir / "serial.jsonl"))
    explicit = ["--disable-plugin-autoload", "-p", "xdist.plugin", "-p", "_hypothesis_pytestplugin", "-p", "verigrad.pytest_plugin"]
    parallel = _suite(workdir, *explicit, "-n", "2", "--verigrad-records", "parallel.jsonl")
    assert serial.ret == parallel.returncode == 0, serial.stdout.str() + parallel.stdout + parallel.stderr
    _, serial_verdicts = read_records([workdir / "serial.jsonl"])
    _, parallel_verdicts = read_records([workdir / "parallel.jsonl"])
    same_seed = sorted((v.check_id, v.status, v.examples, v.max_ulps) for v in serial_verdicts)
    assert [(v.check_id, v.status, v.examples, v.max_ulps) for v in parallel_verdicts] == same_seed
    assert len(serial_verdicts) > 20 and all(v.engine == "my-autograd" for v in serial_verdicts)
    assert not list(workdir.glob("parallel.gw*.jsonl"))  # the workers' parts are merged into one file


def test_python_dash_m_verigrad_is_the_verigrad_command(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["verigrad", "check", "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("verigrad", run_name="__main__")
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("usage: verigrad check")
