"""Writing MyST markdown from data: escaping, so that text from the tables is shown, never interpreted."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#$~{}])")
_MATH = re.compile(r"\$([^$]+)\$")


def text(value: str) -> str:
    """Plain text for a markdown paragraph or table cell: every markup character escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: str) -> str:
    """Inline code, with a fence longer than any run of backticks inside."""
    value = str(value)
    fence = "`" * (max((len(m) for m in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def math(latex: str) -> str:
    """Inline math (rendered to MathML by the ``mathml`` renderer)."""
    return "$" + " ".join(latex.split()) + "$"


def mixed(value: str) -> str:
    """Text holding ``$...$`` LaTeX segments (as the errata quote the seed): math kept, the rest escaped."""
    parts, last = [], 0
    for match in _MATH.finditer(value):
        parts.append(text(value[last:match.start()]))
        parts.append(math(match.group(1)))
        last = match.end()
    parts.append(text(value[last:]))
    return " ".join(p for p in parts if p)


def rst(value: str) -> str:
    """A docstring line: its RST ````literals```` as inline code, the rest escaped."""
    pieces = str(value).split("``")
    return "".join(code(piece) if index % 2 else _spaced(piece) for index, piece in enumerate(pieces))


def _spaced(piece: str) -> str:
    """:func:`text`, keeping one space at either edge that had one (the space beside a literal)."""
    if not piece.strip():
        return " " if piece else ""
    return (" " if piece[0].isspace() else "") + text(piece) + (" " if piece[-1].isspace() else "")


def ref(label: str, title: str | None = None) -> str:
    """A cross-reference to a ``(label)=`` target of any page, shown as ``title`` (default: the label)."""
    shown = (title or label).replace("`", "").replace("<", "").replace(">", "")
    return f"{{ref}}`{shown} <{label}>`"
