"""verigrad's pytest plugin (registered through the ``pytest11`` entry point).

Any test that takes the ``verigrad_check`` fixture is parametrized with one check
per case × argument × engine × dtype for the property its name says
(``test_vjp`` → ``vjp``).  The property suite ships as ``verigrad.suite``::

    pytest --pyargs verigrad.suite --engine my_adapter:Engine

Options (group "verigrad"): ``--engine`` (repeatable; built-in name or
module:attribute), ``--verigrad-dtype``, ``--verigrad-profile``,
``--verigrad-seed``, ``--verigrad-examples``, ``--verigrad-mode``,
``--verigrad-expect``, ``--verigrad-records``, ``--verigrad-report``,
``--verigrad-catalog`` (a module of your own cases, repeatable), ``--verigrad-full``.
The profile may also come from the ``VERIGRAD_PROFILE`` environment variable.

Your own functions: the ``verigrad_gradients`` fixture is ``assert_gradients``
with this run's seed, examples, mode and records (see ``verigrad.api``).

The ini option ``verigrad_selection = quick`` (this repository's pyproject sets it)
runs only the covering selection of :mod:`verigrad.selection` and deselects the
rest, saying how many at collection and in the summary; ``--verigrad-full``
runs every check whatever the ini option says.  The ini option ``verigrad_costs``
(a table of :class:`verigrad.selection.CheckCosts`) weighs that selection by what each
check costs.  Other parametrized tests opt in
with the marker ``verigrad_cover("case_params", rotate="engine")``: under the
quick selection each value of the first named parameter an item has runs with
one value of ``rotate``, taken in turn.
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from verigrad import expectations as expect
from verigrad.catalogs import CatalogError, load_catalogs
from verigrad.compare import missing_methods, missing_vocabulary, supports
from verigrad.dtypes import KNOWN_DTYPES
from verigrad.exhibits import fd_step_scan
from verigrad.oracles import DEFAULT_ENGINES, EngineLoadError
from verigrad.records import RecordsWriter, Verdict, read_records
from verigrad.reference import CASES
from verigrad.rootcause import summary_record
from verigrad.runner import DTYPES, PROFILES, CheckSpec
from verigrad.selection import CheckCosts, quick_selection
from verigrad.session import Session, Settings
from verigrad.tolerance import MODES, PROBABILISTIC

DEFAULT_RECORDS = "reports/pytest-records.jsonl"
DEFAULT_REPORT = "reports/index.html"
PREFIX = "test_"
SELECTIONS = ("full", "quick")


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
    group.addoption("--verigrad-no-shrink", action="store_true",
                    help="report each failure at the example that found it, not shrunk to a minimal one")
    group.addoption("--verigrad-expect", default=None, metavar="FILE",
                    help="expected outcomes file (default: the verigrad_expect ini option)")
    parser.addini("verigrad_engines", "engines under test when no --engine is given (default: "
                  f"{' '.join(DEFAULT_ENGINES)})", type="args", default=list(DEFAULT_ENGINES))
    parser.addini("verigrad_expect", "expected outcomes file used when --verigrad-expect is not given", default="")
    group.addoption("--verigrad-records", default=DEFAULT_RECORDS, metavar="PATH")
    group.addoption("--verigrad-catalog", action="append", default=[], metavar="MODULE",
                    help="a module defining CASES (your own cases), checked beside the built-in catalog (repeatable)")
    group.addoption("--verigrad-report", nargs="?", const=DEFAULT_REPORT, default=None, metavar="PATH",
                    help=f"write the HTML report (default path {DEFAULT_REPORT})")
    group.addoption("--verigrad-full", action="store_true",
                    help="run every engine check, not only the quick selection that the verigrad_selection ini option asks for")
    parser.addini("verigrad_selection", "engine checks a run keeps: 'full' (all) or 'quick' (one per case × property, "
                  "covering every case, property, engine and dtype; see verigrad.selection)", default="full")
    parser.addini("verigrad_costs", "measured check costs (JSON of verigrad.selection.CheckCosts) that the quick "
                  "selection and the verigrad_cover rotations weigh engines and cases by (default: none, all equal)",
                  default="")


class _PluginState:
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
        self.sources = option("--engine") or list(config.getini("verigrad_engines")) or list(DEFAULT_ENGINES)
        try:
            self.cases = (*CASES, *load_catalogs(option("--verigrad-catalog")))
        except CatalogError as error:
            raise pytest.UsageError(str(error)) from None
        self.session: Session | None = None
        self.selection = "full" if option("--verigrad-full") else (config.getini("verigrad_selection") or "full")
        if self.selection not in SELECTIONS:
            raise pytest.UsageError(f"verigrad_selection = {self.selection!r}: use one of {', '.join(SELECTIONS)}")
        self.costs = _costs(config)
        self.selected: tuple[int, int] | None = None  # (kept, planned) engine checks, once known
        self.planned_checks = 0  # engine checks the plan holds for this run's test functions, kept or not
        self.quick_by_module: dict[Any, set[str]] = {}
        self.covered: tuple[int, int] | None = None  # (kept, collected) items marked verigrad_cover
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
            "shrink": not option("--verigrad-no-shrink"),
            "fd_steps": fd_step_scan(),
        }

    def resolve(self) -> dict[str, Any]:
        """Load every engine once, keyed by the name it gives itself; a load failure is a usage error."""
        if self.session is None:
            option = self.config.getoption
            settings = Settings(self.profile, option("--verigrad-seed"), option("--verigrad-examples"),
                                option("--verigrad-timeout"), option("--verigrad-mode"), not option("--verigrad-no-shrink"))
            try:
                self.session = Session.load(self.sources, settings)
            except EngineLoadError as error:
                raise pytest.UsageError(str(error)) from None
            self.engines_by_name, self.source_of = self.session.engines, self.session.source_of
        return self.session.engines

    @property
    def engine_names(self) -> list[str]:
        return list(self.resolve())

    def quick_ids(self, specs: list[CheckSpec]) -> set[str]:
        """The ids of the quick selection over these checks."""
        engines = self.resolve()
        requires = {case.id: case.requires for case in self.cases}

        def runnable(spec: CheckSpec) -> bool:
            """Whether the check runs, not skips: a case met only by skips would not be checked at all."""
            engine = engines[spec.engine]
            try:
                lacks = missing_methods(spec.property, engine) or missing_vocabulary(requires.get(spec.case, ()), engine)
            except ValueError:  # a catalog case requiring what is no vocabulary: its check says so when it runs
                lacks = None
            return supports(engine, spec.dtype) and lacks is None

        cost = self.costs.of if self.costs else None
        return {spec.id for spec in quick_selection(specs, runnable, cost)}

    def quick_ids_of_module(self, module: Any) -> set[str]:
        """The quick selection over every check of a test module's properties (computed once per module)."""
        if module not in self.quick_by_module:
            self.resolve()
            specs = self.session.plan(self.dtypes, properties=_check_properties(module), cases=self.cases)
            self.quick_by_module[module] = self.quick_ids(specs)
        return self.quick_by_module[module]

    def record(self, verdict: Verdict) -> None:
        if self.writer is None:
            self.writer = RecordsWriter(self.records_path)
            self.writer.write_header(self.header)
        self.writer.write(verdict)


_KEY = pytest.StashKey[_PluginState]()


def _costs(config: pytest.Config) -> CheckCosts | None:
    """The ``verigrad_costs`` table (relative to the ini file), or None; a usage error naming a bad file."""
    path = config.getini("verigrad_costs")
    if not path:
        return None
    if not os.path.isabs(path) and config.inipath is not None:
        path = str(config.inipath.parent / path)
    try:
        return CheckCosts.load(path)
    except ValueError as error:
        raise pytest.UsageError(f"verigrad_costs: {error}") from None


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = _PluginState(config)
    config.addinivalue_line("markers", "verigrad: a verigrad property check")
    config.addinivalue_line("markers", "verigrad_full_only: deselected by the quick selection (runs with --verigrad-full)")
    config.addinivalue_line("markers", "verigrad_cover(*params, rotate): under the quick selection, each value of the "
                            "first of params an item has runs with one value of rotate, taken in turn")


def _property_of(function_name: str) -> str:
    return function_name[len(PREFIX):] if function_name.startswith(PREFIX) else function_name


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "verigrad_check" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[_KEY]
    state.resolve()  # fail fast, at collection, with one clear line
    specs = state.session.plan(state.dtypes, properties=[_property_of(metafunc.function.__name__)], cases=state.cases)
    state.planned_checks += len(specs)
    if state.selection == "quick" and not _names_an_id_of(metafunc):
        # Only the quick checks become items: generating and then deselecting the other ~99 % cost each xdist
        # worker about 10 s of collection.  An id named on the command line still finds its check.
        keep = state.quick_ids_of_module(metafunc.module)
        specs = [spec for spec in specs if spec.id in keep]
    ids = [spec.id.split("[", 1)[1][:-1] for spec in specs]
    metafunc.parametrize("verigrad_spec", specs, ids=ids)


def _names_an_id_of(metafunc: pytest.Metafunc) -> bool:
    """Whether the command line names one parametrized id of this test function (``path::test_vjp[...]``)."""
    function = f"::{metafunc.function.__name__}["
    return any(function in arg for arg in metafunc.config.args)


def _check_properties(module: Any) -> list[str]:
    """The properties a test module checks: its test functions that take the ``verigrad_check`` fixture."""
    functions = [value for name, value in vars(module).items() if name.startswith(PREFIX) and callable(value)]
    return [_property_of(f.__name__) for f in functions if "verigrad_check" in inspect.signature(f).parameters]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``verigrad_selection = quick``, deselect the ``verigrad_cover`` items not in turn (never one named by id)."""
    session = config.stash[_KEY]
    checks = [item for item in items if "verigrad_spec" in getattr(getattr(item, "callspec", None), "params", {})]
    covered = _rotations(items, session.costs.of_engine if session.costs else lambda value: None)
    # Tests that run only in full runs (findings/ reproductions: minutes of engine time) are never the quick turn.
    covered.update({item: False for item in items if item.get_closest_marker("verigrad_full_only")})
    if not checks and not covered:
        return
    uncovered: list[pytest.Item] = []
    if session.selection == "quick":
        named = set(config.args)
        uncovered = [item for item, chosen in covered.items() if not chosen and item.nodeid not in named]
    if uncovered:
        gone = set(map(id, uncovered))
        items[:] = [item for item in items if id(item) not in gone]
        config.hook.pytest_deselected(items=uncovered)
    # Checks outside the quick selection were never made items (pytest_generate_tests): they count as left out.
    session.selected = (len(checks), max(session.planned_checks, len(checks))) if session.planned_checks else None
    session.covered = (len(covered) - len(uncovered), len(covered)) if covered else None
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints the counts
        workeroutput["verigrad_selected"] = [session.selected, session.covered]


def _rotations(items: list[pytest.Item], cost: Callable[[Any], float | None]) -> dict[pytest.Item, bool]:
    """Items marked ``verigrad_cover``: whether each is the turn of its group's value (see the module docstring).

    In each test function, the k-th distinct value of a group parameter (in collection order) takes the
    (k mod n)-th of the n values of ``rotate`` it is collected with, so every value of
    the group is run, and every value of ``rotate`` where each group value has them all
    (engines); where they differ (a case's arguments), each group value runs one of its own.
    Where ``cost(value)`` knows every rotated value (engines in a measured cost table), the turns are
    weighed instead: each value runs once, then the turn goes to the value whose turns so far cost
    least with this one added (uses × cost), round-robin order breaking ties, so a costly engine runs
    fewer of the group's values and every engine still runs.
    """
    marked = []
    for item in items:
        mark = item.get_closest_marker("verigrad_cover")
        params = getattr(getattr(item, "callspec", None), "params", {})
        group = next((name for name in (mark.args if mark else ()) if name in params), None)
        rotate = mark.kwargs.get("rotate") if mark else None
        if group is not None and rotate in params:
            function = (item.path, getattr(item, "originalname", item.name))  # each test function rotates on its own
            marked.append((item, (function, group, _identity(params[group])), _identity(params[rotate])))
    values: dict[tuple[Any, str, Any], dict[Any, None]] = {}  # the rotated values each group value has, in collection order
    for _, key, value in marked:
        values.setdefault(key, {})[value] = None
    turns: dict[tuple[Any, str, Any], Any] = {}
    per_group: Counter[tuple[Any, str]] = Counter()
    uses: Counter[tuple[Any, str, Any]] = Counter()
    for _, key, _ in marked:
        if key not in turns:
            rotated = list(values[key])
            k = per_group[key[:2]]
            costs = [cost(value) for value in rotated]
            if all(c is not None and c > 0 for c in costs):
                used = [uses[(*key[:2], value)] for value in rotated]
                loads = [(u > 0, (u + 1) * c, (i - k) % len(rotated)) for i, (u, c) in enumerate(zip(used, costs, strict=True))]
                turns[key] = rotated[loads.index(min(loads))]
            else:
                turns[key] = rotated[k % len(rotated)]
            uses[(*key[:2], turns[key])] += 1
            per_group[key[:2]] += 1
    return {item: value == turns[key] for item, key, value in marked}


def _identity(value: Any) -> Any:
    """A parameter value as a dict key: itself if hashable, else the object (the same object in every item)."""
    try:
        hash(value)
    except TypeError:
        return ("object", id(value))
    return value


def _selection_line(session: _PluginState) -> str | None:
    if session.selected is None and session.covered is None:
        return None
    kept, collected = session.selected or (0, 0)
    covered_kept, covered = session.covered or (0, 0)
    if session.selection == "full" or (kept, covered_kept) == (collected, covered):
        parts = [f"{collected} engine checks" if collected else "", f"{covered} items marked verigrad_cover" if covered else ""]
        return f"verigrad: all {' and '.join(filter(None, parts))} collected"
    parts = [
        f"{kept} of {collected} engine checks (every case, property, engine and dtype at least once; "
        "the others are not collected)" if collected else "",
        f"{covered_kept} of {covered} items marked verigrad_cover (taken in turn) or verigrad_full_only" if covered else "",
    ]
    left = collected - kept + covered - covered_kept
    return (f"verigrad: quick selection, {', and '.join(filter(None, parts))}; "
            f"the other {left} run with --verigrad-full")


def pytest_report_header(config: pytest.Config) -> str:
    session = config.stash[_KEY]
    if session.selection == "quick":
        return "verigrad: engine checks: the quick selection (verigrad_selection = quick); --verigrad-full runs all"
    return "verigrad: engine checks: all"


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    return _selection_line(config.stash[_KEY])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist's controller: every worker collected the same items, so any worker's counts are the run's."""
    counts = getattr(node, "workeroutput", {}).get("verigrad_selected")
    if counts is not None:
        session = node.config.stash[_KEY]
        session.selected, session.covered = (tuple(c) if c else None for c in counts)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    line = _selection_line(config.stash[_KEY])
    if line:
        terminalreporter.write_line(line)


class CheckRunner:
    """What a suite test gets: run its check, record the verdict, assert it is as expected."""

    def __init__(self, spec: CheckSpec, state: _PluginState) -> None:
        self.spec = spec
        self.state = state

    def run(self) -> Verdict:
        self.state.resolve()
        verdict = self.state.session.run_one(self.spec)
        expect.apply(self.state.expectations, verdict, self.state.used)
        self.state.record(verdict)
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


@pytest.fixture
def verigrad_gradients(request: pytest.FixtureRequest) -> Any:
    """``assert_gradients`` for your own functions, with this run's options and records.

    ``verigrad_gradients(fn, inputs, engine="torch", **options)`` runs
    :func:`verigrad.check_function` (``--verigrad-seed``, ``--verigrad-examples``
    and ``--verigrad-mode`` as defaults), writes its verdicts to the run's
    records (and so to ``--verigrad-report``), and fails the test with each
    failure's diagnosis and reproduction.
    """
    from verigrad.api import check_function, failure_report

    state = request.config.stash[_KEY]
    option = request.config.getoption

    def check(fn: Any, inputs: Any, engine: Any = "torch", **options: Any) -> Any:
        defaults = {"seed": option("--verigrad-seed"), "mode": option("--verigrad-mode")}
        if option("--verigrad-examples") is not None:
            defaults["examples"] = option("--verigrad-examples")
        result = check_function(fn, inputs, engine, **{**defaults, **options})
        for verdict in result.verdicts:
            state.record(verdict)
        if not result.passed:
            pytest.fail(failure_report(result, fn), pytrace=False)
        return result

    return check


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
    if parts or state.writer is not None:
        _write_run_summary(state.final_records)
    deselected = any(counts is not None and counts[0] < counts[1] for counts in (state.selected, state.covered))
    # With checks deselected, or none run (--collect-only), a line that matched nothing may match a check not run.
    ran_none = session.config.option.collectonly
    for stale in [] if deselected or ran_none else expect.unused(state.expectations, state.used, list(state.engines_by_name or {})):
        print(f"\nverigrad: warning: expectation line {stale.line} ({stale.case} {stale.engine}) matched no check")
    report = session.config.getoption("--verigrad-report")
    if report and state.final_records.exists():
        from verigrad.report import write_report

        headers, verdicts = read_records([state.final_records])
        path = write_report(headers, verdicts, report)
        print(f"\nverigrad: HTML report {path}")


def _write_run_summary(records: Path) -> None:
    """The run's footer (root causes across its checks), appended once every verdict is in."""
    _, verdicts = read_records([records])
    with RecordsWriter(records, append=True) as writer:
        writer.write_summary(summary_record(verdicts))


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
