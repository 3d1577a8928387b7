"""Self-test fixtures: hypothesis without its "explain" phase.

A failing check is the expected outcome here, and after shrinking hypothesis
would re-run ~100 examples to explain the failure (2-3 s per check) to no one:
the runner reports the failure itself.  The profile is loaded per test and the
previous one restored, so no other test directory sees it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings

FAST = "verigrad-selftest"
PHASES = tuple(p for p in Phase if p is not Phase.explain)


@pytest.fixture(autouse=True)
def _no_explain_phase() -> Iterator[None]:
    previous = settings.get_current_profile_name()
    settings.register_profile(FAST, parent=settings.get_profile(previous), phases=PHASES)
    settings.load_profile(FAST)
    try:
        yield
    finally:
        settings.load_profile(previous)
