"""LaTeX to MathML with latex2mathml, checked so that nothing but MathML reaches the page.

latex2mathml does not escape the contents of ``\\text{...}`` (``a<b`` comes out
raw), so its output is parsed as XML, every element checked against the MathML
vocabulary and every attribute against a short allow-list, and serialized again
(which escapes text).  Anything that fails becomes ``None`` and the template
shows the LaTeX source as escaped text instead.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET

from markupsafe import Markup

__all__ = ["to_mathml"]

_NS = "{http://www.w3.org/1998/Math/MathML}"

#: MathML Core elements (plus the presentation elements latex2mathml emits).
_ELEMENTS = frozenset(
    """math mrow mi mn mo mtext mspace ms mfrac msqrt mroot mstyle merror mpadded mphantom
    menclose msub msup msubsup munder mover munderover mmultiscripts mprescripts none
    mtable mtr mtd mlabeledtr semantics annotation mfenced""".split()
)
_ATTRIBUTES = frozenset(
    """display mathvariant mathsize stretchy fence separator lspace rspace form largeop movablelimits
    accent accentunder linethickness columnalign rowalign columnlines rowlines columnspacing
    rowspacing frame framespacing equalrows equalcolumns displaystyle scriptlevel width height
    depth minsize maxsize symmetric open close separators notation align class encoding""".split()
)


@functools.lru_cache(maxsize=1024)
def to_mathml(latex: str, display: str = "inline") -> Markup | None:
    """Safe MathML markup for ``latex``, or None when it cannot be converted."""
    if not latex or not isinstance(latex, str):
        return None
    try:
        from latex2mathml.converter import convert

        raw = convert(latex, display=display)
        root = ET.fromstring(raw)
    except Exception:  # latex2mathml missing, unsupported LaTeX, or output that is not XML
        return None
    for element in root.iter():
        tag = element.tag.removeprefix(_NS)
        if tag not in _ELEMENTS:
            return None
        element.tag = tag
        for name in list(element.attrib):
            if name not in _ATTRIBUTES or "url(" in element.attrib[name].lower():
                del element.attrib[name]
    return Markup(ET.tostring(root, encoding="unicode", short_empty_elements=False))
