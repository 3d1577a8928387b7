"""Every finding's reproduction runs and exits as its status.toml expects, so CI notices an engine's fix.

A reproduction exits 1 while the bug is present and 0 once it is fixed; an exception is neither (it
fails the test with its traceback).  The generated table (findings/TABLE.md and the README block)
must be current.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FINDINGS_DIR = ROOT / "findings"
TIMEOUT_S = 300  # tinygrad compiles its kernels with clang on the first run: ~20 s on 2 cores

# findings/ is a folder of scripts, not a package: load its renderer by path (registered first, as
# dataclasses look their module up in sys.modules).
_spec = importlib.util.spec_from_file_location("findings_render_table", FINDINGS_DIR / "render_table.py")
render_table = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = render_table
_spec.loader.exec_module(render_table)

FINDINGS = render_table.load_findings(FINDINGS_DIR)
# The module a finding's engine is imported as, where it differs from the engine's name.
ENGINE_MODULE = {"mlx": "mlx.core"}
#: What a reproduction may import beside numpy and its engine: Keras picks its backend from the environment.
EXTRA_IMPORTS = {"keras": {"os"}}


def _engine_module(finding) -> str:
    engine = finding.status["engine"]
    return ENGINE_MODULE.get(engine, engine)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package (mlx of mlx.core) is missing
        return False


@pytest.mark.verigrad_full_only  # minutes of engine time: .ci/run runs them with --verigrad-full
@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.slug)
def test_reproduction_exits_as_status_expects(finding):
    module = _engine_module(finding)
    if not _installed(module):
        pytest.skip(f"{finding.status['engine']} is not installed (no module {module})")
    folder = FINDINGS_DIR / finding.slug
    run = subprocess.run(
        [sys.executable, "repro.py"], cwd=folder, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert "Traceback" not in run.stderr, f"findings/{finding.slug}/repro.py raised:\n{run.stderr}"
    expected = finding.status["expect_exit"]
    assert run.returncode == expected, (
        f"findings/{finding.slug}/repro.py exited {run.returncode}, status.toml expects {expected}.\n"
        f"{run.stdout}\nIf {finding.status['engine']} fixed it: set expect_exit = {run.returncode}, record the fixing "
        "version in status.toml, unpin it in oracles/known_outcomes.txt, and run python findings/render_table.py."
    )


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.slug)
def test_reproduction_is_short(finding):
    lines = (FINDINGS_DIR / finding.slug / "repro.py").read_text().splitlines()
    assert len(lines) <= render_table.REPRO_MAX_LINES, f"{finding.slug}/repro.py has {len(lines)} lines"


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.slug)
def test_reproduction_imports_only_numpy_and_the_engine(finding):
    tree = ast.parse((FINDINGS_DIR / finding.slug / "repro.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    roots = {name.split(".")[0] for name in imported}
    allowed = {"numpy", _engine_module(finding).split(".")[0]} | EXTRA_IMPORTS.get(finding.status["engine"], set())
    assert roots <= allowed, f"{finding.slug}/repro.py imports {sorted(roots - allowed)} (only {sorted(allowed)})"


def test_table_and_readme_block_are_current():
    assert render_table.main(["--check"]) == 0, "run: python findings/render_table.py"


@pytest.mark.parametrize(
    ("status_toml", "message"),
    [
        ('engine = "x"\n', "missing key(s) version"),
        (
            'engine="x"\nversion="1"\noperation="o"\ndtype="float32"\nstatus="fixed"\nexpect_exit=1\n',
            "status 'fixed' is not one of",
        ),
        (
            'engine="x"\nversion="1"\noperation="o"\ndtype="float32"\nstatus="known-upstream"\nexpect_exit=1\n',
            "needs 'upstream'",
        ),
        (
            'engine="x"\nversion="1"\noperation="o"\ndtype="float32"\nstatus="out-of-scope"\nexpect_exit=1\n',
            "needs 'reason'",
        ),
    ],
    ids=["missing-keys", "unknown-status", "known-upstream-without-upstream", "out-of-scope-without-reason"],
)
def test_malformed_finding_is_a_clear_error(tmp_path, status_toml, message):
    folder = tmp_path / "bad-finding"
    folder.mkdir()
    (folder / "repro.py").write_text("raise SystemExit(1)\n")
    (folder / "NOTE.md").write_text("# a title\n")
    (folder / "status.toml").write_text(status_toml)
    with pytest.raises(render_table.FindingError, match="findings/bad-finding") as error:
        render_table.load_finding(folder)
    assert message in str(error.value)
