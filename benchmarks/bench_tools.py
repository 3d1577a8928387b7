"""verigrad next to the usual gradient checkers, in one run: time, memory, accuracy, at n = 10, 10³, 10⁶.

    python benchmarks/bench_tools.py

The function is y = w ⊗ x w.r.t. x (w, x uniform in ±8, float64), a correct
engine, one check each:

* verigrad: ``verigrad.scale.check_values`` with the torch engine (4 sign VJPs + 4 sign JVPs);
* torch.autograd.gradcheck, slow and fast mode (defaults: eps 1e-6, atol 1e-5, rtol 1e-3);
* jax.test_util.check_grads(order=1, modes=("rev",)) (eps 1e-4, rtol = atol = 1e-5);
* numdifftools.Jacobian (central differences, Richardson): a derivative estimate, not a checker;
* verigrad's own finite-difference oracle ``verigrad.oracles.fd.FiniteDifferences.diagonal`` (if present).

Each tool runs in its own subprocess, sizes in increasing order after a warm-up
at n = 10; memory is the peak RSS during the call (VmHWM, reset before it)
minus the RSS before it, so it counts torch's and jax's buffers too, plus tracemalloc's peak (a second run) for
verigrad and fd.  Accuracy is the relative error of the derivative each tool compares
the engine with: verigrad's closed form (w: exact), the central difference of
gradcheck (per element, eps 1e-6), the directional differences of gradcheck's
fast mode and of check_grads (random directions, their eps), numdifftools'
extrapolated Jacobian, fd's complex step.  For this linear function finite
differences have no truncation error; what is left is cancellation.
Tools that need the n × n Jacobian are not run at 10⁶ ("n/a (O(n²))").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _util import emit, fmt, log, machine, max_rss_mb, reset_peak_rss, rss_mb, table, timed, traced_peak

SIZES = (10, 1000, 1_000_000)
TOOLS = ("verigrad", "gradcheck slow", "gradcheck fast", "check_grads", "numdifftools", "verigrad fd oracle")
QUADRATIC = {"gradcheck slow", "numdifftools"}
#: Tools whose memory is NumPy's (tracemalloc sees it; verigrad's torch calls excepted); numdifftools at 10³
#: would take another 10 s under tracemalloc, its RSS growth shows the same.
TRACED = {"verigrad", "verigrad fd oracle"}


def _inputs(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    return rng.uniform(-8, 8, n), rng.uniform(-8, 8, n)


def _relative(estimate: float | np.ndarray, exact: float | np.ndarray) -> float:
    estimate, exact = np.asarray(estimate, dtype=np.longdouble), np.asarray(exact, dtype=np.longdouble)
    return float(np.max(np.abs(estimate - exact) / np.abs(exact)))


def _directional(w: np.ndarray, x: np.ndarray, eps: float, rng: np.random.Generator, unit: bool) -> float:
    """Relative error of vᵀ(f(x + eps·u) - f(x - eps·u)) / 2eps against vᵀ diag(w) u (random u, v)."""
    u, v = rng.standard_normal(x.size), rng.standard_normal(x.size)
    if unit:
        u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
    numeric = v @ ((w * (x + eps * u) - w * (x - eps * u)) / (2 * eps))
    exact = np.sum(v.astype(np.longdouble) * w.astype(np.longdouble) * u.astype(np.longdouble))
    return _relative(numeric, exact)


def _runner(tool: str) -> tuple[Callable[[np.ndarray, np.ndarray], Any], Callable[[np.ndarray, np.ndarray], float]]:
    """(run one check on the correct function -> passed?, accuracy of the derivative it compares with)."""
    if tool == "verigrad":
        from verigrad.oracles import load_engine
        from verigrad.records import PASS
        from verigrad.scale import check_values

        engine = load_engine("torch")
        return (lambda w, x: check_values("elementwise.mul", "x", engine, {"w": w, "x": x}).status == PASS,
                lambda w, x: 0.0)  # the closed form ∂y/∂x = w is w itself
    if tool.startswith("gradcheck"):
        import torch
        from _util import gradcheck_fails

        fast = tool.endswith("fast")

        def run(w: np.ndarray, x: np.ndarray) -> bool:
            wt = torch.from_numpy(w)
            return not gradcheck_fails(lambda t: wt * t, x, fast)

        if fast:
            return run, lambda w, x: _directional(w, x, 1e-6, np.random.default_rng(1), unit=True)
        return run, lambda w, x: _relative((w * (x + 1e-6) - w * (x - 1e-6)) / 2e-6, w)
    if tool == "check_grads":
        import jax
        import jax.numpy as jnp
        from _util import check_grads_fails

        def run(w: np.ndarray, x: np.ndarray) -> bool:
            with jax.enable_x64(True):
                wj = jnp.asarray(w)
            return not check_grads_fails(lambda t: wj * t, x)

        return run, lambda w, x: _directional(w, x, 1e-4, np.random.default_rng(1), unit=False)
    if tool == "numdifftools":
        import numdifftools as nd

        cache: dict[int, np.ndarray] = {}

        def run(w: np.ndarray, x: np.ndarray) -> bool:
            cache[x.size] = np.diag(nd.Jacobian(lambda t: w * t)(x))
            return True

        return run, lambda w, x: _relative(cache[x.size], w)
    if tool == "verigrad fd oracle":
        from verigrad.oracles.fd import FiniteDifferences

        fd = FiniteDifferences()
        cache = {}

        def run(w: np.ndarray, x: np.ndarray) -> bool:
            cache[x.size] = np.asarray(fd.diagonal(lambda a, b: a * b, (w, x), 1))
            return True

        return run, lambda w, x: _relative(cache[x.size], w)
    raise ValueError(tool)


def child(tool: str, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    run, accuracy = _runner(tool)
    run(*_inputs(10))  # warm-up: imports, first-call costs
    rows = []
    for n in sizes:
        if n > 100_000 and tool in QUADRATIC:
            rows.append({"tool": tool, "n": n, "skipped": "n/a (O(n²))"})
            continue
        w, x = _inputs(n)
        reset_peak_rss()
        before = rss_mb()
        seconds, passed = timed(lambda w=w, x=x: run(w, x))
        grown = max_rss_mb() - before
        traced = traced_peak(lambda w=w, x=x: run(w, x))[0] if tool in TRACED else None
        rows.append({"tool": tool, "n": n, "seconds": seconds, "passed_correct": bool(passed), "rss_growth_mb": grown,
                     "traced_peak_mb": traced, "accuracy": accuracy(w, x)})
    return rows


def measure(sizes: tuple[int, ...] = SIZES, log: Callable[[str], None] = print, timeout: float = 600) -> dict[str, Any]:
    rows = []
    script = str(Path(__file__).resolve())
    for tool in TOOLS:
        if tool == "verigrad fd oracle":
            try:
                import verigrad.oracles.fd  # noqa: F401
            except ImportError:
                rows.append({"tool": tool, "n": None, "skipped": "oracles/fd.py not present"})
                continue
        try:
            done = subprocess.run([sys.executable, script, "--child", tool, "--sizes", ",".join(map(str, sizes))],
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            rows.append({"tool": tool, "n": None, "skipped": f"timed out after {timeout:g} s"})
            continue
        if done.returncode != 0:
            rows.append({"tool": tool, "n": None, "skipped": f"failed: {done.stderr.strip().splitlines()[-1:]}"})
            continue
        found = json.loads(done.stdout.strip().splitlines()[-1])
        rows.extend(found)
        for row in found:
            log(f"  {tool:20} n={row['n']:>9,}: " + (row.get("skipped") or
                f"{row['seconds']:.3f} s, +{row['rss_growth_mb']:.0f} MB RSS, accuracy {fmt(row['accuracy'])}"))
    return {"rows": rows, "machine": machine(), "sizes": list(sizes)}


def markdown(result: dict[str, Any], deltas: dict[tuple[str, int], Any] | None = None) -> str:
    """The side-by-side table; ``deltas`` maps (tool, n) to the smallest δ caught (from sensitivity.py)."""
    deltas = deltas or {}
    base = {r["n"]: r for r in result["rows"] if r["tool"] == "verigrad" and "seconds" in r}
    rows = []
    for r in result["rows"]:
        if r.get("n") is None:
            rows.append([r["tool"], "—", r["skipped"], "", "", "", "", "", ""])
            continue
        if "skipped" in r:
            rows.append([r["tool"], r["n"], r["skipped"], "", "", "", "", "", ""])
            continue
        ref = base.get(r["n"])
        ratio = r["seconds"] / ref["seconds"] if ref else None
        rows.append([r["tool"], r["n"], r["seconds"], ratio, r["rss_growth_mb"], r["traced_peak_mb"],
                     "yes" if r["passed_correct"] else "FALSE FAILURE", r["accuracy"], deltas.get((r["tool"], r["n"]), "—")])
    return table(["tool", "n", "time (s)", "time / verigrad", "peak RSS growth (MB)", "tracemalloc peak (MB)",
                  "passes correct fn", "accuracy of its reference (rel.)", "smallest δ caught, float64"], rows)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", metavar="TOOL", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    if args.child:
        print(json.dumps(child(args.child, sizes)))
        return None
    result = measure(sizes, log=log)
    return emit(result, markdown, args.json)


if __name__ == "__main__":
    main()
