"""verigrad's pytest plugin (registered through the ``pytest11`` entry point).

Any test that takes the ``verigrad_check`` fixture is parametrized with one check
per case × argument × engine × dtype for the property its name says
(``test_vjp`` → ``vjp``).  The property suite ships as ``verigrad.suite``::

    pytest --pyargs verigrad.suite --engine my_adapter:Engine

Options (group "verigrad"): ``--engine`` (repeatable; built-in name or
module:attribute), ``--verigrad-dtype``, ``--verigrad-profile``,
``--verigrad-seed``, ``--verigrad-examples``, ``--verigrad-mode``,
``--verigrad-expect``, ``--verigrad-records``, ``--verigrad-report``.  The profile
may also come from the ``VERIGRAD_PROFILE`` environment variable.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from verigrad import expectations as expect
from verigrad.dtypes import KNOWN_DTYPES
from verigrad.oracles import DEFAULT_ENGINES, EngineLoadError, load_engine
from verigrad.records import RecordsWriter, Verdict, read_records
from verigrad.runner import DTYPES, PROFILES, CheckSpec, plan, run_check
from verigrad.tolerance import MODES, PROBABILISTIC

DEFAULT_RECORDS = "reports/pytest-records.jsonl"
DEFAULT_REPORT = "reports/index.html"
PREFIX = "test_"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("verigrad", "verified gradient checks")
    group.addoption("--engine", action="append", default=[], metavar="ENGINE",
                    help=f"engine under test (repeatable): built-in name or module:attribute; default {','.join(DEFAULT_ENGINES)}")
    group.addoption("--verigrad-dtype", default=",".join(DTYPES), metavar="float64,float32")
    group.addoption("--verigrad-profile", default=None, choices=sorted(PROFILES),
                    help="hypothesis profile (default: $VERIGRAD_PROFILE or dev)")
    group.addoption("--verigrad-seed", type=int, default=None, metavar="S")
    group.addoption("--verigrad-examples", type=int, default=None, metavar="N")
    group.addoption("--verigrad-mode", default=PROBABILISTIC, choices=MODES)
    group.addoption("--verigrad-timeout", type=float, default=60.0, metavar="SECONDS")
    group.addoption("--verigrad-expect", default=None, metavar="FILE",
                    help="expected outcomes file (default: the verigrad_expect ini option)")
    parser.addini("verigrad_expect", "expected outcomes file used when --verigrad-expect is not given", default="")
    group.addoption("--verigrad-records", default=DEFAULT_RECORDS, metavar="PATH")
    group.addoption("--verigrad-report", nargs="?", const=DEFAULT_REPORT, default=None, metavar="PATH",
                    help=f"write the HTML report (default path {DEFAULT_REPORT})")


class _Session:
    """Per-process state: loaded engines, expectations, the records writer."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        option = config.getoption
        self.profile = option("--verigrad-profile") or os.environ.get("VERIGRAD_PROFILE", "dev")
        if self.profile not in PROFILES:
            raise pytest.UsageError(f"VERIGRAD_PROFILE={self.profile!r}: use one of {', '.join(PROFILES)}")
        self.dtypes = [d.strip() for d in option("--verigrad-dtype").split(",") if d.strip()]
        bad = [d for d in self.dtypes if d not in KNOWN_DTYPES]
        if bad:
            raise pytest.UsageError(f"--verigrad-dtype: unknown {bad}; use {', '.join(KNOWN_DTYPES)}")
        self.sources = option("--engine") or list(DEFAULT_ENGINES)
        self.engines_by_name: dict[str, Any] | None = None
        self.source_of: dict[str, str] = {}
        path = option("--verigrad-expect") or config.getini("verigrad_expect") or None
        if path and not os.path.isabs(path) and config.inipath is not None and not option("--verigrad-expect"):
            path = str(config.inipath.parent / path)
        try:
            self.expectations = expect.parse(path) if path else []
        except expect.ExpectationsError as error:
            raise pytest.UsageError(str(error)) from None
        self.used: set[int] = set()
        # xdist gives its workers a ``workerinput``; the PYTEST_XDIST_WORKER variable would also
        # be inherited by a pytest that a test starts, which is no worker of this run.
        workerinput = getattr(config, "workerinput", None)
        self.worker = workerinput.get("workerid") if workerinput else None
        records = Path(option("--verigrad-records"))
        self.records_path = records.with_name(f"{records.stem}.{self.worker}{records.suffix}") if self.worker else records
        self.final_records = records
        self.writer: RecordsWriter | None = None
        self.header = {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "pytest " + " ".join(config.invocation_params.args),
            "engines": self.sources,
            "seed": option("--verigrad-seed"),
            "profile": self.profile,
            "mode": option("--verigrad-mode"),
        }

    def resolve(self) -> dict[str, Any]:
        """Load every engine once, keyed by the name it gives itself; a load failure is a usage error."""
        if self.engines_by_name is None:
            engines: dict[str, Any] = {}
            for source in self.sources:
                try:
                    engine = load_engine(source)
                except EngineLoadError as error:
                    raise pytest.UsageError(str(error)) from None
                name = str(engine.name)
                if name in engines:
                    raise pytest.UsageError(f"engines {self.source_of[name]!r} and {source!r} both call themselves {name!r}")
                engines[name], self.source_of[name] = engine, source
            self.engines_by_name = engines
        return self.engines_by_name

    @property
    def engine_names(self) -> list[str]:
        return list(self.resolve())

    def record(self, verdict: Verdict) -> None:
        if self.writer is None:
            self.writer = RecordsWriter(self.records_path)
            self.writer.write_header(self.header)
        self.writer.write(verdict)


_KEY = pytest.StashKey[_Session]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = _Session(config)
    config.addinivalue_line("markers", "verigrad: a verigrad property check")


def _property_of(function_name: str) -> str:
    return function_name[len(PREFIX):] if function_name.startswith(PREFIX) else function_name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "verigrad_check" not in metafunc.fixturenames:
        return
    session = metafunc.config.stash[_KEY]
    names = list(session.resolve())  # fail fast, at collection, with one clear line
    specs = plan(names, session.dtypes, properties=[_property_of(metafunc.function.__name__)])
    ids = [spec.id.split("[", 1)[1][:-1] for spec in specs]
    metafunc.parametrize("verigrad_spec", specs, ids=ids)


class CheckRunner:
    """What a suite test gets: run its check, record the verdict, assert it is as expected."""

    def __init__(self, spec: CheckSpec, session: _Session) -> None:
        self.spec = spec
        self.session = session

    def run(self) -> Verdict:
        option = self.session.config.getoption
        verdict = run_check(
            self.spec, self.session.resolve()[self.spec.engine], self.session.profile,
            seed=option("--verigrad-seed"), max_examples=option("--verigrad-examples"),
            timeout=option("--verigrad-timeout"), mode=option("--verigrad-mode"),
            source=self.session.source_of[self.spec.engine],
        )
        expect.apply(self.session.expectations, verdict, self.session.used)
        self.session.record(verdict)
        return verdict

    def assert_as_expected(self) -> Verdict:
        verdict = self.run()
        if verdict.status == "skip" and verdict.expected is None:
            pytest.skip(verdict.message)
        if verdict.expected in ("fail", "any") and verdict.status == "fail":
            pytest.xfail(verdict.expectation_reason or verdict.message)
        if not verdict.as_expected:
            expected = verdict.expected or "pass"
            details = f"\n\nreproduction:\n{verdict.reproduction}" if verdict.reproduction else ""
            pytest.fail(f"expected {expected}, got {verdict.status}: {verdict.message}{details}", pytrace=False)
        return verdict


@pytest.fixture
def verigrad_check(request: pytest.FixtureRequest, verigrad_spec: CheckSpec) -> CheckRunner:
    """The check this test stands for (see the module docstring)."""
    return CheckRunner(verigrad_spec, request.config.stash[_KEY])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_KEY, None)
    if state is None:
        return
    if state.writer is not None:
        state.writer.close()
    if state.worker:
        return  # the controller merges the workers' files
    parts = sorted(state.final_records.parent.glob(f"{state.final_records.stem}.gw*{state.final_records.suffix}"))
    if parts:
        _merge(parts, state.final_records)
    for stale in expect.unused(state.expectations, state.used, list(state.engines_by_name or {})):
        print(f"\nverigrad: warning: expectation line {stale.line} ({stale.case} {stale.engine}) matched no check")
    report = session.config.getoption("--verigrad-report")
    if report and state.final_records.exists():
        from verigrad.report import write_report

        headers, verdicts = read_records([state.final_records])
        path = write_report(headers, verdicts, report)
        print(f"\nverigrad: HTML report {path}")


def _merge(parts: list[Path], target: Path) -> None:
    """Workers' records in one file, verdicts in check-id order (the same as a serial run's set)."""
    headers, verdicts = read_records(parts)
    with RecordsWriter(target) as writer:
        if headers:
            writer.write_header({k: v for k, v in headers[0].items() if k != "kind"})
        for verdict in sorted(verdicts, key=lambda v: v.check_id):
            writer.write(verdict)
    for part in parts:
        part.unlink()
