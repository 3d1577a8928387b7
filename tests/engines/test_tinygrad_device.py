"""The tinygrad engine runs on the CPU it names without touching tinygrad's process-wide default device.

A tensor tinygrad makes itself (the Python constant of ``x * 2.0 + 1.0``) lives on its default device.
Unnamed, tinygrad picks one by opening every backend it ships (0.9 s of a fresh process's first call,
measured) and writes its choice into ``os.environ``; the engine names it per call instead.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("tinygrad")

PROBE = """
import os
import numpy as np
from tinygrad import Device
from verigrad.oracles import load_engine

engine = load_engine("tinygrad")
grad = engine.vjp(lambda x: engine.xp.sum(x * 2.0 + 1.0), (np.ones(3),), np.array(1.0))[0]
assert grad.tolist() == [2.0, 2.0, 2.0], grad
print(os.environ.get("DEV"), "_select_device" in vars(Device))
"""


@pytest.mark.verigrad_full_only  # a fresh interpreter, as the default device is chosen once a process: 1.5 s
def test_a_python_constant_neither_picks_a_default_device_nor_sets_dev() -> None:
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                         env={key: value for key, value in os.environ.items() if key != "DEV"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["None", "False"], run.stdout
