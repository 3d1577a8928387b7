"""The import-linter contracts name modules one by one: a module added later must join them, or it escapes them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: What users run; everything else of the harness is the check core, which never imports these.
FRONT_ENDS = {"verigrad.__main__", "verigrad.cli", "verigrad.pytest_plugin", "verigrad.api", "verigrad.report", "verigrad.suite"}


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["name"]: contract for contract in config["contracts"]}


def _harness() -> set[str]:
    """Every module and subpackage of the harness: verigrad/*.py and verigrad/*/ (not the reference nor the engines)."""
    modules = {f"verigrad.{p.stem}" for p in (ROOT / "verigrad").glob("*.py") if p.stem != "__init__"}
    # verigrad/reference and verigrad/oracles are links to the top-level folders: not the harness.
    packages = {f"verigrad.{p.parent.name}" for p in (ROOT / "verigrad").glob("*/__init__.py")} - {"verigrad.reference", "verigrad.oracles"}
    return modules | packages


CONTRACTS = _contracts()


@pytest.mark.parametrize(("contract", "exempt"), [
    ("the reference imports only numpy", set()),
    ("engines import nothing of the harness or the reference", set()),
    ("the report imports only records, the reference and its own modules", {"verigrad.records", "verigrad.report"}),
])
def test_every_harness_module_is_forbidden_where_it_must_be(contract: str, exempt: set[str]) -> None:
    missing = _harness() - exempt - set(CONTRACTS[contract]["forbidden_modules"])
    assert not missing, f"add {sorted(missing)} to forbidden_modules of {contract!r} in pyproject.toml"


def test_every_core_module_is_held_to_the_core_contract() -> None:
    contract = CONTRACTS["the check core never imports the CLI, the pytest plugin or the report"]
    missing = _harness() - FRONT_ENDS - set(contract["source_modules"])
    assert not missing, f"add {sorted(missing)} to source_modules of {contract['name']!r} in pyproject.toml"
