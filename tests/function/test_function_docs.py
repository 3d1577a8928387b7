"""The guide's examples run as shown: every python block in order, each output block compared with what it printed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "check-your-functions.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, str | None]]:
    """(python source, the text block right after it or None), in the page's order."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))]
    pairs = []
    for k, (language, body, _, end) in enumerate(blocks):
        if language != "python":
            continue
        following = blocks[k + 1] if k + 1 < len(blocks) else None
        shown = following[1] if following and following[0] == "text" and not GUIDE.read_text(encoding="utf-8")[end:following[2]].strip() else None
        pairs.append((body, shown))
    return pairs


def test_the_guide_has_examples_with_their_output() -> None:
    pairs = _blocks()
    assert len(pairs) >= 5
    assert sum(shown is not None for _, shown in pairs) >= 4


@pytest.fixture(scope="module")
def ran() -> tuple[dict[str, object], list[tuple[str, str | None]]]:
    """Every python block run once, in order, in one namespace: (namespace, [(printed, shown)])."""
    namespace: dict[str, object] = {"__name__": "__main__"}  # as when the guide is run as a script
    outputs = []
    for index, (source, shown) in enumerate(_blocks()):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(source, f"{GUIDE.name}[python block {index}]", "exec"), namespace)
        outputs.append((printed.getvalue(), shown))
    return namespace, outputs


def test_every_example_prints_what_the_guide_shows(ran) -> None:
    _, outputs = ran
    for index, (printed, shown) in enumerate(outputs):
        if shown is not None:
            assert printed.strip().splitlines() == shown.strip().splitlines(), f"python block {index}"


def test_the_pytest_example_passes(ran) -> None:
    namespace, _ = ran
    namespace["test_clamp_rule"]()
