"""The code blocks of the README and the docs, as Sybil sees them, and how each kind is checked.

| fence    | check                                                                               |
|----------|-------------------------------------------------------------------------------------|
| python   | run (a page's blocks share one namespace)                                           |
| bash     | run with ``bash -euo pipefail`` in the page's directory                             |
| yaml     | parsed, and every ``verigrad`` command in it parsed by the real argument parser     |
| text     | output or file contents: not run                                                    |

A block whose first line is ``# file: NAME`` is also written to NAME (in the page's directory)
before it is checked.  ``<!-- skip: next "reason" -->`` before a block skips it; the reason is
required.  See docs/CONTRIBUTING-DOCS.md.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from sybil import Example, Sybil
from sybil.parsers.myst import CodeBlockParser, PythonCodeBlockParser, SkipParser

from verigrad.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
RUN = frozenset({"python", "bash"})
CHECKED = frozenset({"yaml"})
PLAIN = frozenset({"text"})
#: MyST directives that are code blocks in disguise (everything else in braces is a directive).
CODE_DIRECTIVES = frozenset({"{code}", "{code-block}", "{code-cell}", "{sourcecode}"})
FILE_MARKER = re.compile(r"\A# file: (\S+)\n")
SKIP = re.compile(r"^<!--\s*skip:\s*next(?P<reason>[^>]*?)-->", re.M)
#: A bash block runs at most this long: examples must stay small.
BASH_TIMEOUT = 240
#: Values for the CI variables of workflows (a shard index and count).
CI_VARIABLES = {"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"}
OPERATORS = frozenset({"||", "&&", "|", ";", "&", "(", ")"})


def documents() -> list[Path]:
    """README.md and every page under docs/ (not the build output nor the generated includes)."""
    pages = sorted(p for p in (ROOT / "docs").rglob("*.md") if not {"_build", "_generated"} & set(p.parts))
    return [ROOT / "README.md", *pages]


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _write_marked_file(source: str) -> None:
    marker = FILE_MARKER.match(source)
    if marker:
        target = Path(marker.group(1))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")


def _python_with_file(evaluate: Any) -> Any:
    def evaluator(example: Example) -> Any:
        _write_marked_file(str(example.parsed))
        return evaluate(example)

    return evaluator


def run_bash(example: Example) -> None:
    source = str(example.parsed)
    _write_marked_file(source)
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", source], capture_output=True, text=True,
                          timeout=BASH_TIMEOUT, env=env, check=False)
    if done.returncode != 0:
        raise AssertionError(f"exit status {done.returncode} from:\n{source}\n--- output (tail) ---\n"
                             f"{(done.stdout + done.stderr)[-4000:]}")


def _github_matrix(document: Any) -> dict[str, str]:
    values: dict[str, str] = {}
    for job in (document.get("jobs") or {}).values() if isinstance(document, dict) else ():
        for name, options in ((job.get("strategy") or {}).get("matrix") or {}).items():
            if isinstance(options, list) and options:
                values[name] = str(options[0])
    return values


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def fill_ci_variables(text: str, matrix: dict[str, str]) -> str:
    """GitHub's ``${{ matrix.X }}`` and GitLab's ``$CI_NODE_*`` replaced by example values."""
    text = re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m: matrix.get(m.group(1), "1"), text)
    return re.sub(r"\$(\w+)", lambda m: CI_VARIABLES.get(m.group(1), m.group(0)), text)


def verigrad_commands(script: str) -> Iterator[list[str]]:
    """The argument lists of the ``verigrad ...`` commands of a shell script (continuations joined)."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError as error:
            raise AssertionError(f"cannot split shell line {line!r}: {error}") from None
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token in OPERATORS:
                if command[:1] == ["verigrad"]:
                    yield command[1:]
                command = []
            else:
                command.append(token)


def parse_verigrad(argv: list[str]) -> None:
    """Parse with verigrad's own argument parser; a usage error becomes an assertion naming the command."""
    try:
        build_parser().parse_args(argv)
    except SystemExit as exit_:
        if exit_.code:
            raise AssertionError(f"documented command does not parse: verigrad {shlex.join(argv)}") from None


def check_yaml(example: Example) -> None:
    source = str(example.parsed)
    _write_marked_file(source)
    document = yaml.safe_load(source)
    matrix = _github_matrix(document)
    commands = [argv for text in _strings(document) for argv in verigrad_commands(fill_ci_variables(text, matrix))]
    assert commands, "a yaml block in the docs is a CI recipe: it must run verigrad"
    for argv in commands:
        parse_verigrad(argv)


def write_text_file(example: Example) -> None:
    _write_marked_file(str(example.parsed))


def sybil() -> Sybil:
    python = PythonCodeBlockParser()
    python.codeblock_parser = CodeBlockParser("python", _python_with_file(python.codeblock_parser._evaluator))
    parsers = [python, CodeBlockParser("bash", run_bash), CodeBlockParser("yaml", check_yaml),
               CodeBlockParser("text", write_text_file), SkipParser()]
    return Sybil(parsers=parsers, path=str(ROOT))


def fences(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, info, content) of every fenced block of a page."""
    for token in MarkdownIt("commonmark").parse(path.read_text(encoding="utf-8")):
        if token.type == "fence":
            yield token.map[0] + 1, token.info.strip(), token.content


def skip_reasons(path: Path) -> list[tuple[int, str]]:
    """(line, reason) of every skip marker of a page."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group("reason").strip().strip("\"'").strip())
            for m in SKIP.finditer(text)]
