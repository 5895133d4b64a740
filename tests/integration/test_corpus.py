"""The real-data corpus (tests/corpus/cases.py and messy.py), each case through the CLI in this
process on the test session's Ray (`distml ingest` first where the case has exports): a result
checked against an independent computation, or one paragraph with the expected exit code and no
traceback."""

from __future__ import annotations

import json
import sys

import pytest

from tests.corpus.cases import CASES, Case


def run_cli(args: list[str], capfd) -> tuple[int, str, str]:
    """``distml <args>`` through the console entry, in this process."""
    from distml.cli import main

    argv = sys.argv[:]
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    out, err = capfd.readouterr()
    return code, out, err


def _one_paragraph(code: int, err: str, exit_: int, says: tuple[str, ...]) -> None:
    errors = [line for line in err.splitlines() if line.startswith("distml: error:")]
    assert code == exit_ and len(errors) == 1, (code, err[-3000:])
    for phrase in says:
        assert phrase in errors[0], (phrase, errors[0])


def _ingest(case: Case, facts: dict, tmp_path, capfd) -> bool:
    """``distml ingest`` of the case's files; whether the run follows."""
    out = tmp_path / "parquet"
    args = ["ingest", f"source='{facts['source']}'", f"out='{out}'"]
    code, outs, err = run_cli([*args, f"hydra.run.dir={tmp_path / 'ingest'}", *case.ingest], capfd)
    assert "Traceback" not in outs + err, err[-4000:]
    if case.ingest_exit:
        _one_paragraph(code, err, case.ingest_exit, case.ingest_says)
        return False
    assert code == 0, err[-4000:]
    for phrase in case.ingest_says:
        assert phrase in err, (phrase, err[-3000:])
    if case.ingest_check is not None:
        case.ingest_check(out, facts)
    facts["path"] = str(out)
    return case.features is not None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, tmp_path, ray_local, capfd):
    facts = case.make(tmp_path / "data")
    if case.ingest is not None and not _ingest(case, facts, tmp_path, capfd):
        return
    run = tmp_path / "run"
    args = [
        "run",
        f"data.path='{facts['path']}'",  # quoted, as a path with [ ] or spaces must be
        f"hydra.run.dir={run}",
        "model.num_boost_round=30",
        "eval.bootstrap=0",
        "cluster.cpus_per_worker=0.5",
        *([] if case.full else ["pipeline.until=preprocess"]),
        *case.args,
    ]
    code, out, err = run_cli(args, capfd)
    assert "Traceback" not in out + err, err[-4000:]
    if case.exit:
        _one_paragraph(code, err, case.exit, case.says)
        return
    assert code == 0, err[-4000:]
    prof = json.loads((run / "profile.json").read_text())
    assert prof["rows_in"] == facts["rows"], (prof["rows_in"], facts["rows"])
    assert prof["rows_in"] == prof["rows_accepted"] + prof["rows_quarantined"]
    assert prof["rows_quarantined"] == facts["quarantined"]
    assert sorted(prof["features"]["used"]) == sorted(case.features)
    spec = json.loads((run / "preprocessor.json").read_text())
    used = set(spec["numeric"]) | set(spec["categorical"]) | set(spec["datetime"])
    assert used == set(case.features)
    if case.check is not None:
        case.check(run, facts)


def test_an_id_and_free_text_are_left_out_with_the_reason_and_a_console_line(
    tmp_path, ray_local, capfd
):
    """A near-unique transaction id not named id, and a comment field, never reach the model:
    profile.json gives the reason, run.json the decision and its undo, the console one line
    each; the model's features are the other columns."""
    from tests.corpus.messy import _ids_and_text

    facts = _ids_and_text(tmp_path / "data")
    run = tmp_path / "run"
    code, out, err = run_cli(
        ["run", f"data.path='{facts['path']}'", f"hydra.run.dir={run}", "model.num_boost_round=5"],
        capfd,
    )
    assert code == 0, err[-3000:]
    lines = [ln for ln in err.splitlines() if "left out of the features" in ln]
    txn = [ln for ln in lines if "column 'txn_id'" in ln]
    note = [ln for ln in lines if "column 'note'" in ln]
    assert len(txn) == 1 and "identifier-like" in txn[0] and "data.include=[txn_id]" in txn[0]
    assert len(note) == 1 and "free text" in note[0] and "data.include=[note]" in note[0]
    prof = json.loads((run / "profile.json").read_text())
    assert prof["features"]["left_out"]["txn_id"].startswith("identifier-like")
    assert prof["features"]["left_out"]["note"].startswith("free text")
    importance = json.loads((run / "feature_importance.json").read_text())["gain"]
    assert not any(f.startswith(("txn_id", "note")) for f in importance)
    assert json.loads((run / "preprocessor.json").read_text())["output_columns"] == [
        "x",
        "k",
        "c",
    ]
