"""Every benchmark in one command, side by side in one run: writes benchmarks/results/latest.{md,json}.

    python benchmarks/run_all.py            # about 5 minutes on 2 cores (2 of them the test suite)
    python benchmarks/run_all.py --full     # + `pytest -n 2`, `-n 0`, `verigrad check … --profile ci -j auto`,
                                            #   20 positions for every checker, the dense cases at 10⁶

Sections:

1. targets: each of issue #5's targets, measured, met or missed by how much;
2. structure-aware checks at n = 10⁶ (bench_scale.py): time per check per engine, memory against n;
3. worst-case vs probabilistic tolerance at growing N × n (bench_tolerance.py);
4. sensitivity: the smallest single-entry δ each checker catches (sensitivity.py);
5. verigrad next to gradcheck (slow, fast), check_grads, numdifftools: time, memory, accuracy, δ (bench_tools.py);
6. the finite-difference oracle against numdifftools (bench_fd.py, if present, as a subprocess);
7. wall times: the default ``pytest`` in a subprocess, cold (empty tinygrad and matplotlib caches, as
   on a fresh CI machine) then warm; with ``--full`` ``pytest -n 2``, ``-n 0``, ``pytest --verigrad-full``
   and the ci-profile check of six engines (cold).  Each with its CPU time (user + sys of the whole process
   tree), which a shared machine inflates less than wall time, and its test counts.

Every timed target is also given as a ratio to the previous run on the same machine (same host name and CPU
count): ``latest.json`` is kept as ``previous.json`` before it is rewritten, since absolute times are noisy here.

``--skip-pytest`` leaves out the pytest timings (for iterating on the benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _util import ROOT, fmt, machine, table, verdict_for_target  # noqa: E402

from verigrad.records import from_json_safe, json_safe  # noqa: E402

RESULTS = HERE / "results"
PYTEST_TIMEOUT = 900
CHECK_TIMEOUT = 900
CHECK_COMMAND = ["verigrad", "check", "jax", "torch", "fd", "autograd", "mygrad", "tinygrad", "mlx", "jax-jit", "--profile", "ci",
                 "-j", "auto", "--expect", "oracles/known_outcomes.txt"]
DEFAULT_BUDGET = 300.0


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _section(name: str, run: Callable[[], dict[str, Any]], results: dict[str, Any]) -> dict[str, Any] | None:
    _log(f"== {name}")
    started = time.perf_counter()
    try:
        result = run()
    except Exception as error:  # one broken benchmark must not lose the others
        results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        _log(f"   {name} failed: {error}")
        return None
    result["seconds"] = time.perf_counter() - started
    results[name] = result
    _log(f"   {name}: {result['seconds']:.0f} s")
    return result


def _cold_env(cache: Path) -> dict[str, str]:
    """The environment with every on-disk cache the run uses (tinygrad's compiled kernels,
    matplotlib's font list) moved to ``cache``: an empty folder makes the run cold, as on a fresh CI machine."""
    return {**os.environ, "XDG_CACHE_HOME": str(cache), "MPLCONFIGDIR": str(cache / "matplotlib")}


def _wall(command: list[str], timeout: float, cwd: Path = ROOT, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``command`` in a subprocess; its wall time, exit status and last lines."""
    started, cpu_before = time.perf_counter(), _children_cpu()
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"")
        output = output.decode(errors="replace") if isinstance(output, bytes) else output
        return {"command": shlex.join(command), "seconds": time.perf_counter() - started, "returncode": None,
                "timed_out": True, "tail": output.strip().splitlines()[-40:]}
    lines = [line for line in (done.stdout + "\n" + done.stderr).strip().splitlines() if line.strip()]
    return {"command": shlex.join(command), "seconds": time.perf_counter() - started, "returncode": done.returncode,
            "cpu_seconds": _children_cpu() - cpu_before, "timed_out": False, "tail": lines[-40:]}


def _children_cpu() -> float:
    """User + system CPU seconds of every finished (waited-for) descendant of this process."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: pytest's final line ("3 failed, 2197 passed, 1500 deselected in 80.1s") and the plugin's selection line.
_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)\b")
_SELECTION = re.compile(r"verigrad: (?:quick selection, (\d+) of (\d+)|all (\d+)) engine checks")


def _counts(result: dict[str, Any]) -> None:
    """Test counts from a pytest run's summary, and how many engine checks it kept of how many."""
    result["counts"] = {kind: int(n) for n, kind in _COUNT.findall(result.get("summary", ""))}
    found = next((m for m in map(_SELECTION.search, result.get("tail", [])) if m), None)
    if found:
        kept, total = (found.group(1), found.group(2)) if found.group(1) else (found.group(3), found.group(3))
        result["engine_checks"] = [int(kept), int(total)]


def _pytest(extra: list[str], cache: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *extra]
    result = _wall(command, PYTEST_TIMEOUT, env=_cold_env(cache))
    result["command"] = shlex.join(["python", *command[1:]])
    pattern = re.compile(r"\d+ (passed|failed|errors?)\b.* in [0-9.]+s")
    summary = next((line for line in reversed(result["tail"]) if pattern.search(line)), "")
    result["summary"] = summary.strip("= ")
    _counts(result)
    return result


def _verigrad_check() -> dict[str, Any]:
    """The ci-profile check of six engines, cold, records in a temporary file (the repository's reports/ stay as they are)."""
    from verigrad.records import RecordsError, read_records

    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / "records.jsonl"
        command = [*CHECK_COMMAND, "--records", str(records), "--no-report"]
        result = _wall(command, CHECK_TIMEOUT, env=_cold_env(Path(tmp) / "cache"))
        try:
            _, verdicts = read_records([records])
        except RecordsError:
            verdicts = []
    counts: dict[str, int] = {}
    for verdict in verdicts:
        counts[verdict.status] = counts.get(verdict.status, 0) + 1
    unexpected = sum(not v.as_expected for v in verdicts)
    result["summary"] = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f"; {unexpected} unexpected"
    result["command"] = shlex.join(CHECK_COMMAND)
    _progress(result)
    return result


def _progress(result: dict[str, Any]) -> None:
    """From the check's "[k/N] …" lines: how far it got, and (if cut off) the time all N would take at that pace."""
    if "progress" in result:
        return
    found = [re.match(r"\[(\d+)/(\d+)\]", line.strip()) for line in result.get("tail", [])]
    last = next((m for m in reversed(found) if m), None)
    if last is None:
        return
    done, total = int(last.group(1)), int(last.group(2))
    result["progress"] = [done, total]
    if done < total:
        estimate = result["seconds"] * total / max(done, 1)
        result["projected_seconds"] = estimate
        result["summary"] += f"; {done} of {total} checks done, all {total} would take ~{estimate / 60:.0f} min at that pace"


def _bench_fd() -> dict[str, Any]:
    path = HERE / "bench_fd.py"
    if not path.exists():
        return {"skipped": "benchmarks/bench_fd.py not present"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    lines = done.stdout.strip().splitlines()
    table_lines = [line for line in lines if line.startswith("|")]
    return {"returncode": done.returncode, "markdown": "\n".join(table_lines) or done.stdout.strip()[-2000:],
            "stderr_tail": done.stderr.strip().splitlines()[-3:], "wall": time.perf_counter() - started}


# ------------------------------------------------------------------- targets


def _delta_rows(sensitivity: dict[str, Any], case: str, dtype: str) -> list[dict[str, Any]]:
    return [r for r in sensitivity["rows"] if r["case"] == case and r["dtype"] == dtype and r["checker"].startswith("verigrad")]


def _vs_previous(key: str, run: dict[str, Any], previous: dict[str, Any] | None, speed: float | None = None) -> str:
    """This run's wall and CPU time over the previous run's on this machine (below 1: faster now); with ``speed``
    (this run's :func:`_util.python_speed` over the previous run's), also the wall ratio the machine's speed explains
    away: above 1 the code is slower, below 1 faster, at equal interpreter speed."""
    before = (previous or {}).get(key) or {}
    if not before.get("seconds") or before.get("timed_out") or run.get("timed_out"):
        return "no previous run" if not before else "—"
    ratio = f"wall ×{run['seconds'] / before['seconds']:.2f}"
    if run.get("cpu_seconds") and before.get("cpu_seconds"):
        ratio += f", CPU ×{run['cpu_seconds'] / before['cpu_seconds']:.2f}"
    if speed:
        ratio += f"; at equal machine speed (this machine ×{speed:.2f} as slow) wall ×{run['seconds'] / before['seconds'] / speed:.2f}"
    return ratio


def targets(results: dict[str, Any], total_seconds: float, full: bool, previous: dict[str, Any] | None = None,
            speed: float | None = None) -> list[list[Any]]:
    rows: list[list[Any]] = []
    scale = results.get("scale") or {}
    if "rows" in scale:
        for engine in ("jax", "torch"):
            family = [r for r in scale["rows"] if r["engine"] == engine and not r["case"].startswith(("chain.", "loss.gd_step"))]
            warm = max(r["warm"] for r in family)
            cold = max(r["cold"] for r in family)
            rows.append([f"n = 10⁶ families, {engine}: ≤ 2 s per check (warm, slowest of {len(family)})", "2 s",
                         f"{fmt(warm)} s", verdict_for_target(warm, 2.0)])
            rows.append([f"n = 10⁶ families, {engine}: ≤ 2 s per check (cold: first call with these shapes)", "2 s",
                         f"{fmt(cold)} s", verdict_for_target(cold, 2.0)])
        failures = len(scale["failures"])
        rows.append(["n = 10⁶: correct jax/torch engines pass every check", "0 failures", f"{failures} of {scale['checks']}",
                     "met" if failures == 0 else f"missed: {failures} failures"])
        ratio = scale["max_memory_ratio"]
        rows.append(["memory linear in n (peak at 10⁶ / peak at 10⁵)", "≈ 10 (≤ 11)", fmt(ratio), verdict_for_target(ratio, 11.0)])
    tolerance = results.get("tolerance") or {}
    if "rows" in tolerance:
        for name, shown in tolerance["demonstrated"].items():
            rows.append([f"1000 × 1000 float32, {name}: passes worst-case, flagged by probabilistic", "yes",
                         "yes" if shown else "no", "met" if shown else "not shown"])
        rows.append(["correct engine never flagged (both modes, all sizes)", "yes",
                     "yes" if tolerance["correct_never_flagged"] else "no", "met" if tolerance["correct_never_flagged"] else "missed"])
    sensitivity = results.get("sensitivity") or {}
    if "rows" in sensitivity:
        for case, label in (("elementwise.mul", "w ⊗ x"), ("chain.matvec_sin", "sin(W x)")):
            for dtype, target in (("float64", 1e-9), ("float32", 1e-5)):
                for r in _delta_rows(sensitivity, case, dtype):
                    delta = r["delta_every_position"]
                    rows.append([f"δ caught at every position: {label}, n = {r['n']:,}, {dtype}, {r['checker']}",
                                 f"≤ {target:g}", fmt(delta), verdict_for_target(delta, target)])
        false = [r for r in sensitivity["rows"] if r["checker"].startswith("verigrad") and not r["false_failures"].startswith("0/")]
        rows.append(["zero false failures on correct engines (verigrad, sensitivity runs)", "0",
                     str(len(false)), "met" if not false else f"missed: {len(false)} rows"])
    # Issue targets: the default pytest (which runs on every core, see pyproject) under 60 s cold on
    # 2 cores; the ci-profile check of all six built-in engines under 120 s.  "Cold": empty caches.
    wall_targets = (
        ("pytest", "default `pytest` wall time, cold caches (all cores)", 60.0),
        ("pytest warm", "default `pytest` wall time, warm caches (the same command again)", 60.0),
        ("pytest -n 2", "`pytest -n 2` wall time (pytest-xdist, two workers)", None),
        ("pytest -n 0", "`pytest -n 0` wall time (serial)", None),
        ("pytest full", "`pytest --verigrad-full` wall time (every engine check, dev profile)", None),
        ("verigrad check ci", "`verigrad check jax torch fd autograd mygrad tinygrad --profile ci -j auto`, cold", 120.0),
    )
    for key, label, target in wall_targets:
        run = results.get(key)
        wanted = f"{target:g} s" if target else "no target"
        if run and "seconds" in run:
            status = "timed out" if run.get("timed_out") else f"exit {run['returncode']}"
            seconds = run["seconds"]
            if run.get("timed_out") and run.get("projected_seconds"):
                seconds = run["projected_seconds"]
                status += f", projected {fmt(seconds)} s for all checks"
            verdict = verdict_for_target(seconds, target) if target else "measured"
            cpu = f", CPU {fmt(run['cpu_seconds'])} s" if run.get("cpu_seconds") else ""
            checks = run.get("engine_checks")
            kept = f"; engine checks {checks[0]} of {checks[1]}" if checks else ""
            rows.append([label, wanted, f"{fmt(run['seconds'])} s{cpu} ({status}; {run.get('summary', '')}{kept})", verdict,
                         _vs_previous(key, run, previous, speed)])
        elif key not in ("pytest", "pytest warm") and not full:
            rows.append([label, wanted, "not run (needs --full)", "—"])
    if not full:
        rows.append(["`python benchmarks/run_all.py` (default) wall time", "~5 min", f"{fmt(total_seconds)} s",
                     verdict_for_target(total_seconds, DEFAULT_BUDGET)])
    return [row + ["—"] * (5 - len(row)) for row in rows]


# ------------------------------------------------------------------ markdown


def markdown(results: dict[str, Any], header: dict[str, Any]) -> str:
    import bench_scale
    import bench_tolerance
    import bench_tools
    import sensitivity

    out = [
        "# verigrad: scale and speed",
        "",
        f"`{header['command']}` — {header['started']}, {header['seconds']:.0f} s; machine: {header['machine']['cpus']} CPUs, "
        f"load average at start {header['machine']['load_average']}, no GPU"
        + (f", a fixed pure-Python loop in {header['machine']['python_speed_seconds']} s (the machine's speed: "
           "`_util.python_speed`)." if header["machine"].get("python_speed_seconds") else ".")
        + (f" Ratios compare with the run of {header['previous']} on this machine." if header.get("previous") else ""),
        "",
        "## Targets",
        "",
        table(["target", "wanted", "measured", "met?", "vs previous run here"], header["targets"]),
    ]

    def add(title: str, key: str, render: Callable[[dict[str, Any]], str]) -> None:
        out.extend(["", f"## {title}", ""])
        result = results.get(key)
        if not result:
            out.append("not run")
        elif "error" in result:
            out.append(f"failed: {result['error']}")
        elif "skipped" in result:
            out.append(result["skipped"])
        else:
            out.append(render(result))

    add("Structure-aware checks at n = 10⁶ (bench_scale.py)", "scale", bench_scale.markdown)
    add("Worst-case vs probabilistic bound, ReLU-MSE ∂C/∂w, float32 (bench_tolerance.py)", "tolerance", bench_tolerance.markdown)
    add("Sensitivity: smallest single-entry δ caught (sensitivity.py)", "sensitivity", sensitivity.markdown)

    def tools(result: dict[str, Any]) -> str:
        deltas: dict[tuple[str, int], Any] = {}
        names = {"verigrad (VJP, 4 sign probes)": "verigrad", "gradcheck slow": "gradcheck slow",
                 "gradcheck fast": "gradcheck fast", "check_grads (rev)": "check_grads"}
        for r in (results.get("sensitivity") or {}).get("rows", []):
            if r["case"] == "elementwise.mul" and r["dtype"] == "float64" and r["checker"] in names:
                deltas[(names[r["checker"]], r["n"])] = ("false failure" if not r["false_failures"].startswith("0/")
                                                         else fmt(r["delta_every_position"]))
        for tool in ("numdifftools", "verigrad fd oracle"):
            for n in result.get("sizes", []):
                deltas[(tool, n)] = "not a checker"
        for n in result.get("sizes", []):
            deltas.setdefault(("gradcheck slow", n), "n/a (O(n²))" if n > 100_000 else "—")
        return bench_tools.markdown(result, deltas)

    add("verigrad next to gradcheck, check_grads, numdifftools: y = w ⊗ x, float64 (bench_tools.py)", "tools", tools)
    add("Finite-difference oracle vs numdifftools (bench_fd.py)", "bench_fd", lambda r: r["markdown"])

    walls = [[results[k]["command"], results[k]["seconds"], "timed out" if results[k].get("timed_out") else results[k]["returncode"],
              results[k].get("cpu_seconds"), results[k].get("summary", "")]
             for k in ("pytest", "pytest warm", "pytest -n 2", "pytest -n 0", "pytest full", "verigrad check ci")
             if k in results and "seconds" in results[k]]
    out.extend(["", "## Wall times", "",
                table(["command", "seconds", "exit", "CPU seconds (user + sys)", "summary"], walls) if walls else "not run"])
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also the ci-profile check of six engines (up to 15 min) and the long variants")
    parser.add_argument("--skip-pytest", action="store_true", help="leave out the pytest wall times")
    parser.add_argument("--out", default=str(RESULTS), help="directory for latest.md and latest.json (default: %(default)s)")
    parser.add_argument("--from-json", metavar="PATH", help="only re-render the markdown (and targets) from a latest.json")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.from_json:
        return _render_again(Path(args.from_json), Path(args.out))

    import bench_scale
    import bench_tolerance
    import bench_tools
    import sensitivity

    started = time.perf_counter()
    header: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
    }
    results: dict[str, Any] = {}
    _section("scale", lambda: bench_scale.measure(full=args.full, log=_log), results)
    _section("tolerance", lambda: bench_tolerance.measure(log=_log), results)
    _section("sensitivity", lambda: sensitivity.measure(full=args.full, log=_log), results)
    _section("tools", lambda: bench_tools.measure(log=_log), results)
    _section("bench_fd", _bench_fd, results)
    if not args.skip_pytest:
        with tempfile.TemporaryDirectory() as cache:
            _section("pytest", lambda: _pytest([], Path(cache)), results)
            _section("pytest warm", lambda: _pytest([], Path(cache)), results)
            if args.full:
                _section("pytest -n 2", lambda: _pytest(["-n", "2"], Path(cache)), results)
                _section("pytest -n 0", lambda: _pytest(["-n", "0"], Path(cache)), results)
                _section("pytest full", lambda: _pytest(["--verigrad-full"], Path(cache)), results)
    if args.full:
        _section("verigrad check ci", _verigrad_check, results)
    header["seconds"] = time.perf_counter() - started
    header["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    previous = _previous_results(out, header["machine"])
    header["previous"] = (previous or {}).get("started")
    header["targets"] = targets(results, header["seconds"], args.full, (previous or {}).get("results"),
                                _speed_ratio(header["machine"], previous))
    out.mkdir(parents=True, exist_ok=True)
    if (out / "latest.json").exists():
        (out / "latest.json").replace(out / "previous.json")
    text = markdown(results, header)
    (out / "latest.md").write_text(text, encoding="utf-8")
    data = json_safe({"header": header, "results": results})
    (out / "latest.json").write_text(json.dumps(data, indent=1, default=_json_default, allow_nan=False), encoding="utf-8")
    print(text)
    _log(f"wrote {out / 'latest.md'} and {out / 'latest.json'} ({header['seconds']:.0f} s)")
    return 0


def _render_again(path: Path, out: Path) -> int:
    data = from_json_safe(json.loads(path.read_text(encoding="utf-8")))
    header, results = data["header"], data["results"]
    if "verigrad check ci" in results and "seconds" in results["verigrad check ci"]:
        _progress(results["verigrad check ci"])
    previous = _previous_results(out, header["machine"], name="previous.json")
    header["targets"] = targets(results, header["seconds"], "--full" in header["command"], (previous or {}).get("results"),
                                _speed_ratio(header["machine"], previous))
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(results, header)
    (out / "latest.md").write_text(text, encoding="utf-8")
    (out / "latest.json").write_text(json.dumps(json_safe({"header": header, "results": results}), indent=1,
                                                default=_json_default, allow_nan=False), encoding="utf-8")
    print(text)
    return 0


def _previous_results(out: Path, machine_now: dict[str, Any], name: str = "latest.json") -> dict[str, Any] | None:
    """The last run's header start time and results, if it ran on this machine (host name and CPU count)."""
    path = out / name
    if not path.exists():
        return None
    data = from_json_safe(json.loads(path.read_text(encoding="utf-8")))
    before = data["header"].get("machine", {})
    if (before.get("node"), before.get("cpus")) != (machine_now.get("node"), machine_now.get("cpus")):
        return None
    return {"started": data["header"].get("started"), "results": data["results"], "machine": before}


def _speed_ratio(machine_now: dict[str, Any], previous: dict[str, Any] | None) -> float | None:
    """How many times as slow as at the previous run this machine's interpreter is (None: not measured then)."""
    now, before = machine_now.get("python_speed_seconds"), ((previous or {}).get("machine") or {}).get("python_speed_seconds")
    return now / before if now and before else None


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
    except ImportError:
        pass
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
