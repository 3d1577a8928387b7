"""The proofs' depth follows the run: see ``proof_depth``."""

from __future__ import annotations

import proof_depth
import pytest


def pytest_configure(config: pytest.Config) -> None:
    proof_depth.FULL = bool(config.getoption("--verigrad-full", default=False))
