"""Sphinx extension of verigrad's docs: offline MathML math and the pages generated from the code.

At ``builder-inited`` it writes ``docs/_generated/`` (the case catalog, the errata,
one real verdict per diagnosis, the findings table) and the report screenshots in
``docs/_static/``; the hand-written pages include them.  The slow parts (mutant
runs, the screenshot run) run side by side in two processes, and only when verigrad's
sources change: their outputs are keyed by a hash of those sources.
"""

from __future__ import annotations

import hashlib
import logging as std_logging
import multiprocessing
import re
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from sphinx.util import logging

from . import catalog, diagnoses, mathml, pytest_options, screenshots

logger = logging.getLogger(__name__)

#: Sources whose change makes the slow generated pages stale, and the packages whose version does.
SOURCE_DIRS = ("verigrad", "reference", "oracles", "docs/_ext")
PACKAGES = ("torch", "numpy", "hypothesis", "playwright")
#: Toctree globs that may match nothing yet: folders other pages are merged into (Sphinx 9 emits this
#: warning without a type, so ``suppress_warnings`` cannot silence it).
EXPECTED_EMPTY_GLOBS = frozenset({"guide/*"})
NO_FINDINGS = ("No findings table yet: `python findings/render_table.py` writes `findings/TABLE.md`, "
               "and this page shows it.\n")


def source_key(repository: Path) -> str:
    """A hash of every Python source and template the generated pages depend on, and of the versions of
    the packages that run them."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing".encode())
    for folder in SOURCE_DIRS:
        for path in sorted((repository / folder).rglob("*")):
            if path.suffix in (".py", ".html", ".css", ".js", ".txt") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(repository)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


#: A link to a finding's NOTE.md; its text may hold bracketed code (`x[0]`, a shape `[1]`), one level deep.
_NOTE_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])+)\]\(([\w.-]+)/NOTE\.md\)")


def findings_page(table: str) -> str:
    """findings/TABLE.md for the docs: its title dropped (the page has one), links to NOTE.md files
    (not pages of the site) turned into the folder's path."""
    lines = table.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return _NOTE_LINK.sub(lambda m: f"{m.group(1)} (`findings/{m.group(2)}/`)", "\n".join(lines)) + "\n"


def _write(path: Path, text: str) -> None:
    """Write only on change, so Sphinx re-reads only the pages whose includes changed."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _fresh(stamp: Path, key: str, outputs: list[Path]) -> bool:
    return stamp.exists() and stamp.read_text() == key and all(p.exists() for p in outputs)


def _diagnoses_page(repository: Path) -> str:
    return diagnoses.diagnoses(repository)


def _screenshots(static: Path, scratch: Path) -> list[str] | None:
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    taken = screenshots.take(static, scratch)
    return None if taken is None else [p.name for p in taken]


def _run_side_by_side(jobs: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]) -> dict[str, Any]:
    """The slow generators, each in its own process when there are several (each imports torch itself)."""
    if len(jobs) < 2:
        return {name: function(*args) for name, (function, args) in jobs.items()}
    context = multiprocessing.get_context("fork")  # the children inherit sys.path (docs/_ext) and the loaded modules
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = {name: pool.submit(function, *args) for name, (function, args) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def generate(app) -> None:
    docs = Path(app.srcdir)
    repository = docs.parent
    generated = docs / "_generated"
    generated.mkdir(exist_ok=True)
    _write(generated / "catalog.md", catalog.catalog())
    _write(generated / "errata.md", catalog.errata())
    _write(generated / "pytest-options.md", pytest_options.pytest_options())
    findings = repository / "findings" / "TABLE.md"
    _write(generated / "findings.md", findings_page(findings.read_text(encoding="utf-8")) if findings.exists() else NO_FINDINGS)
    key = source_key(repository)
    stamps = {"diagnoses": generated / ".diagnoses.key", "screenshots": generated / ".screenshots.key"}
    jobs: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
    if not _fresh(stamps["diagnoses"], key, [generated / "diagnoses.md"]):
        jobs["diagnoses"] = (_diagnoses_page, (repository,))
    if not _fresh(stamps["screenshots"], key, [docs / "_static" / "report.png"]):
        jobs["screenshots"] = (_screenshots, (docs / "_static", generated / "report-run"))
    results = _run_side_by_side(jobs)
    if "diagnoses" in results:
        _write(generated / "diagnoses.md", results["diagnoses"])
        stamps["diagnoses"].write_text(key)
    if "screenshots" in results:
        if results["screenshots"] is None:
            logger.info("verigrad docs: no Chromium/playwright: keeping the committed report screenshots")
        else:
            logger.info("verigrad docs: report screenshots from a real run: %s", ", ".join(results["screenshots"]))
            stamps["screenshots"].write_text(key)


class _EmptyGuideGlob(std_logging.Filter):
    def filter(self, record: std_logging.LogRecord) -> bool:
        return not (str(record.msg).startswith("toctree glob pattern") and record.args
                    and record.args[0] in EXPECTED_EMPTY_GLOBS)


_PIPE = re.compile(r"(?<!\\)\|")
_SUBSCRIPT_END = re.compile(r"(?<=\w)_(?=[\s:,.;)]|$)", re.M)


def plain_maths(app, what, name, obj, options, lines: list[str]) -> None:
    """verigrad's docstrings write maths in plain text: |x| is an absolute value, E_ij a subscript.

    In reStructuredText those are a substitution and a link target; escape them, outside tables.
    """
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("+-", "+=", "==", "| ")):  # grid and simple table rules, line blocks
            continue
        line = _PIPE.sub(r"\\|", line)
        lines[index] = _SUBSCRIPT_END.sub("\\_", line)


def setup(app) -> dict[str, object]:
    mathml.register(app)
    std_logging.getLogger("sphinx.sphinx.directives.other").addFilter(_EmptyGuideGlob())
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", plain_maths)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
