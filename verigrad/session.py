"""One session: the engines of a run, loaded once, and the checks planned and run for them.

The CLI, the pytest plugin, the scale checks and the worker processes of
``--jobs`` all load engines here (:meth:`Session.load`, the one caller of
:func:`verigrad.oracles.load_engine`), and run checks here, serially or in worker
processes (:meth:`Session.run`).
"""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from verigrad.oracles import LIBRARIES, EngineLoadError, load_engine
from verigrad.parallel import run_parallel
from verigrad.records import Verdict
from verigrad.reference import CASES, Case
from verigrad.runner import DTYPES, CheckSpec, crashed, groups, plan, run_check, run_group
from verigrad.tolerance import PROBABILISTIC

__all__ = ["EngineLoadError", "Session", "Settings", "load_one"]


@dataclass(frozen=True)
class Settings:
    """How every check of a session runs: hypothesis profile and seed, examples, time limit, tolerance mode,
    and whether a failure is shrunk to a minimal counterexample (False: reported as first drawn)."""

    profile: str = "dev"
    seed: int | None = None
    max_examples: int | None = None
    timeout: float | None = None
    mode: str = PROBABILISTIC
    shrink: bool = True


def load_one(source: str, options: Mapping[str, Any] | None = None) -> tuple[str, Any]:
    """The engine named by ``source`` (built-in name or ``module:attribute``) and the name it gives itself."""
    engine = load_engine(source, **dict(options or {}))
    return str(engine.name), engine


@dataclass
class Session:
    """Engines by the names they give themselves, how each was loaded, and the settings of their checks."""

    engines: dict[str, Any]
    source_of: dict[str, str]
    settings: Settings = field(default_factory=Settings)
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, sources: Iterable[str], settings: Settings | None = None, options: Mapping[str, Any] | None = None) -> Session:
        """Load each engine once; :class:`EngineLoadError` names the one that failed or two with one name."""
        engines: dict[str, Any] = {}
        source_of: dict[str, str] = {}
        for source in sources:
            name, engine = load_one(source, options)
            if name in engines:
                raise EngineLoadError(f"engines {source_of[name]!r} and {source!r} both call themselves {name!r}")
            engines[name], source_of[name] = engine, source
        return cls(engines, source_of, settings or Settings(), dict(options or {}))

    @property
    def names(self) -> list[str]:
        return list(self.engines)

    def plan(
        self,
        dtypes: Iterable[str] = DTYPES,
        properties: Iterable[str] | None = None,
        case_pattern: str | None = None,
        cases: Iterable[Case] = CASES,
    ) -> list[CheckSpec]:
        """Every check of these engines the options select, in plan order (ValueError for an unknown property)."""
        return plan(self.names, dtypes, cases, properties, case_pattern)

    def run_one(self, spec: CheckSpec) -> Verdict:
        """One check on its own engine (hypothesis shrinks a failure)."""
        return run_check(spec, self.engines[spec.engine], source=self.source_of[spec.engine], **asdict(self.settings))

    def run_check_group(self, specs: list[CheckSpec]) -> list[Verdict]:
        """One check on several engines sharing its examples (:func:`~verigrad.runner.run_group`).

        Where verigrad itself raises, each engine's verdict is ``crashed`` with what raised, and the run goes on.
        """
        try:
            return run_group(specs, self.engines, sources=self.source_of, **asdict(self.settings))
        except Exception as error:  # verigrad's own fault: the verdicts say so, and the other checks still run
            return [crashed(spec, error, self.settings.mode) for spec in specs]

    def run(self, specs: Sequence[CheckSpec], jobs: int = 1) -> Iterator[tuple[int, Verdict]]:
        """``(index into specs, verdict)`` for every spec: serially in plan order, or in ``jobs`` worker processes
        as they finish (each worker loads its own engines; close the iterator to stop them)."""
        specs = list(specs)
        if jobs > 1:
            load = partial(Session.load, list(self.source_of.values()), self.settings, self.options)
            yield from run_parallel(specs, jobs, load, self.names, timeout=self.settings.timeout, mode=self.settings.mode)
            return
        position = {id(spec): index for index, spec in enumerate(specs)}
        for check in groups(specs):
            for spec, verdict in zip(check, self.run_check_group(check), strict=True):
                yield position[id(spec)], verdict

    def versions(self) -> dict[str, str]:
        """Python's, numpy's, verigrad's (and its git commit, from a checkout) and each engine's library version
        (by the engine's name)."""
        versions = {"python": platform.python_version(), "numpy": np.__version__}
        versions.update(_installed("verigrad"))
        commit = source_commit()
        if commit:
            versions["verigrad commit"] = commit
        for name, source in self.source_of.items():
            library = LIBRARIES.get(source)
            if library is None:
                versions[name] = f"user engine ({source})"
                continue
            version = _installed(library).get(library, "not installed")
            versions[name] = version if library == source else f"{library} {version}"  # fd: "numpy 2.x"
        return versions


@cache
def source_commit() -> str | None:
    """The git commit of the verigrad code running, ``+modified`` where its tracked files differ from it; None
    outside a git checkout (an installed wheel).  Records carry it, so a verdict read later can be told apart
    from one the current code would give (a hunt resumed over several sittings, a pin newer than the run)."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *argv], capture_output=True, text=True, timeout=10, check=False)

    try:
        top = git("rev-parse", "--show-toplevel")
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root:
            return None  # installed into site-packages, perhaps inside some other project's repository
        head = git("rev-parse", "--verify", "HEAD")
        changed = git("diff", "--quiet", "HEAD", "--", "verigrad", "reference", "oracles").returncode != 0
    except (OSError, subprocess.SubprocessError):  # no git here, or it hung
        return None
    return head.stdout.strip()[:12] + ("+modified" if changed else "")


def _installed(package: str) -> dict[str, str]:
    try:
        return {package: metadata.version(package)}
    except metadata.PackageNotFoundError:
        return {}
