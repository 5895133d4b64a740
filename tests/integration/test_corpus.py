"""The real-data corpus (tests/corpus/cases.py), each case through the CLI in this process on the
test session's Ray: a result checked against an independent computation, or one paragraph with
the expected exit code and no traceback."""

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


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case, tmp_path, ray_local, capfd):
    facts = case.make(tmp_path / "data")
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
        errors = [line for line in err.splitlines() if line.startswith("distml: error:")]
        assert code == case.exit and len(errors) == 1, (code, err[-3000:])
        for phrase in case.says:
            assert phrase in errors[0], (phrase, errors[0])
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
