"""The ``verigrad`` command: ``check`` engines, ``verify`` closed forms, list ``cases``, rebuild a ``report``.

Exit status of ``check``: 0 every verdict as expected; 1 a wrong gradient or an
unexpected outcome; 2 a usage error or an engine that cannot be loaded.  Of
``verify``: 0 every case proved (or passed); 1 a mismatch or an unsupported case.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from verigrad import expectations as expect
from verigrad.catalogs import CatalogError, load_catalogs
from verigrad.compare import failed_verdict, new_verdict
from verigrad.diagnosis import Diagnosis
from verigrad.dtypes import KNOWN_DTYPES
from verigrad.exhibits import fd_step_scan
from verigrad.junit import write_junit
from verigrad.oracles import DEFAULT_ENGINES, EngineLoadError
from verigrad.parallel import WorkerError
from verigrad.records import RecordsError, RecordsWriter, Verdict, read_records, rewrite_records
from verigrad.reference import CASES
from verigrad.rootcause import summary_record
from verigrad.runner import DTYPES, PROFILES, CheckSpec, groups, shard
from verigrad.scale import check_at_scale, scale_label, scale_plan
from verigrad.session import Session, Settings
from verigrad.summary import print_summary
from verigrad.tolerance import MODES, PROBABILISTIC

DEFAULT_RECORDS = Path("reports/records.jsonl")
DEFAULT_REPORT = Path("reports/index.html")



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
    check.add_argument("--catalog", action="append", metavar="MODULE",
                       help="a module defining CASES (your own verigrad.reference.Case rows), checked beside the built-in catalog")
    check.add_argument("--properties", metavar="NAMES", help="comma list of properties (default: all)")
    check.add_argument("--dtype", type=_dtypes, default=list(DTYPES), metavar="float64,float32")
    check.add_argument("--examples", type=_positive(int), metavar="N", help="examples per check (overrides the profile)")
    check.add_argument("--seed", type=int, metavar="S", help="hypothesis seed (random inputs, reproducible)")
    check.add_argument("--profile", choices=sorted(PROFILES), default="dev")
    check.add_argument("--mode", choices=MODES, default=PROBABILISTIC, help="tolerance mode (default: %(default)s)")
    check.add_argument("--no-shrink", action="store_true",
                       help="report each failure at the example that found it, not shrunk to a minimal one (faster triage)")
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

    verify = commands.add_parser("verify", help="prove cases' closed forms from their primals (sympy), or check them exactly")
    verify.add_argument("--catalog", action="append", metavar="MODULE",
                        help="a module defining CASES (your own verigrad.reference.Case rows); default: the built-in catalog")
    verify.add_argument("--cases", metavar="PATTERN", help="comma list of case-id globs, e.g. 'mypkg.*'")
    verify.add_argument("--method", choices=("symbolic", "exact", "numeric"), default="symbolic",
                        help="symbolic: a sympy proof; exact: exact arithmetic at drawn points; "
                             "numeric: finite differences (default: %(default)s)")
    verify.add_argument("--examples", type=_positive(int), default=20, metavar="N", help="points of exact and numeric")
    verify.add_argument("--seed", type=int, default=0, metavar="S", help="hypothesis seed of exact and numeric")

    commands.add_parser("cases", help="print the case ids, one per line")
    commands.add_parser("errata", help="show each mistake of the paper (the seed document) with its counterexample")

    report = commands.add_parser("report", help="rebuild the summary (and HTML report) from records files")
    report.add_argument("records", nargs="+", metavar="RECORDS", help="records files; several (shards) are merged")
    report.add_argument("--report", metavar="PATH", default=str(DEFAULT_REPORT), help="HTML report (default: %(default)s)")
    report.add_argument("--no-report", action="store_true")
    report.add_argument("--junit", metavar="PATH")
    return parser


def _progress(console: Console, total: int) -> Any:
    if console.is_terminal:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
    return None


def _write_report(headers: list[dict[str, Any]], verdicts: list[Verdict], path: str, console: Console) -> None:
    """The HTML report, drawn from records alone."""
    from verigrad.report import write_report

    written = write_report(headers, verdicts, path)
    console.print(f"HTML report: {written}", markup=False)


def _recorded(path: str, verdicts: list[Verdict]) -> tuple[list[dict[str, Any]], list[Verdict]]:
    """The run as its records file holds it, verdicts in ``verdicts``' (plan) order: what ``verigrad report`` reads."""
    headers, recorded = read_records([path])
    position = {v.check_id: k for k, v in enumerate(verdicts)}
    return headers, sorted(recorded, key=lambda v: position.get(v.check_id, len(position)))


def command_check(args: argparse.Namespace, console: Console) -> int:
    try:
        session = Session.load(args.engines or list(DEFAULT_ENGINES), _settings(args),
                               {"device": args.device} if args.device else {})
    except EngineLoadError as error:
        print(f"verigrad: error: {error}", file=sys.stderr)
        return 2
    run = _plan_run(args, session)
    expectations = expect.parse(args.expect) if args.expect else []
    used: set[int] = set()
    header = _header(args, session, run)
    verdicts = _run_and_record(args, session, run, header, expectations, used, console)
    with RecordsWriter(args.records, append=True) as records:
        records.write_summary(summary_record(verdicts))  # the footer: what the report shows across checks
    print_summary(verdicts, console)
    for stale in expect.unused(expectations, used, session.names):
        console.print(f"warning: {args.expect}:{stale.line}: expectation '{stale.case} {stale.engine} {stale.dtype} "
                      f"{stale.verdict}' matched no check", markup=False)
    console.print(f"records: {args.records}", markup=False)
    if args.junit:
        console.print(f"JUnit XML: {write_junit(verdicts, args.junit)}", markup=False)
    if not args.no_report:
        _write_report(*_recorded(args.records, verdicts), args.report, console)
    return 0 if all(v.as_expected for v in verdicts) else 1


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(args.profile, args.seed, args.examples, args.timeout, args.mode, shrink=not args.no_shrink)


@dataclass(frozen=True)
class PlannedRun:
    """What a ``verigrad check`` runs: property checks in plan order, or (``--scale``) one call per scale check."""

    labels: list[str]
    specs: list[CheckSpec] | None = None
    scale_checks: list[Callable[[], Verdict]] | None = None
    jobs: int = 1


def _plan_run(args: argparse.Namespace, session: Session) -> PlannedRun:
    """The checks the options select (a shard takes whole checks) and how many workers run them."""
    if args.scale:
        planned = _scale_checks(args, session)
        planned = shard(planned, *args.shard) if args.shard else planned
        run = PlannedRun([label for label, _ in planned], scale_checks=[check for _, check in planned])
    else:
        checks = groups(_property_specs(args, session))  # each check with its engines (they share its examples)
        specs = [spec for check in (shard(checks, *args.shard) if args.shard else checks) for spec in check]
        run = PlannedRun([f"{spec.engine} {spec.dtype} {spec.case}" for spec in specs], specs,
                         # --scale runs serially; so does --catalog (worker processes know only the built-in cases).
                         jobs=min(args.jobs, len(groups(specs))) if specs and not args.catalog else 1)
    if not run.labels:
        raise UsageError(f"no checks match --cases {args.cases!r}")
    return run


def _header(args: argparse.Namespace, session: Session, run: PlannedRun) -> dict[str, Any]:
    """The run header of the records file (see docs/reference/records.md)."""
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["verigrad", *sys.argv[1:]]) if sys.argv else "verigrad check",
        "engines": session.names,
        "engine_sources": session.source_of,
        "seed": args.seed if args.seed is not None else PROFILES[args.profile]["seed"],
        "profile": args.profile,
        "mode": args.mode,
        "examples": args.examples or PROFILES[args.profile]["max_examples"],
        "shrink": not args.no_shrink,
        "shard": list(args.shard) if args.shard else None,
        "checks": len(run.labels),
        "scale": args.scale,
        "jobs": run.jobs,
        "versions": session.versions(),
        "fd_steps": fd_step_scan(),
    }


def _run_and_record(
    args: argparse.Namespace, session: Session, run: PlannedRun, header: dict[str, Any],
    expectations: list[expect.Expectation], used: set[int], console: Console,
) -> list[Verdict]:
    """Run every check, recording each verdict as it is decided; the verdicts in plan order."""
    labels = run.labels
    slots: list[Verdict | None] = [None] * len(labels)  # by plan position, whatever order they finish in
    progress = _progress(console, len(labels))
    with RecordsWriter(args.records) as records:
        records.write_header(header)
        task = progress.add_task("checking", total=len(labels)) if progress else None
        if progress:
            progress.start()
        try:
            with closing(_verdicts(session, run)) as decided:
                for finished, (index, verdict) in enumerate(decided, 1):
                    expect.apply(expectations, verdict, used)
                    records.write(verdict)
                    slots[index] = verdict
                    if progress:
                        progress.update(task, advance=1, description=escape(labels[index]))
                    else:
                        mark = "ok" if verdict.as_expected else "UNEXPECTED"
                        print(f"[{finished}/{len(labels)}] {verdict.check_id} {verdict.status} ({mark})", flush=True)
        except WorkerError as error:
            raise UsageError(str(error)) from None
        finally:
            if progress:
                progress.stop()
    decided_in_order = [v for v in slots if v is not None]
    if run.jobs > 1 and len(decided_in_order) == len(labels):
        # Workers finish out of order; once every check is in, the file holds them in plan order,
        # so `verigrad report` draws the very page this command draws.
        rewrite_records(args.records, header, decided_in_order)
    return decided_in_order


def _verdicts(session: Session, run: PlannedRun) -> Iterator[tuple[int, Verdict]]:
    """(plan position, verdict) as each is decided (in worker processes with --jobs)."""
    if run.specs is not None:
        with closing(session.run(run.specs, run.jobs)) as results:
            yield from results
        return
    for index, check in enumerate(run.scale_checks or ()):
        try:
            verdict = check()
        except Exception as error:  # verigrad's own fault: the verdict says so, and the other checks still run
            verdict = _crashed_scale_check(check, run.labels[index], error)
        yield index, verdict


def _crashed_scale_check(check: partial, label: str, error: Exception) -> Verdict:
    """A failed ``crashed`` verdict for a scale check during which verigrad itself raised."""
    case, arg, engine, dtype, n = check.args[:5]
    name = getattr(engine, "name", type(engine).__name__)
    label = scale_label(n, check.keywords.get("params") or {}, check.keywords.get("inputs", "uniform"))
    verdict = new_verdict("scale", case, arg, name, dtype, check.args[6], label)
    where = traceback.extract_tb(error.__traceback__)[-1]
    return failed_verdict(verdict, Diagnosis(
        "crashed", f"verigrad raised {type(error).__name__} checking {label}: {error} (at {Path(where.filename).name}:"
                   f"{where.lineno}); a bug of verigrad's, not of {name}: please report it"))


def _property_specs(args: argparse.Namespace, session: Session) -> list[CheckSpec]:
    """Every property check the options select, in plan order."""
    properties = [p.strip() for p in args.properties.split(",")] if args.properties else None
    try:
        return session.plan(args.dtype, properties, args.cases, (*CASES, *load_catalogs(args.catalog)))
    except (ValueError, CatalogError) as error:
        raise UsageError(str(error)) from None


def _scale_checks(args: argparse.Namespace, session: Session) -> list[tuple[str, Callable[[], Verdict]]]:
    """(label, check) for one structure-aware check at size n per (case, argument, engine, dtype) (``--scale N``)."""
    return [
        (f"{engine} {dtype} {case} n={args.scale}" + (f" {inputs} inputs" if inputs != "uniform" else ""),
         partial(check_at_scale, case, arg, session.engines[engine], dtype, args.scale, args.seed or 0, args.mode,
                 params=params, inputs=inputs, timeout=args.timeout))
        for case, arg, engine, dtype, params, inputs in scale_plan(session.names, args.dtype, args.cases)
    ]


def command_verify(args: argparse.Namespace, console: Console) -> int:
    """Each selected case: PROVED / PASSED, MISMATCH with a counterexample, or UNSUPPORTED with the reason."""
    # sympy takes a second to import: only `verify` pays for it.
    from verigrad.prove import numeric_proof, prove_case

    try:
        catalog = load_catalogs(args.catalog) if args.catalog else CASES
    except CatalogError as error:
        raise UsageError(str(error)) from None
    patterns = [p.strip() for p in (args.cases or "*").split(",")]
    cases = [case for case in catalog if any(fnmatch.fnmatchcase(case.id, p) for p in patterns)]
    if not cases:
        raise UsageError(f"no cases match --cases {args.cases!r}")
    statuses = []
    for case in cases:
        if args.method == "numeric":
            proof = numeric_proof(case, args.examples, args.seed)
        else:
            proof = prove_case(case, args.method, examples=args.examples, seed=args.seed)
        print(proof, flush=True)
        statuses.append(proof.status)
    print(", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses)), flush=True)
    return 0 if set(statuses) <= {"proved", "passed"} else 1


def command_cases(args: argparse.Namespace, console: Console) -> int:
    for case in CASES:
        print(case.id)
    return 0


def command_errata(args: argparse.Namespace, console: Console) -> int:
    """Each erratum of the paper: where, what the paper says, what is right, and the numbers that tell them apart."""
    from rich.table import Table

    from verigrad.reference import ERRATA, demonstrate

    table = Table(title="the paper's errata, each shown by a counterexample", show_lines=True)
    for column in ("erratum", "the paper says", "right", "counterexample", "paper's value", "right value"):
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


COMMANDS = {"check": command_check, "verify": command_verify, "cases": command_cases, "errata": command_errata, "report": command_report}


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
    except BrokenPipeError:
        # The reader went away (`verigrad cases | head`): not an error of verigrad's; keep Python's exit quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
