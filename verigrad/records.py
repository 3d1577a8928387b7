"""Verdicts and the records file: one JSON line per verdict, flushed as it happens.

A run killed half-way keeps every finished verdict; ``verigrad report`` rebuilds
the summary (and the HTML report) from the file.  Line types (``"kind"``):

``run``      the header: schema version, date, command, seed, profile, mode, versions
``verdict``  one check's verdict (:class:`Verdict`)
``summary``  the footer of a finished run: what is read across verdicts (root causes)

Everything the HTML report shows comes from these records (and the static
reference: formulas, errata); docs/reference/records.md describes each field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

PASS = "pass"
FAIL = "fail"
SKIP = "skip"
STATUSES = (PASS, FAIL, SKIP)
#: The records schema this verigrad writes and reads (the ``schema`` of a run header).
#: 2: failing verdicts carry their Jacobians (``evidence.jacobian``), headers the fd step scan.
SCHEMA_VERSION = 2

#: Every diagnosis verigrad can give (a verdict's ``diagnosis.kind``), with the one-line meaning shown in reports.
KINDS: dict[str, str] = {
    "wrong_sign": "the result is the negated derivative",
    "scaled": "the result is the derivative times a constant factor",
    "transposed": "the Jacobian is transposed (denominator layout where numerator is meant)",
    "missing_term": "one path's contribution is missing (aliased or equal-valued inputs)",
    "double_counted": "one path's contribution is counted twice",
    "outside_subdifferential": "at a kink, the value lies outside the subdifferential",
    "broadcast_not_reduced": "a broadcast argument's gradient was not summed back to its shape",
    "dtype_changed": "the result's dtype differs from the primal's (upcast or downcast)",
    "vanished": "every entry is exactly zero where the derivative is not",
    "precision": "the error is far above the rounding bound for this dtype, yet small",
    "non_finite": "the result holds NaN or Inf where the derivative is finite",
    "overflowed": "the function's own value is Inf or NaN where a correct engine's (each primitive rounded once) is finite",
    "nondeterministic": "two identical calls gave different results",
    "mutated_input": "the engine modified the input arrays it was given",
    "engine_raised": "the engine raised an exception",
    "bad_return": "the engine returned something that is not one array per primal",
    "wrong_shape": "the result has the wrong shape",
    "structure": "entries that must be exactly zero (or one) are not",
    "timeout": "the check did not finish within the time limit",
    "crashed": "the check died: its worker process (e.g. a segfault in the engine), or verigrad itself raised",
    "unclassified": "the evidence fits none of the known kinds of mistake",
    "mode_mismatch": "VJP and JVP disagree, and the closed form says which of the two is wrong",
}



@dataclass
class Verdict:
    """The outcome of one check: a property on one (case, argument, engine, dtype)."""

    check_id: str
    property: str
    case: str
    arg: str | None
    engine: str
    dtype: str
    status: str
    examples: int = 0
    max_ulps: float = 0.0
    max_bound_fraction: float = 0.0
    ulps: list[float] = field(default_factory=list)
    bound_fractions: list[float] = field(default_factory=list)
    message: str = ""
    diagnosis: dict[str, Any] | None = None
    counterexample: dict[str, Any] | None = None
    reproduction: str | None = None
    convention: float | None = None
    evidence: dict[str, Any] | None = None
    mode: str = ""
    seconds: float = 0.0
    expected: str | None = None
    expectation_reason: str | None = None
    kind: str = "verdict"

    @property
    def as_expected(self) -> bool:
        """True when the status is what the expectations file (or default: pass/skip) says."""
        if self.expected is None:
            return self.status in (PASS, SKIP)
        if self.expected == "any":
            return self.status in (PASS, FAIL)
        return self.status == self.expected

    def to_json(self) -> str:
        return json.dumps(json_safe(asdict(self)), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def json_safe(value: Any) -> Any:
    """JSON has no Inf/NaN: encode them as strings so the file stays standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def from_json_safe(value: Any) -> Any:
    """Undo :func:`json_safe`."""
    if value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, dict):
        return {k: from_json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json_safe(v) for v in value]
    return value


class RecordsWriter:
    """Appends records to a JSON-lines file, flushing each one.

    A flush hands the line to the operating system, so a killed process (even
    SIGKILL) loses nothing already written.
    """

    def __init__(self, path: str | Path, append: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = self.path.open("a" if append else "w", encoding="utf-8")

    def write_header(self, header: dict[str, Any]) -> None:
        """A run header, stamped with :data:`SCHEMA_VERSION`."""
        fields = {k: v for k, v in header.items() if k not in ("kind", "schema")}
        self._write(json.dumps(json_safe({"kind": "run", "schema": SCHEMA_VERSION, **fields}), ensure_ascii=False))

    def write(self, verdict: Verdict) -> None:
        self._write(verdict.to_json())

    def write_summary(self, summary: dict[str, Any]) -> None:
        """The footer of a finished run (``"kind": "summary"``): conclusions drawn across its verdicts."""
        fields = {k: v for k, v in summary.items() if k != "kind"}
        self._write(json.dumps(json_safe({"kind": "summary", **fields}), ensure_ascii=False))

    def _write(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rewrite_records(path: str | Path, header: dict[str, Any], verdicts: Iterable[Verdict]) -> None:
    """Replace a finished run's records file by the same records in the given order (atomically)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with RecordsWriter(temporary) as writer:
        writer.write_header(header)
        for verdict in verdicts:
            writer.write(verdict)
    temporary.replace(path)


class RecordsError(Exception):
    """A records file could not be read; the message names the file and line."""


def read_records(paths: Iterable[str | Path]) -> tuple[list[dict[str, Any]], list[Verdict]]:
    """Headers and verdicts from one or more records files (shards merge in order).

    A run's footer (``"kind": "summary"``, optional) is attached to its header as
    ``header["summary"]``.  A truncated last line (a run killed mid-write) is
    skipped; any other bad line, and a run header of another :data:`SCHEMA_VERSION`,
    is an error naming the file and line number.
    """
    headers: list[dict[str, Any]] = []
    verdicts: list[Verdict] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise RecordsError(f"records file {str(path)!r} does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
        header: dict[str, Any] | None = None  # this file's run header, which its summary completes
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = from_json_safe(json.loads(line))
            except json.JSONDecodeError as error:
                if number == len(lines):
                    continue  # the run was killed while writing its last line
                raise RecordsError(f"{path}:{number}: not a JSON record ({error.msg})") from None
            if not isinstance(data, dict) or "kind" not in data:
                raise RecordsError(f"{path}:{number}: a record must be an object with a 'kind'")
            if data["kind"] == "run":
                _check_schema(data, f"{path}:{number}")
                header = data
                headers.append(data)
            elif data["kind"] == "verdict":
                try:
                    verdicts.append(Verdict.from_dict(data))
                except TypeError as error:
                    raise RecordsError(f"{path}:{number}: incomplete verdict ({error})") from None
            elif data["kind"] == "summary":
                if header is None:
                    raise RecordsError(f"{path}:{number}: a run summary before the file's run header")
                header["summary"] = {k: v for k, v in data.items() if k != "kind"}
    return headers, verdicts


def _check_schema(header: dict[str, Any], where: str) -> None:
    version = header.get("schema", 1)  # headers before version 2 had no schema field
    if version != SCHEMA_VERSION:
        raise RecordsError(
            f"{where}: records of schema version {version!r}; this verigrad reads version {SCHEMA_VERSION} "
            "(re-run the check with this verigrad to get records it can read)"
        )


def iter_lines(verdicts: Iterable[Verdict]) -> Iterator[str]:
    for verdict in verdicts:
        yield verdict.to_json()
