"""The terminal summary of a run: verdict counts, failures with diagnoses, kink conventions."""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from verigrad.consensus import consensus_failures
from verigrad.oracles.registry import EAGER_PARTNERS
from verigrad.records import FAIL, PASS, SKIP, Verdict
from verigrad.rootcause import root_causes


def _fmt(value: float) -> str:
    return "∞" if value == float("inf") else f"{value:.3g}"


def counts_table(verdicts: list[Verdict]) -> Table:
    """Engine × dtype: checks, passes, failures, skips, unexpected outcomes, worst errors."""
    table = Table(title="verigrad: verdicts by engine and dtype", show_lines=False)
    for column in ("engine", "dtype", "checks", "pass", "fail", "skip", "unexpected", "max ulps (pass)", "max bound fraction (pass)"):
        table.add_column(column, justify="right" if column not in ("engine", "dtype") else "left")
    by_column: dict[tuple[str, str], list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        by_column[(verdict.engine, verdict.dtype)].append(verdict)
    for (engine, dtype), items in by_column.items():
        status = Counter(v.status for v in items)
        unexpected = sum(1 for v in items if not v.as_expected)
        passed = [v for v in items if v.status == PASS]
        table.add_row(
            escape(engine), dtype, str(len(items)), str(status[PASS]), str(status[FAIL]), str(status[SKIP]),
            f"[bold red]{unexpected}[/]" if unexpected else "0",
            _fmt(max((v.max_ulps for v in passed), default=0.0)),
            _fmt(max((v.max_bound_fraction for v in passed), default=0.0)),
        )
    return table


def failures_table(verdicts: list[Verdict], limit: int = 40) -> Table | None:
    """Unexpected outcomes with their diagnosis."""
    bad = [v for v in verdicts if not v.as_expected]
    if not bad:
        return None
    table = Table(title=f"unexpected outcomes ({len(bad)})", show_lines=True)
    table.add_column("check")
    table.add_column("diagnosis")
    table.add_column("evidence", overflow="fold")
    for verdict in bad[:limit]:
        diagnosis = verdict.diagnosis or {}
        kind = diagnosis.get("kind", "expected " + (verdict.expected or "pass"))
        # Engine names and messages are data, never markup.
        table.add_row(escape(verdict.check_id), escape(kind), escape(verdict.message[:400]))
    if len(bad) > limit:
        table.caption = f"… and {len(bad) - limit} more (see the records file or the HTML report)"
    return table


def conventions_table(verdicts: list[Verdict]) -> Table | None:
    """Which subgradient each engine picked at each kink (t = share to the first branch)."""
    picked: dict[tuple[str, str], dict[str, float | None]] = defaultdict(dict)
    for verdict in verdicts:
        if verdict.property == "kink" and verdict.status == PASS and verdict.convention is not None:
            picked[(verdict.case, verdict.arg or "")][f"{verdict.engine}/{verdict.dtype}"] = verdict.convention
    if not picked:
        return None
    engines = sorted({key for row in picked.values() for key in row})
    table = Table(title="kink conventions (t: the subgradient share chosen; any t in [0, 1] is correct)")
    table.add_column("case / arg")
    for engine in engines:
        table.add_column(escape(engine), justify="right")
    for (case, arg), row in sorted(picked.items()):
        table.add_row(escape(f"{case} / {arg}"), *(_fmt(row[e]) if e in row and row[e] is not None else "–" for e in engines))
    return table


def compiled_table(verdicts: list[Verdict], limit: int = 12) -> Table | None:
    """Compiled engines beside their eager partners (same checks, same examples): where they differ."""
    by_engine: dict[str, dict[tuple[str, str], Verdict]] = defaultdict(dict)
    for verdict in verdicts:
        by_engine[verdict.engine][(verdict.check_id.replace(f"-{verdict.engine}-", "-", 1), verdict.dtype)] = verdict
    pairs = [(c, e) for c, e in EAGER_PARTNERS.items() if c in by_engine and e in by_engine]
    if not pairs:
        return None
    table = Table(title="compiled beside eager (same checks, same examples)")
    for column in ("compiled / eager", "dtype", "checks", "same status", "fail compiled only", "fail eager only",
                   "max ulps compiled", "max ulps eager", "differing checks"):
        table.add_column(column, justify="left" if column in ("compiled / eager", "dtype", "differing checks") else "right")
    for compiled, eager in pairs:
        shared = sorted(set(by_engine[compiled]) & set(by_engine[eager]))
        for dtype in sorted({d for _, d in shared}):
            rows = [(by_engine[compiled][k], by_engine[eager][k]) for k in shared if k[1] == dtype]
            differ = [c for c, e in rows if c.status != e.status]
            table.add_row(
                escape(f"{compiled} / {eager}"), dtype, str(len(rows)), str(len(rows) - len(differ)),
                str(sum(c.status == FAIL and e.status != FAIL for c, e in rows)),
                str(sum(e.status == FAIL and c.status != FAIL for c, e in rows)),
                _fmt(max((c.max_ulps for c, _ in rows if c.status == PASS), default=0.0)),
                _fmt(max((e.max_ulps for _, e in rows if e.status == PASS), default=0.0)),
                escape(", ".join(c.check_id for c in differ[:limit]) + (" …" if len(differ) > limit else "")),
            )
    return table


def print_summary(verdicts: list[Verdict], console: Console | None = None) -> None:
    """Print every table that has content."""
    console = console or Console()
    for table in (counts_table(verdicts), compiled_table(verdicts), conventions_table(verdicts), failures_table(verdicts)):
        if table is not None:
            console.print(table)
    for cause in root_causes(verdicts):
        console.print(f"[bold]root cause[/] {escape(cause.line())}")
    for shared in consensus_failures(verdicts):
        console.print(f"[bold]shared by engines[/] {escape(shared.line())}")
