"""The reproductions of findings/ run engines for minutes (tinygrad compiles, 70,000-element reductions):
under the repository's quick selection they are deselected, saying so; ``--verigrad-full`` and .ci/run run them."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--verigrad-full") or config.getini("verigrad_selection") != "quick":
        return
    if any("::" in str(arg) for arg in config.args):  # a test named by its id always runs
        return
    slow = [item for item in items if item.get_closest_marker("finding_reproduction")]
    if slow:
        items[:] = [item for item in items if not item.get_closest_marker("finding_reproduction")]
        config.hook.pytest_deselected(items=slow)
        print(f"\nverigrad: {len(slow)} findings reproductions deselected (quick selection): run them with --verigrad-full")
