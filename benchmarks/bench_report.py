"""How long the HTML report takes to build, and how big it is, at full scale.

    python benchmarks/bench_report.py                    # synthetic: every check × 6 engines (~3400 verdicts)
    python benchmarks/bench_report.py --records reports/records.jsonl   # a real run's records

Prints the import time of the report's dependencies, then the build time and
size of ``write_report``: cold (the first call in the process) and again (plot
cache cleared).  The report reads records only, so no engine is involved.  The
issue's budget: under 5 s and under 5 MB.  The synthetic verdicts are the report
tests' data (``tests/report/synthetic.py``).
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
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.records:
        from verigrad.records import read_records

        headers, verdicts = read_records(args.records)
        source = ", ".join(args.records)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))
        from synthetic import synthetic_run

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
    for label in ("cold", "again"):
        plots.clear_caches()
        started = time.perf_counter()
        written = write_report(headers, verdicts, path)
        seconds = time.perf_counter() - started
        size = written.stat().st_size
        verdict = "ok" if seconds < LIMIT_SECONDS and size < LIMIT_BYTES else "OVER BUDGET"
        ok &= verdict == "ok"
        cold = cold or seconds
        print(f"{label:>18}: {seconds:.2f} s, {size / 1e6:.2f} MB  [{verdict}]")
    print(f"cold, imports included: {imports + cold:.2f} s")
    print(f"report: {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
