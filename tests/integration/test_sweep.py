"""Sweeps on real Ray: trials as Ray tasks in parallel, data stages computed once (cache),
the leaderboard, and Optuna's adaptive sweeper through the same launcher."""

from __future__ import annotations

import csv
import json

from tests.integration.conftest import distml

COMMON = [
    "sampling.size=20000",
    "model.num_boost_round=30",
    "eval.bootstrap=0",
    "cluster.cpus_per_worker=0.5",
]
CACHE = "cache.enabled=true"  # the suite turns the cache off by default (DISTML_CACHE=false)


def test_four_trials_share_the_data_stages_and_overlap(on_session_ray, tmp_path):
    sweep_dir = tmp_path / "sweep"
    p = distml(
        "run",
        "-m",
        "model.params.max_depth=3,4",
        "model.params.eta=0.1,0.3",
        *on_session_ray,
        f"hydra.sweep.dir={sweep_dir}",
        f"cache.dir={tmp_path / 'cache'}",
        CACHE,
        *COMMON,
    )
    runs = [json.loads((sweep_dir / str(i) / "run.json").read_text()) for i in range(4)]
    data_stages = ("profile", "sample", "preprocess")
    computed = [r for r in runs if not r["stages"]["profile"]["cached"]]
    assert len(computed) == 1, [r["stages"]["profile"] for r in runs]  # the data stages ran once
    for r in runs:
        assert r["cache_key"] == computed[0]["cache_key"]
        if r is not computed[0]:
            assert all(r["stages"][s]["cached"] for s in data_stages)
        assert not r["stages"]["train"]["cached"]
    # trials ran at the same time: some two training stages overlap
    spans = sorted(
        (r["stages"]["train"]["start_unix"], r["stages"]["train"]["end_unix"]) for r in runs
    )
    assert any(spans[i + 1][0] < spans[i][1] for i in range(3)), spans

    summary = json.loads((sweep_dir / "sweep.json").read_text())
    values = [t["metric"] for t in summary["trials"]]
    assert len(values) == 4 and None not in values
    assert values == sorted(values, reverse=True)  # ranked by sweep.metric, maximize
    best = summary["trials"][0]
    assert summary["best"]["command"].startswith("distml run model.params.max_depth=")
    for o in best["overrides"][:2]:
        assert o in summary["best"]["command"]
    assert best["metric"] == runs[best["num"]]["metrics"]["valid"]["average_precision"]
    rows = list(csv.DictReader((sweep_dir / "sweep.csv").read_text().splitlines()))
    assert [int(r["num"]) for r in rows] == [t["num"] for t in summary["trials"]]
    assert "leaderboard by valid.average_precision" in p.stderr
    assert f"[sweep] best: {summary['best']['command']}" in p.stderr


def test_optuna_sweeper_through_the_ray_launcher(on_session_ray, tmp_path):
    sweep_dir = tmp_path / "optuna"
    p = distml(
        "run",
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.direction=maximize",
        "model.params.eta=interval(0.05,0.3)",
        *on_session_ray,
        f"hydra.sweep.dir={sweep_dir}",
        f"cache.dir={tmp_path / 'cache'}",
        CACHE,
        *COMMON,
    )
    summary = json.loads((sweep_dir / "sweep.json").read_text())
    assert len(summary["trials"]) == 2
    assert len({t["overrides"][0] for t in summary["trials"]}) == 2  # Optuna chose two etas
    assert f"Best value: {summary['best']['metric']}" in p.stdout + p.stderr


def test_a_second_run_reuses_the_data_stages_unless_their_config_changes(on_session_ray, tmp_path):
    # training is all the cache test needs: pipeline.until=train skips evaluation and the report
    common = [*on_session_ray, *COMMON]
    common += ["pipeline.until=train"]
    common += [f"cache.dir={tmp_path / 'c'}"]
    distml("run", *common, CACHE, f"hydra.run.dir={tmp_path / 'a'}")
    distml("run", *common, CACHE, "model.params.max_depth=3", f"hydra.run.dir={tmp_path / 'b'}")
    distml("run", *common, CACHE, "preprocess.scale=minmax", f"hydra.run.dir={tmp_path / 'c2'}")
    a, b, c = (json.loads((tmp_path / d / "run.json").read_text()) for d in ("a", "b", "c2"))
    assert not a["stages"]["sample"]["cached"]
    assert b["stages"]["sample"]["cached"] and b["stages"]["sample"]["source"] == str(
        tmp_path / "a"
    )
    assert (tmp_path / "b" / "features").is_symlink()
    assert b["stages"]["sample"]["sample_rows"] == a["stages"]["sample"]["sample_rows"]
    assert not c["stages"]["preprocess"]["cached"]  # another preprocess config: computed again
    assert c["cache_key"] != a["cache_key"]
    # a run in the same directory again replaces the link, never the cached run's files
    distml("run", *common, f"hydra.run.dir={tmp_path / 'b'}")
    assert not (tmp_path / "b" / "features").is_symlink()
    assert any((tmp_path / "a" / "features" / "train").iterdir())
