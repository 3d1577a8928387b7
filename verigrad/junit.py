"""JUnit XML for CI systems: one testsuite per engine, one testcase per check."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from verigrad.records import FAIL, SKIP, Verdict


def write_junit(verdicts: list[Verdict], path: str | Path) -> Path:
    """Write ``verdicts`` as JUnit XML; an expected failure is reported as a skip with its reason."""
    by_engine: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        by_engine[verdict.engine].append(verdict)
    root = ET.Element("testsuites", name="verigrad")
    for engine, items in by_engine.items():
        failures = sum(1 for v in items if not v.as_expected)
        skipped = sum(1 for v in items if v.as_expected and v.status in (SKIP, FAIL))
        suite = ET.SubElement(root, "testsuite", name=f"verigrad.{engine}", tests=str(len(items)),
                              failures=str(failures), skipped=str(skipped),
                              time=f"{sum(v.seconds for v in items):.3f}")
        for verdict in items:
            case = ET.SubElement(suite, "testcase", classname=f"verigrad.{engine}.{verdict.property}",
                                 name=verdict.check_id, time=f"{verdict.seconds:.3f}")
            if not verdict.as_expected:
                expected = verdict.expected or "pass"
                failure = ET.SubElement(case, "failure", message=f"expected {expected}, got {verdict.status}: {verdict.message}"[:2000])
                failure.text = verdict.message + ("\n\n" + verdict.reproduction if verdict.reproduction else "")
            elif verdict.status in (SKIP, FAIL):
                reason = verdict.expectation_reason or verdict.message
                ET.SubElement(case, "skipped", message=f"{verdict.status} (expected): {reason}"[:2000])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
