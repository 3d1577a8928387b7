"""The docs' Sphinx extension: generated markdown shows table text as text, every formula renders
offline, and the findings table and docstrings are adapted for the site without losing anything."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from verigrad.reference import CASES, ERRATA
from verigrad.report.mathml import to_mathml

pytest.importorskip("sphinx", reason="the docs extension is a Sphinx extension: pip install -e '.[docs]'")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "_ext"))
from verigrad_docs import catalog, findings_page, plain_maths
from verigrad_docs import markdown as md

LATEX = sorted({case.formula for case in CASES} | {p.latex for case in CASES for p in case.partials.values()})


def _rendered_text(markdown: str) -> str:
    tokens = MarkdownIt("commonmark").parseInline(markdown)
    return "".join(child.content for token in tokens for child in token.children if child.type in ("text", "code_inline"))


@pytest.mark.parametrize("text", ["[z_i > 0]·e_i", "a*b*c", "`x` | y", "<b>bold</b> #1 $5", r"back\slash"])
def test_text_is_shown_as_written(text: str) -> None:
    assert _rendered_text(md.text(text)) == text


@pytest.mark.parametrize("value", ["x", "a`b", "`edge`"])
def test_code_keeps_backticks(value: str) -> None:
    assert _rendered_text(md.code(value)) == value


def test_docstring_literals_keep_the_spaces_beside_them() -> None:
    # The diagnoses page showed "more than`limit`elements" for every mutant docstring with a literal inside.
    line = "Hangs (sleeps ``seconds``) once any primal has more than ``limit`` elements"
    assert _rendered_text(md.rst(line)) == line.replace("``", "")


def test_mixed_keeps_math_and_escapes_the_rest() -> None:
    assert md.mixed(r"$\frac{a}{b}$ (the *line* before)") == r"$\frac{a}{b}$ (the \*line\* before)"


@pytest.mark.parametrize("latex", LATEX)
def test_every_catalog_formula_renders_as_mathml(latex: str) -> None:
    assert to_mathml(latex, display="block") is not None, f"latex2mathml cannot render {latex!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_catalog_has_a_labelled_section_per_case(case) -> None:
    assert f"({case.id})=\n### {case.id} " in catalog.catalog()


@pytest.mark.parametrize("erratum", ERRATA, ids=[e.id for e in ERRATA])
def test_errata_page_links_each_erratum_to_its_case(erratum) -> None:
    page = catalog.errata()
    section = page[page.index(f"({erratum.id})="):]
    assert md.ref(erratum.case_id) in section.split("\n\n(")[0]


def test_findings_table_keeps_rows_and_points_notes_at_their_folders() -> None:
    table = "# Findings\n\n| engine | what |\n|---|---|\n| torch 2.13 | [a `jvp` bug](torch-jvp/NOTE.md) |\n"
    page = findings_page(table)
    assert not page.startswith("# ")
    assert "| torch 2.13 | a `jvp` bug (`findings/torch-jvp/`) |" in page


def test_a_findings_title_with_brackets_still_points_at_its_folder() -> None:
    page = findings_page("| paddle | [a tangent of shape `[1]` for `x[0]`](paddle-shape/NOTE.md) |\n")
    assert "| paddle | a tangent of shape `[1]` for `x[0]` (`findings/paddle-shape/`) |" in page


@pytest.mark.parametrize(("line", "expected"), [
    ("|error| in ulps of max(|exact|, magnitude)", r"\|error\| in ulps of max(\|exact\|, magnitude)"),
    ("E_ij escapes; E_: column j", r"E_ij escapes; E\_: column j"),
    ("=====  ====", "=====  ===="),
    ("| a line block", "| a line block"),
])
def test_docstring_maths_is_escaped_for_restructuredtext(line: str, expected: str) -> None:
    lines = [line]
    plain_maths(None, "module", "m", None, {}, lines)
    assert lines == [expected]
