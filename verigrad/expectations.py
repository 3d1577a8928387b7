"""Expected outcomes: a plain text file that pins an engine's known bugs and conventions.

One expectation per line::

    CASE ENGINE [DTYPE] VERDICT  # reason

CASE is a case id or a check id, either may use shell wildcards
(``elementwise.*``, ``kink[neuron.relu-*]``); ENGINE and DTYPE may be ``*``;
VERDICT is ``pass``, ``fail`` or ``skip``.  The last matching line wins.  A check
whose status differs from its expectation fails the run, an unexpected pass
included; lines that match no check are reported so stale entries get noticed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from verigrad.records import STATUSES, Verdict


class ExpectationsError(Exception):
    """The expectations file is malformed; the message names the file and line."""


@dataclass(frozen=True)
class Expectation:
    """One line of an expectations file."""

    case: str
    engine: str
    dtype: str
    verdict: str
    reason: str
    line: int

    def matches(self, verdict: Verdict) -> bool:
        subject_ok = fnmatch.fnmatchcase(verdict.case, self.case) or fnmatch.fnmatchcase(verdict.check_id, self.case)
        return (
            subject_ok
            and fnmatch.fnmatchcase(verdict.engine, self.engine)
            and fnmatch.fnmatchcase(verdict.dtype, self.dtype)
        )


def parse(path: str | Path) -> list[Expectation]:
    """Read an expectations file; errors name the line."""
    path = Path(path)
    if not path.exists():
        raise ExpectationsError(f"expectations file {str(path)!r} does not exist")
    expectations = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text, _, reason = raw.partition("#")
        fields = text.split()
        if not fields:
            continue
        if len(fields) not in (3, 4):
            raise ExpectationsError(f"{path}:{number}: expected 'CASE ENGINE [DTYPE] VERDICT  # reason', got {raw.strip()!r}")
        case, engine, *rest = fields
        dtype, verdict = (rest if len(rest) == 2 else ["*", rest[0]])
        if verdict not in STATUSES:
            raise ExpectationsError(f"{path}:{number}: verdict {verdict!r} is not one of {', '.join(STATUSES)}")
        expectations.append(Expectation(case, engine, dtype, verdict, reason.strip(), number))
    return expectations


def apply(expectations: list[Expectation], verdict: Verdict, used: set[int]) -> None:
    """Set ``verdict.expected`` from the last matching line, and note that line as used."""
    for expectation in reversed(expectations):
        if expectation.matches(verdict):
            verdict.expected = expectation.verdict
            verdict.expectation_reason = expectation.reason or None
            used.add(expectation.line)
            return


def unused(expectations: list[Expectation], used: set[int]) -> list[Expectation]:
    """Lines that matched no check in the run."""
    return [e for e in expectations if e.line not in used]
