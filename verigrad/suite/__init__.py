"""The property suite, runnable against any engine: ``pytest --pyargs verigrad.suite --engine NAME``."""
