"""No rotting examples: every code block of the README and the docs runs, or says why it does not.

One test per page (its blocks build on each other, in order, in a fresh directory).  The kinds of
block and the skip marker are described in ``docblocks`` and docs/CONTRIBUTING-DOCS.md.
"""

from __future__ import annotations

import re
import sys
import unittest
from pathlib import Path

import pytest

pytest.importorskip("sybil", reason="the docs' examples run with Sybil: pip install -e '.[docs]'")
pytest.importorskip("yaml", reason="the docs' yaml blocks are parsed with PyYAML: pip install -e '.[docs]'")
from docblocks import (
    CHECKED,
    CODE_DIRECTIVES,
    PLAIN,
    RUN,
    doc_id,
    documents,
    fences,
    parse_verigrad,
    skip_reasons,
    verigrad_commands,
)
from docblocks import sybil as make_sybil
from sybil.example import NotEvaluated

DOCUMENTS = documents()
IDS = [doc_id(p) for p in DOCUMENTS]
#: A bash line that runs engine checks from the command line (tens of seconds of engine time per page).
RUNS_CHECKS = re.compile(r"^\s*(verigrad check|python -m pytest|pytest)\b", re.MULTILINE)


def _page(path: Path) -> object:
    """The page as a test parameter; a page that runs engine checks is left to full runs (.ci/run runs it)."""
    heavy = any(info.split()[:1] == ["bash"] and RUNS_CHECKS.search(body) for _, info, body in fences(path))
    return pytest.param(path, id=doc_id(path), marks=[pytest.mark.verigrad_full_only] if heavy else [])


@pytest.fixture
def page_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory; modules a page wrote there are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in [p.stem for p in tmp_path.glob("*.py")]:
        sys.modules.pop(module, None)


@pytest.mark.parametrize("path", [_page(p) for p in DOCUMENTS])
def test_examples(path: Path, page_dir: Path) -> None:
    document = make_sybil().parse(path)
    ran = skipped = 0
    for example in document:
        try:
            example.evaluate()
        except (unittest.SkipTest, NotEvaluated):
            skipped += 1
            continue
        except Exception as error:
            raise AssertionError(f"{doc_id(path)}, line {example.line}: {type(error).__name__}: {error}") from error
        ran += 1
    if ran == 0 and skipped == 0:
        pytest.skip(f"{doc_id(path)} has no code blocks")


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_every_block_runs_or_says_why(path: Path) -> None:
    for line, info in [(line, info) for line, info, _ in fences(path)]:
        language = info.split()[0] if info else ""
        if language.startswith("{") and language not in CODE_DIRECTIVES:
            continue  # a MyST directive (toctree, include, eval-rst ...), not a code block
        assert language in RUN | CHECKED | PLAIN, (
            f"{doc_id(path)}, line {line}: a ```{language or '(no language)'} block is neither run nor checked; "
            f"use one of {sorted(RUN | CHECKED | PLAIN)}")
    for line, reason in skip_reasons(path):
        assert reason, f"{doc_id(path)}, line {line}: a skip marker needs its reason: <!-- skip: next \"why\" -->"


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_every_documented_command_parses(path: Path) -> None:
    """Run or skipped, every ``verigrad ...`` of a bash block parses with the CLI's own argument parser."""
    for _, info, content in fences(path):
        if info.split()[:1] == ["bash"]:
            for argv in verigrad_commands(content):
                parse_verigrad(argv)
