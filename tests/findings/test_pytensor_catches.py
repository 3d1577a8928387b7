"""The PyTensor findings are caught as their notes say, through the user's adapter kept beside them.

PyTensor has no built-in adapter, so no sweep pins its outcomes; these checks are the pins: the day
verigrad stops telling these bugs apart (or PyTensor fixes them: then update the finding), this fails.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from verigrad.records import FAIL, PASS
from verigrad.runner import plan, run_check

pytest.importorskip("pytensor", reason="the PyTensor findings need pytensor (the [pytensor] extra)")

ADAPTER = Path(__file__).resolve().parents[2] / "findings" / "pytensor-pushforward-drops-terms" / "pytensor_adapter.py"
SOURCE = f"{ADAPTER}:Engine"

#: (property, case, argument): the diagnosis its finding's note quotes, or None for a pass.
CATCHES = [
    ("jvp", "elementwise.add", "w", "vanished"),  # the pushforward of w + x keeps only one tangent
    ("adjoint", "elementwise.add", "w", "mode_mismatch"),  # ... and the adjoint names the mode: JVP wrong, VJP right
    ("vjp", "elementwise.add", "w", None),  # the pullback is right
    ("jvp", "elementwise.mul", "w", None),  # so is the pushforward of a product
    ("vjp", "reduce.max_all", "X", "outside_subdifferential"),  # every tie gets the whole cotangent
]


@pytest.fixture(scope="module")
def engine():
    spec = importlib.util.spec_from_file_location("pytensor_adapter", ADAPTER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.Engine()


@pytest.mark.verigrad_full_only  # PyTensor compiles a graph per check: seconds; .ci/run runs it
@pytest.mark.parametrize(("prop", "case", "arg", "kind"), CATCHES, ids=[f"{p}-{c}-{a}" for p, c, a, _ in CATCHES])
def test_the_adapter_shows_each_finding_as_its_note_says(engine, prop, case, arg, kind):
    (spec,) = [s for s in plan([engine.name], ["float64"], properties=[prop], case_pattern=case) if s.arg == arg]
    verdict = run_check(spec, engine, "ci", seed=0, max_examples=20, source=SOURCE)
    if kind is None:
        assert verdict.status == PASS, verdict.message
    else:
        assert verdict.status == FAIL and verdict.diagnosis["kind"] == kind, verdict.message
