"""Helpers shared by the benchmarks: tables, timing, memory, the δ search, the comparison tools' wrappers."""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The δ grid: half-decades from 1e-16 to 100 (a relative error above 1 is an entry off by more than itself).
DELTAS = tuple(10.0 ** (-k / 2) for k in range(32, -5, -1))


# -------------------------------------------------------------------- tables


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ")
    if isinstance(value, float):
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if math.isnan(value):
            return "nan"
        if value == 0:
            return "0"
        if 1e-3 <= abs(value) < 1e4:
            return f"{value:.{digits + 1}g}"
        return f"{value:.{digits}g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict_for_target(measured: float | None, target: float, *, smaller_is_better: bool = True) -> str:
    """'met' or 'missed by ×k' (k the ratio to the target)."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return "not measured"
    ok = measured <= target if smaller_is_better else measured >= target
    if ok:
        return "met"
    ratio = measured / target if smaller_is_better else target / max(measured, 1e-300)
    return f"missed by ×{fmt(float(ratio))}"


def machine() -> dict[str, Any]:
    import platform

    return {"cpus": os.cpu_count(), "node": platform.node(), "python": platform.python_version(), "machine": platform.machine(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python_speed_seconds": python_speed()}


def python_speed(repeats: int = 5) -> float:
    """Seconds for a fixed pure-Python loop (10⁶ additions and calls), the fastest of ``repeats``: the machine's
    speed at what the test suite mostly does (interpreter work), so that runs on this shared, unevenly fast host
    can be compared with each other: the same suite took ×1.9 the CPU time at one run as at a run four hours before,
    under the same host name. The figure is itself noisy here (0.066-0.121 s within half an hour): side-by-side
    pairs stay the measure of a change."""
    def work() -> int:
        total = 0
        for i in range(1_000_000):
            total += abs(i - 500_000)
        return total

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return round(best, 4)


# -------------------------------------------------------------------- measuring


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def traced_peak(run: Callable[[], Any]) -> tuple[float, Any]:
    """Peak bytes allocated through Python and NumPy (tracemalloc) while ``run`` runs, in MB."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, result


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def max_rss_mb() -> float:
    """This process's peak resident set (VmHWM) in MB.

    Not ``ru_maxrss``: Linux carries that across ``execve``, so a subprocess of a
    big parent starts with the parent's peak.  Falls back to it without /proc.
    """
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """The current resident set in MB (0 without /proc)."""
    return _status_mb("VmRSS") or 0.0


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0: write 5 to /proc/self/clear_refs); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


# -------------------------------------------------------------------- δ search


def smallest_detected(detect: Callable[[float], bool], hint: float | None = None, grid: Sequence[float] = DELTAS) -> float:
    """The smallest δ of ``grid`` that ``detect`` flags, assuming larger δ are flagged too (inf: not even the largest).

    Starts from ``hint`` (the previous position's answer) and gallops, so that
    similar positions cost two or three calls.
    """
    grid = list(grid)
    cache: dict[int, bool] = {}

    def at(k: int) -> bool:
        if k not in cache:
            cache[k] = bool(detect(grid[k]))
        return cache[k]

    top = len(grid) - 1
    start = top if hint is None or not math.isfinite(hint) else min(range(len(grid)), key=lambda k: abs(math.log(grid[k] / hint)))
    if not at(start):
        lo = start  # not detected here: look upward
        step = 1
        while True:
            k = min(lo + step, top)
            if at(k):
                hi = k
                break
            if k == top:
                return math.inf
            lo, step = k, step * 2
    else:
        hi = start  # detected here: look downward
        step = 1
        while True:
            k = max(hi - step, 0)
            if not at(k):
                lo = k
                break
            if k == 0:
                return grid[0]
            hi, step = k, step * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid):
            hi = mid
        else:
            lo = mid
    return grid[hi]


# ------------------------------------------------------------ comparison tools


def torch_perturbed(f: Callable[[Any], Any], i: int, j: int, amount: float) -> Callable[[Any], Any]:
    """f as a torch function whose backward adds ``amount``·u_i to gradient entry j (J_ij += amount)."""
    import torch

    class Perturbed(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return f(x)

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> Any:
            (x,) = ctx.saved_tensors
            with torch.enable_grad():
                leaf = x.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(f(leaf), leaf, grad_out)
            if amount:
                grad = grad.clone()
                grad.view(-1)[j] += amount * grad_out.reshape(-1)[i]
            return grad

    return Perturbed.apply


def jax_perturbed(f: Callable[[Any], Any], i: int, j: int, amount: float) -> Callable[[Any], Any]:
    """f as a jax function with a custom VJP that adds ``amount``·u_i to gradient entry j."""
    import jax

    @jax.custom_vjp
    def h(x: Any) -> Any:
        return f(x)

    def fwd(x: Any) -> tuple[Any, Any]:
        return f(x), x

    def bwd(x: Any, g: Any) -> tuple[Any]:
        _, pullback = jax.vjp(f, x)
        (grad,) = pullback(g)
        if amount:
            grad = grad.reshape(-1).at[j].add(amount * g.reshape(-1)[i]).reshape(grad.shape)
        return (grad,)

    h.defvjp(fwd, bwd)
    return h


def gradcheck_fails(fn: Callable[[Any], Any], x: np.ndarray, fast: bool) -> bool:
    """torch.autograd.gradcheck at its default tolerances (eps 1e-6, atol 1e-5, rtol 1e-3): True when it fails."""
    import torch

    leaf = torch.from_numpy(np.array(x, copy=True)).requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return not torch.autograd.gradcheck(fn, (leaf,), fast_mode=fast, raise_exception=False)
        except Exception:  # any error counts as a failure
            return True


def check_grads_fails(fn: Callable[[Any], Any], x: np.ndarray) -> bool:
    """jax.test_util.check_grads(order=1, modes=("rev",)) at its defaults: True when it fails."""
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    with jax.enable_x64(True):
        try:
            check_grads(fn, (jnp.asarray(x),), order=1, modes=("rev",))
        except AssertionError:
            return True
    return False


# --------------------------------------------------------------------- output


def log(line: str) -> None:
    """Progress for humans, on stderr (stdout holds the table)."""
    print(line, file=sys.stderr, flush=True)


def emit(result: dict[str, Any], markdown: Callable[[dict[str, Any]], str], json_path: str | None) -> dict[str, Any]:
    """Print a benchmark's markdown table and, if asked, write its raw result as JSON."""
    print(markdown(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    return result
