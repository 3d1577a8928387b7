"""Math rendered to MathML at build time (latex2mathml), so pages load no script and fetch nothing.

Registered as Sphinx's HTML math renderer ``mathml``: every ``$...$`` and ``$$...$$``
of the MyST pages, and every formula the generated pages emit, becomes native
MathML, which every current browser draws.  A formula latex2mathml cannot convert
is a build warning (an error under ``-W``), never a silent fallback.
"""

from __future__ import annotations

import html

from docutils import nodes
from sphinx.util import logging

from verigrad.report.mathml import to_mathml

logger = logging.getLogger(__name__)


def _render(translator, node: nodes.Element, display: str) -> None:
    latex = node.astext()
    markup = to_mathml(latex, display=display)
    if markup is None:
        logger.warning("latex2mathml cannot render %r", latex, location=node)
        markup = f"<code>{html.escape(latex)}</code>"
    if display == "block":
        translator.body.append(f'<div class="math-block">{markup}</div>\n')
    else:
        translator.body.append(str(markup))
    raise nodes.SkipNode


def visit_inline(translator, node: nodes.Element) -> None:
    _render(translator, node, "inline")


def visit_block(translator, node: nodes.Element) -> None:
    _render(translator, node, "block")


def register(app) -> None:
    app.add_html_math_renderer("mathml", (visit_inline, None), (visit_block, None))
