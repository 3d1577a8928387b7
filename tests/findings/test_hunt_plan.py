"""benchmarks/hunt.py plans the runs the recipe promises, and skips what this verigrad does not have."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("benchmarks_hunt", ROOT / "benchmarks" / "hunt.py")
hunt = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = hunt
_spec.loader.exec_module(hunt)

ENGINES, DTYPES = ["mygrad", "autograd"], ["float64"]


def _plan(*argv: str) -> list:
    return hunt.plan_runs(hunt.parse_args(["--out", "/tmp/hunt", *argv]), ENGINES, DTYPES)


def test_every_stage_is_sharded_into_the_requested_number_of_runs():
    runs = _plan("--seeds", "1", "2", "--shards", "3", "--sizes", "1000", "100000")
    stages = [run.stage for run in runs]
    assert stages.count("property") == 2 * 3
    assert stages.count("large") == 3
    assert stages.count("scale-1000") == stages.count("scale-100000") == 3


@pytest.mark.parametrize(
    ("stage", "options"),
    [
        ("property", ["--profile", "ci", "--seed", "1", "--shard", "2/3", "-j"]),
        ("large", ["--examples", "200", "--shard", "2/3"]),
        ("scale-1000", ["--scale", "1000", "--shard", "2/3"]),
    ],
    ids=["property", "large", "scale"],
)
def test_each_run_is_a_sharded_verigrad_check_with_the_known_outcomes(stage, options):
    run = [r for r in _plan("--seeds", "1", "--shards", "3", "--sizes", "1000") if r.stage == stage][1]
    argv = list(run.argv)
    assert argv[:4] == ["verigrad", "check", *ENGINES]
    assert argv[argv.index("--expect") + 1] == str(hunt.KNOWN_OUTCOMES)
    assert argv[argv.index("--records") + 1] == run.records
    for option in options:
        assert option in argv, f"{option} missing from {' '.join(argv)}"


def test_records_files_are_distinct():
    runs = _plan("--seeds", "1", "2", "--shards", "4")
    assert len({run.records for run in runs}) == len(runs)


def test_a_dtype_this_verigrad_lacks_is_skipped_with_a_reason():
    usable, skipped = hunt.available_dtypes(("float64", "float8"))
    assert usable == ["float64"]
    assert skipped == {"float8": "not a dtype of this verigrad"}


def test_an_engine_that_is_not_built_in_is_skipped_with_a_reason():
    usable, skipped = hunt.available_engines(("no-such-engine",))
    assert usable == []
    assert skipped == {"no-such-engine": "not a built-in engine of this verigrad"}


def test_every_dtype_the_recipe_wants_is_one_verigrad_checks():
    # the property stage once ran float64 and float32 only: it asked the runner's defaults, not the known dtypes
    usable, skipped = hunt.available_dtypes(hunt.WANTED_DTYPES)
    assert usable == list(hunt.WANTED_DTYPES) and skipped == {}


def test_a_resumed_hunt_skips_exactly_the_runs_whose_records_are_complete(tmp_path):
    runs = hunt.plan_runs(hunt.parse_args(["--out", str(tmp_path), "--seeds", "1", "--shards", "3"]), ENGINES, DTYPES)
    complete, killed, _ = runs[:3]
    Path(complete.records).write_text('{"kind": "run"}\n{"kind": "verdict"}\n{"kind": "summary", "root_causes": []}\n')
    Path(killed.records).write_text('{"kind": "run"}\n{"kind": "verdict"}\n{"kind": "verd')
    assert [hunt.finished(run) for run in runs[:3]] == [True, False, False]


def test_compiling_engines_run_under_the_first_seed_only_and_not_with_large_draws():
    engines = ["jax", "torch-compile"]
    runs = hunt.plan_runs(hunt.parse_args(["--out", "/tmp/hunt", "--seeds", "1", "2", "--shards", "1"]), engines, DTYPES)
    with_compile = [run.records.rsplit("/", 1)[-1] for run in runs if "torch-compile" in run.argv]
    assert with_compile == ["property-seed1-1of1.jsonl", "scale-100000-1of1.jsonl", "scale-1000000-1of1.jsonl"]
    assert all("jax" in run.argv for run in runs)


def test_each_check_may_take_minutes():
    (run,) = _plan("--seeds", "1", "--shards", "1", "--stages", "property")[:1]
    assert run.argv[run.argv.index("--timeout") + 1] == str(hunt.TIMEOUT_SECONDS)


def test_scale_runs_above_1e5_check_only_the_cases_that_reduce():
    runs = _plan("--seeds", "1", "--shards", "1", "--sizes", "100000", "1000000")
    small, large = [run for run in runs if run.stage.startswith("scale")]
    assert "--cases" not in small.argv
    cases = large.argv[large.argv.index("--cases") + 1].split(",")
    assert {"reduce.max_all", "reduce.mean", "losses.softmax_xent"} <= set(cases)
    assert not {"unary.tanh", "elementwise.mul"} & set(cases)


def test_a_hunt_resumed_with_another_catalog_stops_with_what_to_do(tmp_path, capsys):
    """Shards deal the plan's checks out in turn: another catalog would repeat some checks and never run others."""
    (tmp_path / "catalog.json").write_text('{"digest": "another", "cases": [], "properties": []}')
    argv = ["--resume", "--out", str(tmp_path), "--engines", "mygrad", "--dtypes", "float64", "--stages", "property"]
    assert hunt.main(argv) == 2
    error = capsys.readouterr().err
    assert "the catalog changed since" in error and "git worktree add" in error
    assert not list(tmp_path.glob("*.jsonl"))  # nothing ran


def test_the_catalog_fingerprint_follows_the_cases():
    fingerprint = hunt.catalog_fingerprint()
    assert "reduce.norm2_native" in fingerprint["cases"] and len(fingerprint["digest"]) == 16


def test_a_supplement_for_some_cases_runs_only_them_in_every_stage():
    """``--cases``: the cases a finished hunt's catalog lacked, checked by the same stages into their own --out."""
    runs = _plan("--cases", "*_native", "--seeds", "1", "--shards", "1", "--sizes", "100000", "1000000")
    for run in runs:
        assert run.argv[run.argv.index("--cases") + 1] != "", run.stage
    by_stage = {run.stage: run.argv[run.argv.index("--cases") + 1] for run in runs}
    assert by_stage["property"] == by_stage["large"] == by_stage["scale-100000"] == "*_native"
    assert "reduce.norm2_native" in by_stage["scale-1000000"].split(",")
    assert not {c for c in by_stage["scale-1000000"].split(",") if not c.endswith("_native")}
    assert hunt.catalog_fingerprint("*_native")["cases"] == [c for c in hunt.catalog_fingerprint()["cases"] if c.endswith("_native")]


def test_a_supplement_whose_cases_reduce_nothing_has_no_runs_above_1e5():
    runs = _plan("--cases", "unary.tanh", "--seeds", "1", "--shards", "1", "--sizes", "100000", "1000000")
    assert [run.stage for run in runs if run.stage.startswith("scale")] == ["scale-100000"]


def test_the_summary_judges_every_folders_runs_by_the_pins_as_they_are_now(tmp_path):
    """A bug pinned after its run counts as expected; the summary counts each records file of each folder."""
    from verigrad.records import FAIL, PASS, RecordsWriter, Verdict

    def records(path, *verdicts):
        with RecordsWriter(path) as writer:
            writer.write_header({"engines": ["mygrad"]})
            for verdict in verdicts:
                writer.write(verdict)
        return str(path)

    wrong = Verdict("vjp[elementwise.max-w-mygrad-float64]", "vjp", "elementwise.max", "w", "mygrad", "float64", FAIL,
                    message="wrong_sign: at ties")
    right = Verdict("vjp[elementwise.mul-w-mygrad-float64]", "vjp", "elementwise.mul", "w", "mygrad", "float64", PASS)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    files = [records(tmp_path / "a" / "property.jsonl", right), records(tmp_path / "b" / "large.jsonl", wrong, right)]
    unpinned, pinned = tmp_path / "none.txt", tmp_path / "pins.txt"
    unpinned.write_text("")
    pinned.write_text("vjp[elementwise.max-*-mygrad-*]  mygrad  float*  fail  # mygrad-maximum-ties, pinned after the run\n")
    before, after = hunt.summarize(files, unpinned), hunt.summarize(files, pinned)
    assert before["checks"] == after["checks"] == 3
    assert [u["check"] for u in before["unexpected"]] == [wrong.check_id] and after["unexpected"] == []
    assert before["by_records_file"][files[1]] == {"checks": 2, "failures": 1, "unexpected": 1, "verigrad_commit": "None"}


def test_the_summary_tells_a_verdict_of_other_code_from_one_of_todays(tmp_path, monkeypatch):
    """Records name the verigrad commit that wrote them; an unexpected outcome from another commit (or from before
    records named one, or from uncommitted code) is flagged ``other_code``: rerun it before reporting it."""
    from verigrad import session
    from verigrad.records import FAIL, RecordsWriter, Verdict

    wrong = Verdict("vjp[elementwise.max-w-mygrad-float64]", "vjp", "elementwise.max", "w", "mygrad", "float64", FAIL,
                    message="wrong_sign: at ties")
    files = []
    for name, commit in (("today", "abc123"), ("older", "0ld000"), ("unnamed", None)):
        with RecordsWriter(tmp_path / f"{name}.jsonl") as writer:
            writer.write_header({"versions": {"verigrad commit": commit} if commit else {}})
            writer.write(wrong)
        files.append(str(tmp_path / f"{name}.jsonl"))
    unpinned = tmp_path / "none.txt"
    unpinned.write_text("")
    monkeypatch.setattr(session, "source_commit", lambda: "abc123")
    summary = hunt.summarize(files, unpinned)
    assert [(u["verigrad_commit"], u["other_code"]) for u in summary["unexpected"]] == [
        ("abc123", False), ("0ld000", True), ("None", True)]
    assert summary["unexpected_from_other_code"] == 2 and summary["verigrad_commit"] == "abc123"
    monkeypatch.setattr(session, "source_commit", lambda: "abc123+modified")
    assert hunt.summarize(files, unpinned)["unexpected_from_other_code"] == 3


def test_records_name_the_verigrad_commit_that_wrote_them():
    from verigrad.session import Session, source_commit

    commit = source_commit()
    versions = Session.load(["fd"]).versions()
    if commit is None:
        pytest.skip("verigrad does not run from a git checkout here")
    assert versions["verigrad commit"] == commit and len(commit.split("+")[0]) == 12


def test_only_shards_runs_those_shards_of_each_stage(capsys, tmp_path):
    """A sitting whose records of shards 1-4 are gone runs 5-8 alone (and names a shard that does not exist)."""
    assert hunt.main(["--stages", "large", "--only-shards", "5", "8", "--dry-run", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("--records ")[1].split()[0].rsplit("-", 1)[1] for line in lines] == ["5of8.jsonl", "8of8.jsonl"]
    assert hunt.main(["--only-shards", "9", "--dry-run", "--out", str(tmp_path)]) == 2
    assert "--only-shards [9]: each must be a shard 1..8" in capsys.readouterr().err


def test_the_ledger_enters_complete_runs_and_says_which_the_plan_lacks(tmp_path):
    """Records do not outlast a sitting; the ledger does: each complete run is entered with its counts, an
    incomplete one (no summary footer) is not, and the status lists what the plan still lacks."""
    from verigrad.records import PASS, RecordsWriter, Verdict

    runs = [run for run in _plan("--seeds", "1", "--shards", "2") if run.stage == "property"]
    assert [Path(run.records).stem for run in runs] == ["property-seed1-1of2", "property-seed1-2of2"]
    moved = [hunt.Run(run.stage, str(tmp_path / Path(run.records).name), run.argv) for run in runs]
    right = Verdict("vjp[elementwise.mul-w-mygrad-float64]", "vjp", "elementwise.mul", "w", "mygrad", "float64", PASS)
    for run, complete in zip(moved, (True, False), strict=True):
        with RecordsWriter(run.records) as writer:
            writer.write_header({"versions": {}})
            writer.write(right)
            if complete:
                writer.write_summary({"checks": 1})
    summary = hunt.summarize([run.records for run in moved])
    ledger = tmp_path / "ledger.json"
    assert hunt.add_to_ledger(ledger, "sitting 1", moved, summary, None, "d1g") == ["catalog/property-seed1-1of2"]
    status = hunt.ledger_status(ledger, runs, None)
    assert (status["planned"], status["done"], status["missing"]) == (2, 1, ["catalog/property-seed1-2of2"])
    assert (status["checks"], status["failures"], status["unexpected"], status["sittings"]) == (1, 0, 0, ["sitting 1"])
    assert hunt.read_ledger(ledger)["runs"]["catalog/property-seed1-1of2"]["catalog"] == "d1g"
    # a --cases supplement's runs are its own plan's: they complete nothing of the catalog's
    assert hunt.ledger_status(ledger, runs, "*_native")["done"] == 0


def test_the_committed_ledger_names_only_runs_of_a_plan():
    """Every entry of benchmarks/results/hunt-ledger.json is a run the default plan, a --cases supplement or a
    by-hand run names, with its sitting."""
    entries = hunt.read_ledger(hunt.LEDGER)["runs"]
    default = {hunt.ledger_key(run, None) for run in hunt.plan_runs(hunt.parse_args([]), ENGINES, DTYPES)}
    for key, entry in entries.items():
        plan = key.split("/")[0]
        assert key in default or plan.startswith(("cases=", "by-hand")), key
        assert entry["sitting"], key


def test_a_records_file_no_plan_names_enters_the_ledger_as_a_run_by_hand(tmp_path):
    from verigrad.records import PASS, RecordsWriter, Verdict

    (tmp_path / "byhand").mkdir()
    records = tmp_path / "byhand" / "rerun-mlp.jsonl"
    right = Verdict("vjp[elementwise.mul-w-mygrad-float64]", "vjp", "elementwise.mul", "w", "mygrad", "float64", PASS)
    with RecordsWriter(records) as writer:
        writer.write_header({"versions": {}})
        writer.write(right)
        writer.write_summary({})
    summary = hunt.summarize([str(records)])
    ledger = tmp_path / "ledger.json"
    assert hunt.add_to_ledger(ledger, "sitting 2", [], summary, None, "d1g") == ["by-hand/byhand/rerun-mlp"]
    assert hunt.read_ledger(ledger)["runs"]["by-hand/byhand/rerun-mlp"]["catalog"] is None
