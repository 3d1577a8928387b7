"""Expected outcomes: a plain text file that pins an engine's known bugs and conventions.

One expectation per line::

    CASE ENGINE [DTYPE] VERDICT  # reason

CASE is a case id or a check id, either may use shell wildcards
(``elementwise.*``, ``kink[neuron.relu-*]``); ENGINE and DTYPE may be ``*``, and DTYPE
several globs separated by commas (``float32,float16``);
VERDICT is ``pass``, ``fail``, ``skip``, or ``any`` for a bug that shows only on
some inputs (either outcome is accepted, like a non-strict xfail).  The last
matching line wins.  A check whose status differs from its expectation fails the
run, an unexpected pass included; lines for the run's engines that match no check
are reported so stale entries get noticed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from verigrad.records import STATUSES, Verdict

ANY = "any"
VERDICTS = (*STATUSES, ANY)


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
        subject_ok = glob(verdict.case, self.case) or glob(verdict.check_id, self.case)
        dtype_ok = any(glob(verdict.dtype, dtype) for dtype in self.dtype.split(","))  # "float32,float16"
        return subject_ok and glob(verdict.engine, self.engine) and dtype_ok


def glob(text: str, pattern: str) -> bool:
    """Shell-style ``*`` and ``?`` matching where brackets are literal (check ids contain them)."""
    literal = pattern.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]")
    return fnmatch.fnmatchcase(text, literal)


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
        if verdict not in VERDICTS:
            raise ExpectationsError(f"{path}:{number}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
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


def unused(expectations: list[Expectation], used: set[int], engines: list[str]) -> list[Expectation]:
    """Lines about the run's engines that matched no check in the run."""
    return [e for e in expectations if e.line not in used and any(glob(name, e.engine) for name in engines)]
