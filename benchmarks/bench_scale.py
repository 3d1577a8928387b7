"""Structure-aware checks at n = 10⁶: time per check per engine, and memory against n.

    python benchmarks/bench_scale.py [--full] [--n 1000000]

Every differentiable argument of the element-wise, scalar-expansion, reduction,
neuron and loss cases (``loss.relu_mse`` at N × n = 1000 × 1000) is checked by
``verigrad.scale.check_at_scale`` (4 sign probes per direction where the
structure needs them) with jax and torch, float64 and float32.  Each check runs
twice with different seeds: "cold" is the first call with those shapes (jax
traces and compiles then), "warm" the second.  The issue's target is 2 s per
check per engine; the table gives the slowest of each.

Memory: the peak of Python/NumPy allocations (tracemalloc) during one torch
check at n = 10⁵ and 10⁶, and its ratio (10 means linear in n); torch's own
buffers are not traced, NumPy copies of its results are.  ``--full`` adds the
dense cases (their closed forms hold out·arg entries, so they are not O(n)).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from _util import emit, fmt, log, machine, max_rss_mb, table, timed, traced_peak, verdict_for_target

TARGET_SECONDS = 2.0
FAMILIES = "vector.*,elementwise.*,scalar_expansion.*,reduction.*,neuron.*,loss.relu_mse"
DENSE = "chain.matvec_sin,loss.gd_step"
MEMORY_CASES = [("elementwise.mul", "x"), ("scalar_expansion.mul", "z"), ("reduction.dot", "w"),
                ("neuron.activation", "w"), ("loss.relu_mse", "w"), ("loss.relu_mse", "X")]


def measure(n: int = 1_000_000, full: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    from verigrad.oracles import load_engine
    from verigrad.scale import check_at_scale, scale_plan

    engines = {"jax": load_engine("jax"), "torch": load_engine("torch")}
    pattern = FAMILIES + ("," + DENSE if full else "")
    rows = []
    for case, arg, engine, dtype, params, _inputs in scale_plan(list(engines), ("float64", "float32"), pattern):
        timings = []
        statuses = []
        for seed in (1, 2):
            seconds, verdict = timed(lambda c=case, a=arg, e=engines[engine], d=dtype, seed=seed, p=params:
                                     check_at_scale(c, a, e, d, n, seed, params=p))
            timings.append(seconds)
            statuses.append(verdict.status)
        scale = verdict.evidence.get("scale", {}) if verdict.evidence else {}
        rows.append({"case": case, "arg": arg, "engine": engine, "dtype": dtype, "structure": scale.get("structure"),
                     "jacobian": scale.get("jacobian"), "calls": verdict.examples, "cold": timings[0], "warm": timings[1],
                     "status": "/".join(statuses), "max_bound_fraction": verdict.max_bound_fraction,
                     "message": verdict.message[:160]})
        log(f"  {case}-{arg} {engine} {dtype}: {'/'.join(statuses)} cold {timings[0]:.2f} s, warm {timings[1]:.2f} s")
    memory = []
    for case, arg in MEMORY_CASES:
        peaks = {}
        for size in (n // 10, n):
            check_at_scale(case, arg, engines["torch"], "float64", size, 0)  # warm the shapes
            peak, verdict = traced_peak(lambda c=case, a=arg, size=size: check_at_scale(c, a, engines["torch"], "float64", size, 3))
            peaks[size] = peak
        memory.append({"case": case, "arg": arg, "small_n": n // 10, "n": n, "peak_small_mb": peaks[n // 10],
                       "peak_mb": peaks[n], "ratio": peaks[n] / max(peaks[n // 10], 1e-9),
                       "bytes_per_element": peaks[n] * 2**20 / n})
        log(f"  memory {case}-{arg}: {peaks[n // 10]:.1f} MB at {n // 10:,}, {peaks[n]:.1f} MB at {n:,}")
    family_rows = [r for r in rows if not any(r["case"].startswith(d) for d in DENSE.split(","))]
    slowest_warm = max(family_rows, key=lambda r: r["warm"])
    slowest_cold = max(family_rows, key=lambda r: r["cold"])
    return {
        "n": n, "rows": rows, "memory": memory, "max_rss_mb": max_rss_mb(), "machine": machine(),
        "checks": len(rows), "failures": [r for r in rows if "fail" in r["status"]],
        "slowest_warm": slowest_warm, "slowest_cold": slowest_cold,
        "over_target_warm": sum(r["warm"] > TARGET_SECONDS for r in family_rows),
        "over_target_cold": sum(r["cold"] > TARGET_SECONDS for r in family_rows),
        "max_memory_ratio": max(m["ratio"] for m in memory),
    }


def markdown(result: dict[str, Any]) -> str:
    by_engine: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in result["rows"]:
        by_engine.setdefault((row["engine"], row["dtype"]), []).append(row)
    summary = [
        [engine, dtype, len(rows), sum("fail" in r["status"] for r in rows),
         max(r["warm"] for r in rows), sorted(r["warm"] for r in rows)[len(rows) // 2], max(r["cold"] for r in rows),
         verdict_for_target(max(r["warm"] for r in rows), TARGET_SECONDS)]
        for (engine, dtype), rows in sorted(by_engine.items())
    ]
    parts = [
        f"Checks at n = {result['n']:,} (loss: {int(result['n'] ** 0.5)} × {int(result['n'] ** 0.5)}), "
        f"2 calls each (cold: first call with the shapes; warm: the second):",
        "",
        table(["engine", "dtype", "checks", "failed", "slowest warm (s)", "median warm (s)", "slowest cold (s)",
               "≤ 2 s warm?"], summary),
        "",
        "Slowest checks:",
        "",
        table(["check", "engine", "dtype", "structure", "calls", "cold (s)", "warm (s)"],
              [[f"{r['case']}-{r['arg']}", r["engine"], r["dtype"], r["structure"], r["calls"], r["cold"], r["warm"]]
               for r in sorted(result["rows"], key=lambda r: -r["warm"])[:6]]),
        "",
        "Memory (tracemalloc peak, one torch float64 check):",
        "",
        table(["check", f"peak at n = {result['n'] // 10:,} (MB)", f"peak at n = {result['n']:,} (MB)", "ratio (10 = linear)",
               "bytes per element"],
              [[f"{m['case']}-{m['arg']}", m["peak_small_mb"], m["peak_mb"], m["ratio"], m["bytes_per_element"]]
               for m in result["memory"]]),
        "",
        f"Process peak RSS (jax + torch + all checks): {fmt(result['max_rss_mb'])} MB.",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--full", action="store_true", help="also the dense cases (chain.matvec_sin, loss.gd_step)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(args.n, args.full, log=log)
    result["seconds"] = time.perf_counter() - started
    return emit(result, markdown, args.json)


if __name__ == "__main__":
    main()
