"""The ``verigrad`` command: ``check`` engines, list ``cases``, rebuild a ``report`` from records.

Exit status of ``check``: 0 every verdict as expected; 1 a wrong gradient or an
unexpected outcome; 2 a usage error or an engine that cannot be loaded.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from verigrad import expectations as expect
from verigrad.dtypes import KNOWN_DTYPES
from verigrad.junit import write_junit
from verigrad.oracles import DEFAULT_ENGINES, EngineLoadError, load_engine
from verigrad.parallel import WorkerError, run_parallel
from verigrad.records import RecordsError, RecordsWriter, Verdict, read_records
from verigrad.reference import CASES
from verigrad.runner import DTYPES, PROFILES, CheckSpec, groups, plan, run_group, shard
from verigrad.summary import print_summary
from verigrad.tolerance import MODES, PROBABILISTIC

DEFAULT_RECORDS = Path("reports/records.jsonl")
DEFAULT_REPORT = Path("reports/index.html")

#: The library each built-in engine wraps, for the versions in the run header.
ENGINE_PACKAGES = {"jax": "jax", "torch": "torch", "autograd": "autograd", "mygrad": "mygrad", "tinygrad": "tinygrad"}


class UsageError(Exception):
    """Bad command-line input; printed as one line, exit status 2."""


def _dtypes(text: str) -> list[str]:
    dtypes = [d.strip() for d in text.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in KNOWN_DTYPES]
    if bad or not dtypes:
        raise argparse.ArgumentTypeError(f"unknown dtype(s) {bad or text!r}; use a comma list of {', '.join(KNOWN_DTYPES)}")
    return dtypes


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/k (e.g. 1/4), got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 1 <= i <= k")
    return index, count


def _jobs(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a positive integer or 'auto', got {text!r}")
    return value


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verigrad", description="Verified gradient checks against closed-form derivatives.")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="check engines against the reference")
    check.add_argument("engines", nargs="*", metavar="ENGINE",
                       help=f"built-in name or module:attribute (default: {' '.join(DEFAULT_ENGINES)})")
    check.add_argument("--cases", metavar="PATTERN", help="comma list of case-id globs, e.g. 'elementwise.*,loss.*'")
    check.add_argument("--properties", metavar="NAMES", help="comma list of properties (default: all)")
    check.add_argument("--dtype", type=_dtypes, default=list(DTYPES), metavar="float64,float32")
    check.add_argument("--examples", type=_positive(int), metavar="N", help="examples per check (overrides the profile)")
    check.add_argument("--seed", type=int, metavar="S", help="hypothesis seed (random inputs, reproducible)")
    check.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    check.add_argument("--mode", choices=MODES, default=PROBABILISTIC, help="tolerance mode (default: %(default)s)")
    check.add_argument("--expect", metavar="FILE", help="expected outcomes: lines 'CASE ENGINE [DTYPE] VERDICT  # reason'")
    check.add_argument("--records", metavar="PATH", default=str(DEFAULT_RECORDS), help="JSON-lines records (default: %(default)s)")
    check.add_argument("--junit", metavar="PATH", help="also write JUnit XML")
    check.add_argument("--report", metavar="PATH", default=str(DEFAULT_REPORT), help="HTML report (default: %(default)s)")
    check.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    check.add_argument("--timeout", type=_positive(float), metavar="SECONDS", default=60.0, help="limit per check (default: %(default)s)")
    check.add_argument("--shard", type=_shard, metavar="i/k", help="run only the i-th of k interleaved shards")
    check.add_argument("--device", metavar="DEVICE",
                       help="run the engines on this device (jax: cpu/gpu/tpu, torch: cpu/cuda/...): engines must accept it")
    check.add_argument("--scale", type=_positive(int), metavar="N",
                       help="structure-aware checks at size N (e.g. 1000000) instead of the property suite")
    jobs_help = "run the checks in N worker processes ('auto': one per CPU; default 1: this process); --scale: serial"
    check.add_argument("-j", "--jobs", type=_jobs, default=1, metavar="N", help=jobs_help)

    commands.add_parser("cases", help="print the case ids, one per line")
    commands.add_parser("errata", help="show each of the seed's mistakes with its counterexample")

    report = commands.add_parser("report", help="rebuild the summary (and HTML report) from records files")
    report.add_argument("records", nargs="+", metavar="RECORDS", help="records files; several (shards) are merged")
    report.add_argument("--report", metavar="PATH", default=str(DEFAULT_REPORT), help="HTML report (default: %(default)s)")
    report.add_argument("--no-report", action="store_true")
    report.add_argument("--junit", metavar="PATH")
    return parser


def _versions(source_of: dict[str, str]) -> dict[str, str]:
    """Python's, numpy's and each engine's version (by the engine's name)."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        versions["verigrad"] = metadata.version("verigrad")
    except metadata.PackageNotFoundError:
        pass
    for name, source in source_of.items():
        package = ENGINE_PACKAGES.get(source)
        if package is None:
            versions[name] = f"user engine ({source})"
            continue
        try:
            versions[name] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _progress(console: Console, total: int) -> Any:
    if console.is_terminal:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    return None


def _write_report(
    headers: list[dict[str, Any]], verdicts: list[Verdict], path: str, console: Console, engines: dict[str, Any] | None = None
) -> None:
    """The HTML report; with the run's engines at hand it draws their full Jacobians at failures."""
    from verigrad.report import write_report

    written = write_report(headers, verdicts, path, engines=engines)
    console.print(f"HTML report: {written}", markup=False)


def command_check(args: argparse.Namespace, console: Console) -> int:
    sources = args.engines or list(DEFAULT_ENGINES)
    engines: dict[str, Any] = {}  # by the name each engine gives itself
    source_of: dict[str, str] = {}
    for source in sources:
        try:
            engine = load_engine(source, **({"device": args.device} if args.device else {}))
        except EngineLoadError as error:
            print(f"verigrad: error: {error}", file=sys.stderr)
            return 2
        name = str(engine.name)
        if name in engines:
            raise UsageError(f"engines {source_of[name]!r} and {source!r} both call themselves {name!r}")
        engines[name], source_of[name] = engine, source
    names = list(engines)
    specs = None if args.scale else _property_specs(args, engines)
    if specs is not None:  # whole checks, each with its engines together (they share its examples)
        checks = groups(specs)
        specs = [spec for group in (shard(checks, *args.shard) if args.shard else checks) for spec in group]
    units = _scale_units(args, engines) if specs is None else _property_units(args, specs, engines, source_of)
    if args.shard and specs is None:
        units = shard(units, *args.shard)
    if not units:
        raise UsageError(f"no checks match --cases {args.cases!r}")
    total = sum(len(unit.labels) for unit in units)
    workers = min(args.jobs, len(units)) if specs is not None else 1  # --scale runs serially
    expectations = expect.parse(args.expect) if args.expect else []
    used: set[int] = set()
    header = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["verigrad", *sys.argv[1:]]) if sys.argv else "verigrad check",
        "engines": names,
        "engine_sources": source_of,
        "seed": args.seed if args.seed is not None else PROFILES[args.profile]["seed"],
        "profile": args.profile,
        "mode": args.mode,
        "examples": args.examples or PROFILES[args.profile]["max_examples"],
        "shard": list(args.shard) if args.shard else None,
        "checks": total,
        "scale": args.scale,
        "jobs": workers,
        "versions": _versions(source_of),
    }
    slots: list[Verdict | None] = [None] * total  # by plan position, whatever order they finish in
    labels = [label for unit in units for label in unit.labels]
    progress = _progress(console, total)
    with RecordsWriter(args.records) as records:
        records.write_header(header)
        task = progress.add_task("checking", total=total) if progress else None
        finished = 0

        def record(index: int, verdict: Verdict) -> None:
            nonlocal finished
            expect.apply(expectations, verdict, used)
            records.write(verdict)
            slots[index] = verdict
            finished += 1
            if progress:
                progress.update(task, advance=1, description=escape(labels[index]))
            else:
                mark = "ok" if verdict.as_expected else "UNEXPECTED"
                print(f"[{finished}/{total}] {verdict.check_id} {verdict.status} ({mark})", flush=True)

        if progress:
            progress.start()
        try:
            if workers > 1:
                options = {"device": args.device} if args.device else {}
                results = run_parallel(
                    specs,
                    source_of,
                    workers,
                    options=options,
                    profile=args.profile,
                    seed=args.seed,
                    max_examples=args.examples,
                    timeout=args.timeout,
                    mode=args.mode,
                )
                with closing(results):
                    for index, verdict in results:
                        record(index, verdict)
            else:
                index = 0
                for unit in units:
                    for verdict in unit.run():
                        record(index, verdict)
                        index += 1
        except WorkerError as error:
            raise UsageError(str(error)) from None
        finally:
            if progress:
                progress.stop()
    verdicts = [v for v in slots if v is not None]
    print_summary(verdicts, console)
    for stale in expect.unused(expectations, used, names):
        console.print(f"warning: {args.expect}:{stale.line}: expectation '{stale.case} {stale.engine} {stale.dtype} "
                      f"{stale.verdict}' matched no check", markup=False)
    console.print(f"records: {args.records}", markup=False)
    if args.junit:
        console.print(f"JUnit XML: {write_junit(verdicts, args.junit)}", markup=False)
    if not args.no_report:
        _write_report([header], verdicts, args.report, console, engines)
    return 0 if all(v.as_expected for v in verdicts) else 1


@dataclass(frozen=True)
class Unit:
    """Checks run together: one check on several engines (sharing examples), or one check at scale."""

    labels: list[str]
    run: Callable[[], list[Verdict]]


def _property_specs(args: argparse.Namespace, engines: dict[str, Any]) -> list[CheckSpec]:
    """Every property check the options select, in plan order."""
    properties = [p.strip() for p in args.properties.split(",")] if args.properties else None
    try:
        return plan(list(engines), args.dtype, CASES, properties, args.cases)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _property_units(
    args: argparse.Namespace, specs: list[CheckSpec], engines: dict[str, Any], source_of: dict[str, str]
) -> list[Unit]:
    """One unit per check, its engines sharing hypothesis's examples (the default run)."""
    return [
        Unit([f"{spec.engine} {spec.dtype} {spec.case}" for spec in group],
             partial(run_group, group, engines, args.profile, seed=args.seed, max_examples=args.examples,
                     timeout=args.timeout, mode=args.mode, sources=source_of))
        for group in groups(specs)
    ]


def _scale_units(args: argparse.Namespace, engines: dict[str, Any]) -> list[Unit]:
    """One structure-aware check at size n per (case, argument, engine, dtype) (``--scale N``)."""
    from verigrad.scale import check_at_scale, scale_plan

    def one(case: str, arg: str, engine: str, dtype: str) -> list[Verdict]:
        return [check_at_scale(case, arg, engines[engine], dtype, args.scale, args.seed or 0, args.mode, timeout=args.timeout)]

    return [
        Unit([f"{engine} {dtype} {case} n={args.scale}"], partial(one, case, arg, engine, dtype))
        for case, arg, engine, dtype in scale_plan(list(engines), args.dtype, args.cases)
    ]


def command_cases(args: argparse.Namespace, console: Console) -> int:
    for case in CASES:
        print(case.id)
    return 0


def command_errata(args: argparse.Namespace, console: Console) -> int:
    """Each seed erratum: where, what the seed says, what is right, and the numbers that tell them apart."""
    from rich.table import Table

    from verigrad.reference import ERRATA, demonstrate

    table = Table(title="the seed's errata, each shown by a counterexample", show_lines=True)
    for column in ("erratum", "the seed says", "right", "counterexample", "seed's value", "right value"):
        table.add_column(column, overflow="fold")
    demonstrated = 0
    for erratum in ERRATA:
        shown = demonstrate(erratum)
        inputs = ", ".join(f"{k}={np.asarray(v).tolist()}" for k, v in erratum.counterexample.items())
        table.add_row(
            escape(f"{erratum.id} ({erratum.section})"), escape(erratum.wrong_statement), escape(erratum.right_statement),
            escape(inputs), escape(np.array2string(shown["wrong"], precision=6)), escape(np.array2string(shown["right"], precision=6)),
        )
        demonstrated += shown["max_abs_diff"] > shown["rounding_bound"]
    console.print(table)
    console.print(f"{demonstrated} of {len(ERRATA)} errata differ from the reference beyond its rounding bound at their counterexample")
    return 0 if demonstrated == len(ERRATA) else 1


def command_report(args: argparse.Namespace, console: Console) -> int:
    headers, verdicts = read_records(args.records)
    if not verdicts:
        raise UsageError(f"no verdicts in {', '.join(args.records)}")
    print_summary(verdicts, console)
    if args.junit:
        console.print(f"JUnit XML: {write_junit(verdicts, args.junit)}", markup=False)
    if not args.no_report:
        _write_report(headers, verdicts, args.report, console)
    return 0 if all(v.as_expected for v in verdicts) else 1


COMMANDS = {"check": command_check, "cases": command_cases, "errata": command_errata, "report": command_report}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``verigrad`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Not a terminal (CI logs): a fixed width so the tables are not squeezed to 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    try:
        return COMMANDS[args.command](args, console)
    except (UsageError, expect.ExpectationsError, RecordsError) as error:
        print(f"verigrad: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("verigrad: interrupted; finished verdicts are in the records file", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
