"""How long the HTML report takes to build, and how big it is, at full scale.

    python benchmarks/bench_report.py                    # synthetic: every check × 6 engines (~3400 verdicts)
    python benchmarks/bench_report.py --records reports/records.jsonl   # a real run's records

Prints the import time of the report's dependencies, then the build time and
size of ``write_report``: cold (the first call in the process), again (plot
cache cleared), and, with ``--with-engines``, after importing the built-in
engines as ``verigrad check`` does (the report then draws failing checks' full
engine Jacobians within its default 1 s budget).  The issue's budget: under
5 s and under 5 MB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIMIT_SECONDS = 5.0
LIMIT_BYTES = 5 * 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", nargs="*", help="records files of a real run (default: synthetic verdicts)")
    parser.add_argument("--out", default=None, help="where to write the report (default: a temporary directory)")
    parser.add_argument("--engine-load-budget", type=float, default=1.0,
                        help="seconds for loading engines and their basis VJPs (default: 1)")
    parser.add_argument("--with-engines", action="store_true",
                        help="also measure with the built-in engines imported (as after verigrad check)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.records:
        from verigrad.records import read_records

        headers, verdicts = read_records(args.records)
        source = ", ".join(args.records)
    else:
        from verigrad.report.synthetic import synthetic_run

        headers, verdicts = synthetic_run()
        source = "synthetic"
    print(f"verdicts: {len(verdicts)} ({source}), prepared in {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    import jinja2  # noqa: F401
    import latex2mathml.converter  # noqa: F401
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: F401

    from verigrad.report import plots, write_report

    imports = time.perf_counter() - started
    print(f"imports (matplotlib, jinja2, latex2mathml): {imports:.2f} s")

    out_dir = Path(args.out).parent if args.out else Path(tempfile.mkdtemp(prefix="verigrad-bench-"))
    path = Path(args.out) if args.out else out_dir / "index.html"
    ok = True
    cold = 0.0
    runs = [("cold", args.engine_load_budget), ("again", args.engine_load_budget)]
    if args.with_engines:
        runs.append(("with engines", args.engine_load_budget))
    for label, budget in runs:
        if label == "with engines":
            _import_engines(sorted({v.engine for v in verdicts}))
        plots.clear_caches()
        started = time.perf_counter()
        written = write_report(headers, verdicts, path, engine_load_budget=budget)
        seconds = time.perf_counter() - started
        size = written.stat().st_size
        verdict = "ok" if seconds < LIMIT_SECONDS and size < LIMIT_BYTES else "OVER BUDGET"
        ok &= verdict == "ok"
        cold = cold or seconds
        print(f"{label:>18}: {seconds:.2f} s, {size / 1e6:.2f} MB  [{verdict}]")
    print(f"cold, imports included: {imports + cold:.2f} s")
    print(f"report: {path}")
    return 0 if ok else 1


def _import_engines(names: list[str]) -> None:
    from verigrad.oracles import EngineLoadError, load_engine

    started = time.perf_counter()
    loaded = []
    for name in names:
        try:
            load_engine(name)
            loaded.append(name)
        except (EngineLoadError, Exception) as error:
            print(f"  ({name} not available: {str(error)[:80]})")
    print(f"  imported {', '.join(loaded) or 'no engines'} in {time.perf_counter() - started:.2f} s (not counted)")


if __name__ == "__main__":
    raise SystemExit(main())
