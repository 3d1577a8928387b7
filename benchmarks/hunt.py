"""The bug hunt: everything verigrad has, on every installed built-in engine, several seeds, ci profile.

    python benchmarks/hunt.py --estimate          # run a 1/60 slice, extrapolate the wall time (minutes)
    python benchmarks/hunt.py --dry-run           # the verigrad commands, one per line (spread them over machines)
    python benchmarks/hunt.py                     # the whole hunt (hours on 2 cores) -> reports/hunt/
    python benchmarks/hunt.py --part 2/3          # this machine's third of the commands; merge with --merge-only
    python benchmarks/hunt.py --cases '*_native' --out reports/hunt-native   # cases a finished hunt lacked
    python benchmarks/hunt.py --merge-only --also reports/hunt-native        # one report and summary of both

Three stages, each a list of sharded ``verigrad check`` runs (records in ``reports/hunt/``):

* ``property``: every case and property, every dtype, ``--profile ci`` under each ``--seeds`` seed;
* ``large``: the same with ``--examples`` large draws (first seed only);
* ``scale``: ``--scale N`` for N in ``--sizes`` (10⁵ and 10⁶).

Engines and dtypes are those wanted *and* available: a wanted engine that is not a built-in name
yet (``jax-jit``, ``torch-compile``, ``mlx`` before they land) or cannot be loaded, or a dtype the
harness does not know yet (``float16``, ``bfloat16``), is skipped and said so — the same command
picks them up once they exist.  Known engine bugs are pinned by ``oracles/known_outcomes.txt``, so
an unexpected outcome is news: it goes to ``findings/`` (docs/guide/bug-hunt.md).  The records are
merged by ``verigrad report`` into ``reports/hunt/index.html`` and ``junit.xml``;
``reports/hunt/summary.json`` counts checks per engine × dtype and lists every unexpected outcome.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from verigrad.dtypes import KNOWN_DTYPES
from verigrad.oracles.registry import BUILTIN_ENGINES, EngineLoadError, load_engine
from verigrad.records import read_records

ROOT = Path(__file__).resolve().parent.parent
KNOWN_OUTCOMES = ROOT / "oracles" / "known_outcomes.txt"
#: Which planned runs have completed, in which sitting, with their counts: the records live in reports/ (not kept),
#: and a hunt on machines that do not outlast a sitting is whole only as a ledger of its sittings.
LEDGER = ROOT / "benchmarks" / "results" / "hunt-ledger.json"
WANTED_ENGINES = ("jax", "jax-jit", "torch", "torch-compile", "tinygrad", "mygrad", "autograd", "mlx")
WANTED_DTYPES = ("float64", "float32", "float16", "bfloat16")
STAGES = ("property", "large", "scale")
#: Engines checked under the first seed only, and not with large draws: Inductor compiles each function
#: and shape (6.5 s a check against 0.2-1 s for the others, measured: 60 % of a seed's time).
FIRST_SEED_ONLY = ("torch-compile",)
#: The limit per check: a slow compile under load is not a hang, and the hunt looks for wrong values.
TIMEOUT_SECONDS = 600
#: Above this --scale size only the cases that reduce an argument are checked: a sum, mean, max, norm or
#: loss depends on n (tie counts, sums that overflow, 1/n), an element-wise entry does not, and a check at
#: 10⁶ takes about 6 s (the full 10⁶ stage on six engines and two dtypes is 1848 checks: about 3 h, from its first 88).
ALL_CASES_UP_TO = 100_000


@dataclass(frozen=True)
class Run:
    """One ``verigrad check`` invocation of the hunt and the records file it writes."""

    stage: str
    records: str
    argv: tuple[str, ...]


def available_engines(wanted: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The wanted engines that are built-in names and load here; why each other one is skipped."""
    usable, skipped = [], {}
    for name in wanted:
        if name not in BUILTIN_ENGINES:
            skipped[name] = "not a built-in engine of this verigrad"
            continue
        try:
            load_engine(name)
        except EngineLoadError as error:
            skipped[name] = str(error)
            continue
        usable.append(name)
    return usable, skipped


def available_dtypes(wanted: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The wanted dtypes the harness knows; why each other one is skipped."""
    usable = [dtype for dtype in wanted if dtype in KNOWN_DTYPES]
    return usable, {dtype: "not a dtype of this verigrad" for dtype in wanted if dtype not in KNOWN_DTYPES}


def _check(engines: list[str], dtypes: list[str], records: Path, *options: str) -> tuple[str, ...]:
    return (
        "verigrad", "check", *engines, "--dtype", ",".join(dtypes), "--expect", str(KNOWN_OUTCOMES),
        "--records", str(records), "--no-report", "--timeout", str(TIMEOUT_SECONDS), *options,
    )  # fmt: skip


def matches(case_id: str, pattern: str | None) -> bool:
    """Whether ``--cases PATTERN`` (comma-separated globs, as ``verigrad check`` reads it) takes ``case_id``."""
    return pattern is None or any(fnmatch.fnmatchcase(case_id, part.strip()) for part in pattern.split(","))


def reducing_cases(pattern: str | None = None) -> str:
    """The ``--cases`` of a scale run above :data:`ALL_CASES_UP_TO`: every case with an argument it reduces
    (of those ``pattern`` takes)."""
    from verigrad.scale import reduces, scale_cases, scale_params

    return ",".join(
        case.id
        for case in scale_cases(None)
        if matches(case.id, pattern)
        and any(reduces(case, arg, params) for arg in case.differentiable_args for params in scale_params(case))
    )


def _every_seed(engines: list[str]) -> list[str]:
    return [engine for engine in engines if engine not in FIRST_SEED_ONLY]


def plan_runs(args: argparse.Namespace, engines: list[str], dtypes: list[str]) -> list[Run]:
    """Every run of the hunt, in order: property seeds, large draws, scale sizes; each sharded."""
    out, k, jobs = Path(args.out), args.shards, str(args.jobs)
    only = ("--cases", args.cases) if args.cases else ()
    runs = []
    for seed in args.seeds:
        seed_engines = engines if seed == args.seeds[0] else _every_seed(engines)
        for i in range(1, k + 1):
            records = out / f"property-seed{seed}-{i}of{k}.jsonl"
            options = ("--profile", "ci", "--seed", str(seed), "--shard", f"{i}/{k}", "-j", jobs, *only)
            runs.append(Run("property", str(records), _check(seed_engines, dtypes, records, *options)))
    for i in range(1, k + 1):
        records = out / f"large-seed{args.seeds[0]}-{i}of{k}.jsonl"
        options = ("--profile", "ci", "--seed", str(args.seeds[0]), "--examples", str(args.large_examples))
        options += ("--shard", f"{i}/{k}", "-j", jobs, *only)
        runs.append(Run("large", str(records), _check(_every_seed(engines), dtypes, records, *options)))
    for size in args.sizes:
        cases = reducing_cases(args.cases) if size > ALL_CASES_UP_TO else args.cases
        if cases == "":
            continue  # none of the --cases reduces an argument: nothing to check at this size
        for i in range(1, k + 1):
            records = out / f"scale-{size}-{i}of{k}.jsonl"
            options = ("--scale", str(size), "--seed", str(args.seeds[0]), "--shard", f"{i}/{k}")
            options += ("--cases", cases) if cases else ()
            runs.append(Run(f"scale-{size}", str(records), _check(engines, dtypes, records, *options)))
    return runs


def catalog_fingerprint(pattern: str | None = None) -> dict:
    """The case ids and properties the shards are dealt from, and their digest: a resumed hunt must plan the same."""
    from verigrad.checks import PROPERTIES
    from verigrad.reference import CASES

    cases, properties = [case.id for case in CASES if matches(case.id, pattern)], sorted(PROPERTIES)
    digest = hashlib.sha256(json.dumps([cases, properties]).encode()).hexdigest()[:16]
    return {"digest": digest, "cases": cases, "properties": properties}


def finished(run: Run) -> bool:
    """Whether ``run``'s records file is complete: ``verigrad check`` writes its summary footer last."""
    path = Path(run.records)
    if not path.exists():
        return False
    lines = path.read_text(encoding="utf-8").rstrip().splitlines()
    return bool(lines) and '"kind": "summary"' in lines[-1]


def execute(run: Run) -> dict:
    """Run one command; exit 1 (an unexpected outcome) is a result, exit 2 an error worth reporting."""
    started = time.perf_counter()
    done = subprocess.run(run.argv, capture_output=True, text=True, check=False, cwd=ROOT)
    seconds = round(time.perf_counter() - started, 1)
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    print(f"[{run.stage}] exit {done.returncode} in {seconds} s: {run.records}", flush=True)
    return {**asdict(run), "exit": done.returncode, "seconds": seconds, "tail": tail}


#: The code that decides a verdict: the harness, the closed forms, the adapters and their pins.
CHECKING_CODE = ("verigrad", "reference", "oracles")


@functools.cache
def same_checks(commit: str | None, current: str | None) -> bool:
    """Whether records written by ``commit`` come from the checks ``current`` runs: the same commit, or one whose
    harness, closed forms and adapters git finds unchanged since.  Unknown or uncommitted code is not."""
    if commit in (None, "None") or current is None or "+" in commit or current.endswith("+modified"):
        return False
    if commit == current:
        return True
    diff = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", commit, current, "--", *CHECKING_CODE],
                          capture_output=True, check=False)  # fmt: skip
    return diff.returncode == 0


def summarize(record_files: list[str], known_outcomes: Path = KNOWN_OUTCOMES) -> dict:
    """Checks per engine × dtype × status and per records file, and every unexpected outcome with its reproduction.

    Outcomes are judged against ``known_outcomes`` as it is now, not as it was when each run wrote its
    records: a hunt pins the bugs it finds as it goes, so a failure pinned after its run is expected, and a pin
    removed since (the engine fixed) shows its check again.
    """
    from verigrad import expectations
    from verigrad.consensus import consensus_failures
    from verigrad.session import source_commit

    pins, used = expectations.parse(known_outcomes), set()
    counts, per_file, unexpected, shared, checks = Counter(), {}, [], [], 0
    current = source_commit()
    for path in (path for path in record_files if Path(path).exists()):
        headers, verdicts = read_records([path])
        commits = sorted({str(h.get("versions", {}).get("verigrad commit")) for h in headers})
        for verdict in verdicts:
            verdict.expected, verdict.expectation_reason = None, None
            expectations.apply(pins, verdict, used)
        surprises = [v for v in verdicts if not v.as_expected]
        shared += [{**item.record(), "records": path} for item in consensus_failures(verdicts)]
        # A verdict from other code than today's may be one the current checks would not give: "None" is a run
        # from before records named their commit, "+modified" one from uncommitted changes.
        other_code = not all(same_checks(commit, current) for commit in commits)
        per_file[path] = {"checks": len(verdicts), "failures": sum(v.status == "fail" for v in verdicts),
                          "unexpected": len(surprises), "verigrad_commit": ", ".join(commits)}
        counts.update(f"{v.engine} {v.dtype} {v.status}" for v in verdicts)
        unexpected += [{"check": v.check_id, "records": path, "status": v.status, "message": v.message[:300],
                        "verigrad_commit": ", ".join(commits), "other_code": other_code,
                        "reproduction": v.reproduction} for v in surprises]
        checks += len(verdicts)
    # shared_by_engines: unexpected failures that three or more libraries share (suspect verigrad's reference first).
    return {"checks": checks, "known_outcomes": str(known_outcomes), "verigrad_commit": current,
            "by_engine_dtype_status": dict(sorted(counts.items())), "by_records_file": per_file,
            "unexpected_from_other_code": sum(u["other_code"] for u in unexpected),
            "shared_by_engines": shared, "unexpected": unexpected}


def merge(out: Path, record_files: list[str]) -> int:
    """``verigrad report`` over every records file: one HTML report and one JUnit file."""
    existing = [path for path in record_files if Path(path).exists()]
    if not existing:
        return 0
    argv = ["verigrad", "report", *existing, "--report", str(out / "index.html"), "--junit", str(out / "junit.xml")]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT).returncode


def ledger_key(run: Run, pattern: str | None) -> str:
    """A run's name in the ledger: its records file's stem, under the plan it belongs to (the catalog's, or a
    ``--cases`` supplement's)."""
    return f"{'cases=' + pattern if pattern else 'catalog'}/{Path(run.records).stem}"


def read_ledger(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"runs": {}}


def add_to_ledger(path: Path, sitting: str, runs: list[Run], summary: dict, pattern: str | None, digest: str) -> list[str]:
    """Enter each complete run of ``runs`` with its counts from ``summary``, and every other complete records file
    the summary counts as ``by-hand/<folder>/<stem>`` (a rerun or supplement by hand); returns the keys entered."""
    ledger = read_ledger(path)
    per_file, entered = summary["by_records_file"], []
    planned = {run.records for run in runs}
    by_hand = [Run("by-hand", records, ()) for records in per_file if records not in planned]
    for run in [*runs, *by_hand]:
        counts = per_file.get(run.records)
        if counts is None or not finished(run):
            continue
        if run.stage == "by-hand":
            key, catalog = f"by-hand/{Path(run.records).parent.name}/{Path(run.records).stem}", None
        else:
            key, catalog = ledger_key(run, pattern), digest
        ledger["runs"][key] = {"sitting": sitting, "catalog": catalog, **counts}
        entered.append(key)
    ledger["runs"] = dict(sorted(ledger["runs"].items()))
    path.write_text(json.dumps(ledger, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return entered


def ledger_status(path: Path, runs: list[Run], pattern: str | None) -> dict:
    """Which of the plan's runs the ledger holds (done) and which it lacks (missing), with the done runs' totals."""
    entries, keys = read_ledger(path)["runs"], [ledger_key(run, pattern) for run in runs]
    done = {key: entries[key] for key in keys if key in entries}
    missing = [key for key in keys if key not in entries]
    known = [entry for entry in done.values() if entry.get("checks") is not None]
    return {
        "planned": len(runs), "done": len(done), "missing": missing,
        "checks": sum(entry["checks"] for entry in known),
        "failures": sum(entry.get("failures") or 0 for entry in done.values()),
        "unexpected": sum(entry.get("unexpected") or 0 for entry in done.values()),
        "sittings": sorted({entry["sitting"] for entry in done.values()}),
    }  # fmt: skip


def estimate(args: argparse.Namespace, runs: list[Run]) -> dict:
    """Run shard 1 of each stage sliced ``args.estimate`` ways; extrapolate the whole hunt's wall time.

    A slice's wall time is its checks' work (the sum of their seconds over the workers) plus a fixed
    start-up (importing the engines in each process).  The hunt pays the work ``args.estimate``
    times over and the start-up once per run of its plan, so the two are extrapolated apart.
    """
    sliced = argparse.Namespace(**{**vars(args), "shards": args.estimate, "seeds": args.seeds[:1]})
    samples = {}
    for run in plan_runs(sliced, args.engines_used, args.dtypes_used):
        if run.stage.split("-")[0] in args.stages and run.records.endswith(f"-1of{args.estimate}.jsonl"):
            samples.setdefault(run.stage, execute(run))
    per_stage = {}
    for stage, sample in samples.items():
        headers, verdicts = read_records([sample["records"]])
        work = sum(v.seconds for v in verdicts) / max(1, headers[0]["jobs"] if headers else 1)
        startup = max(0.0, sample["seconds"] - work)
        repeats = sum(r.stage == stage for r in runs) / args.shards  # one per seed of the property stage
        planned_runs = sum(r.stage == stage for r in runs)
        per_stage[stage] = {
            "slice_seconds": sample["seconds"], "slice_checks": len(verdicts), "work_seconds": round(work, 1),
            "startup_seconds": round(startup, 1),
            "estimated_seconds": round(work * args.estimate * repeats + startup * planned_runs),
        }  # fmt: skip
    total = sum(stage["estimated_seconds"] for stage in per_stage.values())
    return {
        "slice": f"1/{args.estimate}",
        "stages": per_stage,
        "total_hours": round(total / 3600, 2),
        "samples": samples,
    }


def _part(text: str) -> tuple[int, int]:
    index, count = (int(p) for p in text.split("/"))
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--part {text}: need 1 <= i <= k")
    return index, count


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engines", nargs="+", default=list(WANTED_ENGINES), help="wanted engines (unavailable: skipped)"
    )
    parser.add_argument("--dtypes", nargs="+", default=list(WANTED_DTYPES), help="wanted dtypes (unknown: skipped)")
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[1, 2, 3], help="hypothesis seeds of the property stage"
    )
    parser.add_argument("--large-examples", type=int, default=200, help="examples per check of the large stage")
    parser.add_argument("--sizes", nargs="+", type=int, default=[10**5, 10**6], help="--scale sizes")
    parser.add_argument("--shards", type=int, default=8, help="shards per stage (each a separate verigrad check)")
    parser.add_argument("--jobs", default="auto", help="-j of each property run (default: one worker per CPU)")
    parser.add_argument(
        "--stages", nargs="+", choices=STAGES, default=list(STAGES), help="stages to run (default: all)"
    )
    parser.add_argument(
        "--cases", metavar="PATTERN",
        help="only these cases (comma-separated globs, as verigrad check reads them): a supplement for cases that a "
             "finished hunt's catalog did not have yet, into its own --out",
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "hunt"))
    parser.add_argument("--part", type=_part, help="i/k: run only every k-th command, starting at the i-th")
    parser.add_argument(
        "--only-shards", nargs="+", type=int, metavar="I",
        help="run only these shards i of each stage's --shards (a sitting whose records of the others are gone)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands and stop")
    parser.add_argument("--estimate", type=int, nargs="?", const=60, help="run a 1/N slice and extrapolate")
    parser.add_argument("--merge-only", action="store_true", help="only merge the records already in --out")
    parser.add_argument(
        "--also", nargs="+", default=[], metavar="DIR",
        help="other hunt folders (another machine's --part, a --cases supplement, a sitting with another catalog) "
             "whose records go into --out's merged report and summary",
    )
    parser.add_argument(
        "--ledger", type=Path, default=LEDGER, help=f"the ledger of completed runs (default {LEDGER.relative_to(ROOT)})"
    )
    parser.add_argument(
        "--add-to-ledger", metavar="SITTING",
        help="after the runs, enter each complete run of --out (and --also) in the ledger as done in SITTING",
    )
    parser.add_argument(
        "--ledger-status", action="store_true",
        help="which of the plan's runs the ledger holds and which are missing (exit 1 while any is), then stop",
    )
    parser.add_argument(
        "--resume", action="store_true", help="skip the runs whose records are complete (a hunt over several sittings)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.engines_used, skipped_engines = available_engines(tuple(args.engines))
    args.dtypes_used, skipped_dtypes = available_dtypes(tuple(args.dtypes))
    for name, why in {**skipped_engines, **skipped_dtypes}.items():
        print(f"skipped {name}: {why}", file=sys.stderr)
    planned = [
        run for run in plan_runs(args, args.engines_used, args.dtypes_used) if run.stage.split("-")[0] in args.stages
    ]
    runs = planned
    if args.ledger_status:
        status = ledger_status(args.ledger, planned, args.cases)
        print(json.dumps(status, indent=1))
        return 1 if status["missing"] else 0
    if args.only_shards and not all(1 <= i <= args.shards for i in args.only_shards):
        print(f"--only-shards {args.only_shards}: each must be a shard 1..{args.shards} (--shards)", file=sys.stderr)
        return 2
    if args.only_shards:
        runs = [run for run in runs if any(run.records.endswith(f"-{i}of{args.shards}.jsonl") for i in args.only_shards)]
    if args.part:
        runs = runs[args.part[0] - 1 :: args.part[1]]
    if args.dry_run:
        print("\n".join(" ".join(run.argv) for run in runs))
        return 0
    if args.estimate:
        result = estimate(args, runs)
        (out / "estimate.json").write_text(json.dumps(result, indent=1))
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
        return 0
    catalog = catalog_fingerprint(args.cases)
    fingerprint = out / "catalog.json"
    if args.resume and fingerprint.exists() and json.loads(fingerprint.read_text())["digest"] != catalog["digest"]:
        # --shard i/k deals the plan's checks out in turn: another catalog deals them otherwise, and the new shards
        # would repeat some checks of the finished ones and never run others.
        print(f"--resume: the catalog changed since {out} was started ({fingerprint} lists its cases); resume from a "
              "checkout of the commit it started at (git worktree add ../huntbase <commit>, then run "
              "PYTHONPATH=../huntbase python benchmarks/hunt.py --resume from there), or start an empty --out",
              file=sys.stderr)
        return 2
    if not args.merge_only:
        fingerprint.write_text(json.dumps(catalog, indent=1))
    if args.resume:
        done = [run for run in runs if finished(run)]
        print(f"resuming: {len(done)} of {len(runs)} runs already complete", file=sys.stderr)
        runs = [run for run in runs if run not in done]
    started = time.perf_counter()
    executed = []
    log = out / "runs.log"  # every run of every sitting, so the summary covers a resumed hunt whole
    for run in [] if args.merge_only else runs:
        executed.append(execute(run))
        with log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(executed[-1]) + "\n")
    if log.exists():
        executed = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    also = [Path(folder) for folder in args.also]
    record_files = sorted(str(path) for folder in (out, *also) for path in folder.glob("*.jsonl"))
    for folder in also:  # the other sittings' or machines' runs, for the summary's timings
        other_log = folder / "runs.log"
        if other_log.exists():
            executed += [json.loads(line) for line in other_log.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = {
        "engines": args.engines_used, "dtypes": args.dtypes_used,
        "skipped": {**skipped_engines, **skipped_dtypes}, "runs": executed,
        "report_exit": merge(out, record_files), "seconds": round(time.perf_counter() - started, 1),
        **summarize(record_files),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if args.add_to_ledger:
        # Each folder's planned runs by their own path; any other records file is a run by hand.
        moved = [Run(run.stage, str(folder / Path(run.records).name), run.argv) for folder in (out, *also) for run in planned]
        entered = add_to_ledger(args.ledger, args.add_to_ledger, moved, summary, args.cases, catalog["digest"])
        print(f"ledger: {len(entered)} runs entered as done in {args.add_to_ledger}", file=sys.stderr)
    stale = summary["unexpected_from_other_code"]
    for item in summary["shared_by_engines"]:
        print(f"shared by engines ({item['records']}): {item['line']}")
    print(f"{summary['checks']} checks, {len(summary['unexpected'])} unexpected ({stale} from other code than "
          f"{summary['verigrad_commit']}: rerun those before reporting them): {out / 'summary.json'}")
    errors = [run for run in executed if run["exit"] not in (0, 1)]
    return 1 if summary["unexpected"] or errors else 0


if __name__ == "__main__":
    sys.exit(main())
