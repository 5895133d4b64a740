"""`distml run` end to end through the CLI (against the session's Ray), and its user errors."""

import json

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from tests.integration.conftest import distml


def test_run_writes_every_output(run_dir):
    for name in (
        "run.json",
        "profile.json",
        "sampling_report.json",
        "preprocessor.json",
        "model.ubj",
        "metrics.json",
        "feature_importance.json",
        ".hydra/config.yaml",
    ):
        assert (run_dir / name).is_file(), name
    run = json.loads((run_dir / "run.json").read_text())
    for stage in ("profile", "sample", "preprocess", "train", "evaluate"):
        st = run["stages"][stage]
        assert st["rows"] > 0 and st["seconds"] > 0 and st["peak_rss_bytes"] > 0
        assert st["cached"] is False and st["rows_per_s"] > 0
    # one worker with every CPU of the (one-node, 2-CPU) Ray by default, XGBoost on 2 threads
    train = run["stages"]["train"]
    assert train["workers"] == 1 and train["cpus_per_worker"] == 2 and train["nthread"] == 2
    # where the profile pass spends its time, per phase, summed over its tasks
    phases = run["stages"]["profile"]["task_seconds"]
    assert {"read", "moments", "distinct", "frequent", "sketches", "rules"} <= set(phases)
    assert all(v >= 0 for v in phases.values()) and phases["read"] > 0
    sample = pl.read_parquet(run_dir / "sample" / "*.parquet")
    assert sample.height == 20_000 and {"id", "split", "stratum", "weight"} <= set(sample.columns)
    for split, n in (("train", 14_000), ("valid", 3_000), ("test", 3_000)):
        f = pl.read_parquet(run_dir / "features" / split / "*.parquet")
        assert f.height == n and {"label", "weight"} <= set(f.columns)
    spec = json.loads((run_dir / "preprocessor.json").read_text())
    assert spec["output_columns"] and "region" in spec["categorical"]


def test_distml_log_keeps_what_the_console_showed(run_dir):
    """Every line the console showed (progress, warnings, the metrics table, the gate's error
    paragraph) is in the run's distml.log, in the order each stream showed it."""
    log = (run_dir / "distml.log").read_text().splitlines()
    for stream, must in (("stdout", "roc_auc"), ("stderr", "The model gate failed on test")):
        shown = [ln for ln in (run_dir.parent / f"{stream}.txt").read_text().splitlines() if ln]
        assert any(must in ln for ln in shown), stream  # the metrics table; the error
        it = iter(log)
        missing = [ln for ln in shown if not any(ln == got for got in it)]
        assert missing == [], (stream, missing[:5])


def test_metrics_json_equals_sklearn_on_predictions(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())
    preds = pl.read_parquet(run_dir / "predictions" / "*.parquet")
    assert set(preds.columns) >= {"id", "label", "score"}
    t = m["threshold"]["value"]
    for split in ("valid", "test"):
        d = preds.filter(pl.col("split") == split)
        y, s = d["label"].to_numpy(), d["score"].to_numpy()
        got = m[split]
        assert got["threshold"] == t
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-9)
        assert got["average_precision"] == pytest.approx(
            skm.average_precision_score(y, s), abs=1e-9
        )
        assert got["log_loss"] == pytest.approx(skm.log_loss(y, s), abs=1e-9)
        pred = s >= t
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert got["precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
        assert got["recall"] == pytest.approx(skm.recall_score(y, pred))
        assert got["f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        assert got["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
        assert got["roc_auc"] > 0.85  # the generator's signal is learnt
    assert np.isfinite(m["test"]["log_loss"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.path={missing}", "does not exist"),
        ("data.label=target", "'target' (data.label) is not in the data"),
        ("sampling.strata=[label,country]", "'country' (sampling.strata) is not in the data"),
        ("sampling.size=70000", "larger than the population"),
        ("sampling.sise=10", "Key 'sise' not in 'SamplingConfig'"),
        ("sampling.fraction=1.5", "'sampling.fraction' parameter must be in (0, 1]"),
    ],
)
def test_user_errors_are_one_paragraph_without_traceback(override, expected, small_data, tmp_path):
    arg = override.format(missing=tmp_path / "missing")
    args = ["run", f"hydra.run.dir={tmp_path / 'r'}", arg]
    if not arg.startswith("data.path"):
        args.append(f"data.path={small_data}")
    p = distml(*args, check=False)
    assert p.returncode == 2, p.stderr
    assert expected in p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    err = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("distml: error:")


def test_metrics_json_has_intervals_population_and_slices(run_dir):
    m = json.loads((run_dir / "metrics.json").read_text())["test"]
    for k in ("balanced_accuracy", "specificity", "mcc", "brier", "fbeta"):
        assert k in m
    lo, hi = m["intervals"]["roc_auc"]
    assert lo <= m["roc_auc"] <= hi
    assert m["population"]["rows"] == pytest.approx(
        json.loads((run_dir / "sampling_report.json").read_text())["population_rows"] * 0.15,
        rel=0.01,
    )
    region = m["slices"]["region"]
    assert sum(v["rows"] for v in region.values()) == m["rows"]
    assert any("skipped" in v for v in m["slices"]["device"].values()) or all(
        v["rows"] >= 200 for v in m["slices"]["device"].values()
    )
    assert 0 <= m["calibration"]["ece"] <= 1


def test_failed_gate_is_recorded_in_metrics_json(run_dir):
    gate = json.loads((run_dir / "metrics.json").read_text())["gate"]
    assert gate["passed"] is False
    assert [g["passed"] for g in gate["gates"]] == [True, False]
    assert gate["reasons"][0].startswith("recall=")


def test_multirun_sweeps_from_the_command_line(on_session_ray, tmp_path):
    distml(
        "run",
        "-m",
        "sampling.size=1000,2000",
        "pipeline.until=sample",
        *on_session_ray,
        f"hydra.sweep.dir={tmp_path}",
    )
    sizes = sorted(
        json.loads((tmp_path / str(i) / "sampling_report.json").read_text())["sample_rows"]
        for i in (0, 1)
    )
    assert sizes == [1000, 2000]
    assert not (tmp_path / "0" / "model.ubj").exists()  # pipeline.until=sample stops there


def test_a_failed_trial_is_reported_without_traceback(on_session_ray, tmp_path):
    p = distml(
        "run",
        "-m",
        "sampling.size=1000,70000",
        "pipeline.until=sample",
        *on_session_ray,
        f"hydra.sweep.dir={tmp_path}",
        check=False,
    )
    assert p.returncode == 1, p.stderr[-3000:]
    assert "1 of 2 sweep trials failed" in p.stderr and "Traceback" not in p.stderr
    trials = {t["num"]: t for t in json.loads((tmp_path / "sweep.json").read_text())["trials"]}
    assert trials[0]["status"] == "COMPLETED" and trials[1]["status"] == "FAILED"
    assert "larger than the population" in trials[1]["error"]


def test_use_gpu_without_gpus_is_a_clear_error(on_session_ray, tmp_path):
    p = distml(
        "run",
        "cluster.use_gpu=true",
        "cluster.num_workers=2",
        "sampling.size=1000",
        *on_session_ray,
        f"hydra.run.dir={tmp_path}",
        check=False,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert (
        "cluster.use_gpu=true needs one GPU per training worker (2 for cluster.num_workers=2)"
        in p.stderr
    )
    assert "the Ray cluster has 0" in p.stderr
    assert not (tmp_path / "profile.json").exists()  # stopped before any stage ran


def test_a_row_transforms_the_same_alone_as_in_the_pipeline(run_dir):
    """features/ is written by the shard tasks and streamed unchanged into the training workers;
    the same raw rows transformed one at a time later (as predict does) give the same values."""
    from distml.preprocess.apply import apply, load

    spec = load(str(run_dir / "preprocessor.json"))
    feats = pl.read_parquet(run_dir / "features" / "train" / "*.parquet")
    raw = pl.read_parquet(run_dir / "sample" / "*.parquet").filter(pl.col("split") == "train")
    rows = raw.unique("id", keep="first", maintain_order=True).head(25)
    for r in rows.iter_slices(1):
        alone = apply(spec, r, ("id",))
        inside = feats.filter(pl.col("id") == r["id"][0]).select(alone.columns).head(1)
        assert alone.rows() == inside.rows()
