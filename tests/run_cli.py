"""``verigrad ARGS`` run in the test's own process, for the tests of the command line."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path


def verigrad(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``verigrad ARGS`` in ``cwd``, in this process: the console script's ``main``, its exit code and output.

    What a shell gives the command (the working directory first on ``sys.path``, the
    user's modules imported fresh, stdout and stderr) without a second of interpreter
    start-up per call.  Runs with worker processes (``-j``) run here too: their workers are
    forkserver processes all the same.  A killed run and the pytest suite under xdist need a
    real process (``tests/cli/test_cli.py``).
    """
    from verigrad.cli import main

    out, err = io.StringIO(), io.StringIO()
    before, here = set(sys.modules), os.getcwd()
    sys.path.insert(0, str(cwd))
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        os.chdir(here)
        sys.path.remove(str(cwd))
        for name in set(sys.modules) - before:  # the user's modules: the next test writes its own
            if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(cwd)):
                del sys.modules[name]
    return subprocess.CompletedProcess(["verigrad", *args], code, out.getvalue(), err.getvalue())
