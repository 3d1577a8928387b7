"""The report screenshots of the docs and the README, taken from a real failing run.

:func:`failing_run` checks PyTorch and two deliberately wrong engines (mutants
of it) on three cases; :func:`take` writes that run's HTML report, opens it in
headless Chromium (playwright, the flags of ``tests/browser``), pins numbered
badges on the parts the "Read the report" page explains, and saves two PNGs.
Without Chromium or playwright the committed PNGs are kept and the build says so.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from mutant_table import MUTANTS, load_mutant  # the self-tests' table (tests/selftest), on sys.path from conf.py

from verigrad.records import Verdict
from verigrad.reference import get_case
from verigrad.report import write_report
from verigrad.runner import groups, plan, run_group

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
ENGINES = ("torch", "mutant-wrong-sign", "mutant-transposed")
CASES = ("elementwise.mul", "chain.matvec_sin", "elementwise.max")
PROPERTIES = ("vjp", "kink")
SEED = 3
#: The command line that does what :func:`failing_run` does (shown in the report's header).
COMMAND = ("verigrad check torch verigrad.oracles.mutants:WrongSign verigrad.oracles.mutants:Transposed "
           f"--cases {','.join(CASES)} --properties {','.join(PROPERTIES)} --dtype float64 --seed {SEED}")

#: Badges: (number, CSS selector of the element it points at, which screenshot).
OVERVIEW_BADGES = ((1, "header .run dl.facts", "overview"), (2, "#filters", "overview"),
                   (3, "table.matrix td.cell.cat-fail", "overview"), (4, "table.matrix tfoot", "overview"))
FAILING_BLOCK = ".engine-block[data-failing='1']"
FAILURE_BADGES = tuple((n, f"{FAILING_BLOCK} {selector}", "failure") for n, selector in
                       ((5, ".diagnosis"), (6, "figure.heatmap"), (7, ".counterexample"), (8, ".repro")))

_BADGE_JS = """([number, selector]) => {
  const target = document.querySelector(selector);
  if (!target) throw new Error('no element for ' + selector);
  const box = target.getBoundingClientRect();
  target.style.outline = '3px solid #d9480f';
  target.style.outlineOffset = '2px';
  const badge = document.createElement('div');
  badge.textContent = String(number);
  badge.style.cssText = 'position:absolute;z-index:1000;width:28px;height:28px;border-radius:14px;'
    + 'background:#d9480f;color:#fff;font:bold 16px/28px sans-serif;text-align:center;'
    + 'box-shadow:0 1px 4px rgba(0,0,0,.5)';
  badge.style.left = Math.max(0, box.left + window.scrollX - 34) + 'px';
  badge.style.top = (box.top + window.scrollY - 4) + 'px';
  document.body.appendChild(badge);
}"""

#: The union of the badged elements' boxes, in page coordinates, with a margin.
_UNION_JS = """(selectors) => {
  const boxes = selectors.map(s => document.querySelector(s).getBoundingClientRect());
  const top = Math.min(...boxes.map(b => b.top)) + window.scrollY - 12;
  const bottom = Math.max(...boxes.map(b => b.bottom)) + window.scrollY + 12;
  return {x: 0, y: Math.max(0, top), width: document.documentElement.clientWidth, height: bottom - Math.max(0, top)};
}"""


def failing_run() -> tuple[dict[str, Any], list[Verdict], Mapping[str, Any]]:
    """A real run: torch and two mutants of it, sharing each check's examples (as ``verigrad check`` does)."""
    import torch  # heavy: imported only when the run is made

    from verigrad.oracles.torch_engine import TorchEngine

    torch_engine = TorchEngine()
    engines = {"torch": torch_engine, **{name: load_mutant(name, torch_engine) for name in ENGINES[1:]}}
    specs = plan(list(engines), ("float64",), [get_case(c) for c in CASES], list(PROPERTIES))
    sources = {name: MUTANTS[name].spec for name in ENGINES[1:]}  # so the reproductions load them
    verdicts = [v for group in groups(specs) for v in run_group(group, engines, "dev", seed=SEED, sources=sources)]
    versions = {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                **{name: f"a mutant of torch {torch.__version__}" for name in ENGINES[1:]}}
    header = {"started": "2026-12-01T12:00:00+00:00", "command": COMMAND, "engines": list(engines),
              "seed": SEED, "profile": "dev", "mode": "probabilistic", "examples": 5, "versions": versions}
    return header, verdicts, engines


def _badges(page: Any, badges: tuple[tuple[int, str, str], ...]) -> None:
    for number, selector, _ in badges:
        page.evaluate(_BADGE_JS, [number, selector])


def take(static: Path, scratch: Path) -> list[Path] | None:
    """Write ``report.png`` (overview) and ``report-failure.png`` into ``static``; None without Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    header, verdicts, _ = failing_run()
    report = write_report([header], verdicts, scratch / "index.html")
    overview, failure = static / "report.png", static / "report-failure.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        page.goto(report.as_uri(), wait_until="load")
        page.add_style_tag(content="body { padding-left: 40px !important; }")
        _badges(page, OVERVIEW_BADGES)
        page.screenshot(path=str(overview))
        page.reload(wait_until="load")
        page.add_style_tag(content="body { padding-left: 40px !important; }")
        page.locator("#f-failures").check()
        page.locator("table.matrix td.cell.cat-fail a").first.click()
        _badges(page, FAILURE_BADGES)
        clip = page.evaluate(_UNION_JS, [selector for _, selector, _ in FAILURE_BADGES])
        page.screenshot(path=str(failure), full_page=True, clip=clip)
        browser.close()
    return [overview, failure]
