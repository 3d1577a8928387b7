"""Time and accuracy of the finite-difference oracle against numdifftools, side by side in one run.

    python benchmarks/bench_fd.py [--repeat 15]

Problems: (a) the 100-dim element-wise f(x) = sin(x)·exp(0.1x), x uniform in
[-3, 3]; (b) the dense sin(W x), W 20x30 (Jacobian w.r.t. x, 20x30, and w.r.t.
W, 20x600).  Each row gives the median wall time over ``--repeat`` runs
(time.perf_counter), the max absolute error against the analytic Jacobian, the
largest error estimate fd attached, the number of function evaluations, and
the time ratio to numdifftools' default ``Jacobian`` (central differences with Richardson extrapolation)
measured in the same run.  "Richardson only" is fd with the complex step
switched off: the path taken for functions that are not complex-analytic.  Prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from verigrad.oracles.fd import FiniteDifferences


def _median_time(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result = run()  # warm-up, and the result to score
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _problems(rng: np.random.Generator) -> list[dict[str, Any]]:
    x = rng.uniform(-3.0, 3.0, 100)
    W = rng.uniform(-1.0, 1.0, (20, 30))
    v = rng.uniform(-1.0, 1.0, 30)
    elementwise = lambda x: np.sin(x) * np.exp(0.1 * x)
    exact_diag = (np.cos(x) + 0.1 * np.sin(x)) * np.exp(0.1 * x)
    dW = np.zeros((20, 20, 30))
    dW[np.arange(20), np.arange(20), :] = np.cos(W @ v)[:, None] * v[None, :]
    return [
        {
            "name": "(a) sin(x)·exp(0.1x), n=100",
            "fn": elementwise,
            "primals": (x,),
            "argnum": 0,
            "exact": np.diag(exact_diag),
            "diagonal": exact_diag,
        },
        {
            "name": "(b) sin(W x) w.r.t. x, 20x30",
            "fn": lambda W, v: np.sin(W @ v),
            "primals": (W, v),
            "argnum": 1,
            "exact": np.cos(W @ v)[:, None] * W,
        },
        {
            "name": "(b) sin(W x) w.r.t. W, 20x600",
            "fn": lambda W, v: np.sin(W @ v),
            "primals": (W, v),
            "argnum": 0,
            "exact": dW.reshape(20, 600),
        },
    ]


def _of_arg(fn: Callable[..., Any], primals: tuple[np.ndarray, ...], argnum: int) -> Callable[[np.ndarray], Any]:
    """fn as a function of one flat argument (numdifftools' convention)."""
    shape = primals[argnum].shape

    def g(a: np.ndarray) -> Any:
        args = list(primals)
        args[argnum] = np.reshape(a, shape)
        return np.ravel(fn(*args))

    return g


def _measure(
    problem: dict[str, Any], fd: FiniteDifferences, fd_real: FiniteDifferences, nd: Any, repeat: int
) -> list[tuple[Any, ...]]:
    """Rows (problem, method, seconds, calls, max error, max error estimate, time ratio) for one problem."""
    fn, primals, argnum, exact = problem["fn"], problem["primals"], problem["argnum"], problem["exact"]
    calls = [0]
    g0 = _of_arg(fn, primals, argnum)

    def g(a: np.ndarray) -> Any:
        calls[0] += 1
        return g0(a)

    x0 = np.ravel(primals[argnum])
    repeat = repeat if x0.size <= 100 else max(3, repeat // 5)
    as_exact = lambda r: np.reshape(np.asarray(r), exact.shape)
    methods: list[tuple[str, Callable[[], Any], Callable[[Any], np.ndarray]]] = []
    if "diagonal" in problem:
        methods.append(("fd.diagonal", lambda: fd.diagonal(fn, primals, argnum), lambda r: np.diag(np.asarray(r))))
    methods += [
        ("fd.jacobian", lambda: fd.jacobian(fn, primals, argnum), as_exact),
        ("fd.jacobian, Richardson only", lambda: fd_real.jacobian(fn, primals, argnum), as_exact),
        ("numdifftools Jacobian (central)", lambda: nd.Jacobian(g)(x0), as_exact),
        ("numdifftools Jacobian (complex)", lambda: nd.Jacobian(g, method="complex")(x0), as_exact),
    ]
    measured = []
    for label, run, dense in methods:
        seconds, result = _median_time(run, repeat)
        calls[0] = 0
        run()
        n_calls = (fd_real if "Richardson" in label else fd).last_calls if label.startswith("fd.") else calls[0]
        error = float(np.max(np.abs(dense(result) - exact)))
        estimate = getattr(result, "error_estimate", None)
        measured.append((label, seconds, n_calls, error, None if estimate is None else float(np.max(estimate))))
    baseline = next(m[1] for m in measured if m[0].endswith("(central)"))
    return [(problem["name"], label, s, n, error, est, s / baseline) for label, s, n, error, est in measured]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per method (median taken)")
    args = parser.parse_args(argv)
    import numdifftools as nd

    fd = FiniteDifferences()
    fd_real = FiniteDifferences(complex_step=False)
    rng = np.random.default_rng(20240601)
    rows = []
    for problem in _problems(rng):
        rows += _measure(problem, fd, fd_real, nd, args.repeat)
    print(
        "| problem | method | median time (ms) | fn calls | max error | max error estimate | time / numdifftools central |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, label, seconds, n_calls, error, estimate, ratio in rows:
        est = "—" if estimate is None else f"{estimate:.1e}"
        print(f"| {name} | {label} | {seconds * 1e3:.3f} | {n_calls} | {error:.1e} | {est} | {ratio:.4f} |")


if __name__ == "__main__":
    main()
