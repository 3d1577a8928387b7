"""The pytest plugin's options as a table, read from its own ``pytest_addoption`` (nothing copied)."""

from __future__ import annotations

from typing import Any

from verigrad import pytest_plugin

from . import markdown as md


class _Recorder:
    """Stands in for pytest's parser: records what the plugin registers."""

    def __init__(self) -> None:
        self.options: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.ini: list[tuple[str, str, dict[str, Any]]] = []

    def getgroup(self, name: str, description: str = "") -> _Recorder:
        return self

    def addoption(self, *names: str, **options: Any) -> None:
        self.options.append((names, options))

    def addini(self, name: str, help: str, **options: Any) -> None:
        self.ini.append((name, help, options))


def _value(options: dict[str, Any]) -> str:
    if options.get("choices"):
        return " \\| ".join(md.code(str(c)) for c in options["choices"])
    metavar = options.get("metavar")
    return md.code(metavar) if metavar else ""


def pytest_options() -> str:
    """A markdown table: option, value, default, help; then the ini options."""
    recorder = _Recorder()
    pytest_plugin.pytest_addoption(recorder)
    lines = ["| option | value | default | what it does |", "|---|---|---|---|"]
    for names, options in recorder.options:
        default = options.get("default")
        shown = md.code(repr(default)) if default not in (None, [], "") else ""
        lines.append(f"| {', '.join(md.code(n) for n in names)} | {_value(options)} | {shown} | "
                     f"{md.text(options.get('help', ''))} |")
    lines += ["", "Ini options (in `pyproject.toml`'s `[tool.pytest.ini_options]` or `pytest.ini`):", ""]
    lines += [f"- {md.code(name)}: {md.text(help)}" for name, help, _ in recorder.ini]
    return "\n".join(lines) + "\n"
