"""``python -m verigrad``: the ``verigrad`` command where the console script is not on PATH (a venv's scripts
directory not activated, ``--system-site-packages`` environments, notebooks' ``!python -m``)."""

import sys

from verigrad.cli import main

if __name__ == "__main__":
    sys.exit(main())
