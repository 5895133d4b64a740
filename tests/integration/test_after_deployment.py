"""predict, monitor and retrain through the CLI on the session's Ray, against a trained run."""

import json
import os
import shutil

import numpy as np
import polars as pl
import pytest

from distml.config import SyntheticConfig
from distml.synthetic import generate
from tests.integration.conftest import distml, screenshot


def _gen(out, seed: int, drift: float = 0.0, positive_rate: float = 0.05) -> str:
    # the session's training data: 60k rows, 5% positives (tests/conftest.py small_data)
    cfg = SyntheticConfig(rows=60_000, shards=4, positive_rate=positive_rate, drift=drift)
    generate(cfg, seed, str(out))
    return str(out)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, ray_local):
    """New data from the training distribution (another seed)."""
    return _gen(tmp_path_factory.mktemp("fresh") / "d", seed=8)


@pytest.fixture(scope="module")
def drifted(tmp_path_factory, ray_local):
    return _gen(tmp_path_factory.mktemp("drifted") / "d", seed=9, drift=1.0)


def _cli(cmd, ray_local, out, *over, check=False):
    address = ray_local.get_runtime_context().gcs_address
    return distml(cmd, f"cluster.address={address}", f"hydra.run.dir={out}", *over, check=check)


def test_no_drift_on_fresh_data_from_the_training_distribution(run_dir, fresh, ray_local, tmp_path):
    p = _cli("monitor", ray_local, tmp_path / "m", f"model_run={run_dir}", f"data.path={fresh}")
    m = json.loads((tmp_path / "m" / "monitor.json").read_text())
    compared = {c: r for c, r in m["features"].items() if "psi" in r}
    assert len(compared) >= 15
    assert max(r["psi"] for r in compared.values()) < 0.1, compared
    assert m["status"] == "ok" and p.returncode == 0, p.stderr[-2000:]
    assert m["score"]["psi"] < 0.1 and m["label"]["psi"] < 0.1
    assert m["live_metrics"]["roc_auc"] > 0.85 and m["rows_in"] == 60_000
    assert m["quality"]["passed"] and (tmp_path / "m" / "monitor.html").is_file()


def test_drift_is_reported_on_drifted_data(run_dir, drifted, ray_local, tmp_path):
    p = _cli("monitor", ray_local, tmp_path / "m", f"model_run={run_dir}", f"data.path={drifted}")
    assert p.returncode == 5 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "monitor status drift" in p.stderr
    m = json.loads((tmp_path / "m" / "monitor.json").read_text())
    assert m["status"] == "drift"
    assert m["features"]["num_00"]["psi"] >= 0.25 and m["features"]["num_00"]["wasserstein"] > 0.3
    assert m["features"]["region"]["status"] == "drift"
    assert m["label"]["psi"] > 0.01 and m["score"]["psi"] >= 0.1


def _rate(path) -> float:
    return float(pl.read_parquet(f"{path}/*.parquet")["label"].mean())


def test_a_doubled_positive_rate_is_drift(run_dir, small_data, ray_local, tmp_path):
    """5% positives at training, 10% in the new data (features as the generator draws them for
    each class): the rate's interval says drift, where the label's PSI (0.04) would say ok."""
    data = _gen(tmp_path / "d", seed=10, positive_rate=0.10)
    p = _cli("monitor", ray_local, tmp_path / "m", f"model_run={run_dir}", f"data.path={data}")
    m = json.loads((tmp_path / "m" / "monitor.json").read_text())
    lab = m["label"]
    ch = lab["rate_change"]
    assert ch["rate"] == pytest.approx(_rate(data)) and ch["rate"] > 0.09
    assert ch["reference_rate"] == pytest.approx(_rate(small_data))
    assert lab["psi"] < 0.1  # the old rule's statistic, under its warn level
    # +5 points on 60k rows each side: the 99% interval is about +-0.4 points, far from 0
    assert ch["interval"][0] > 0.04 and lab["status"] == "drift"
    assert m["status"] == "drift" and p.returncode == 5, p.stderr[-2000:]
    assert any(r.startswith("positive rate") for r in m["reasons"]), m["reasons"]


def _shuffled_labels(src: str, out) -> str:
    """src's files with each file's labels permuted: the same rows, features and positive
    rate, labels unrelated to them."""
    os.makedirs(out)
    rng = np.random.default_rng(0)
    for name in sorted(os.listdir(src)):
        if name.endswith(".parquet"):
            df = pl.read_parquet(os.path.join(src, name))
            df = df.with_columns(pl.Series("label", rng.permutation(df["label"].to_numpy())))
            df.write_parquet(os.path.join(out, name))
    return str(out)


def test_a_live_precision_drop_is_not_ok_and_the_page_plots_it(run_dir, fresh, ray_local, tmp_path):
    data = _shuffled_labels(fresh, tmp_path / "shuffled")
    p = _cli("monitor", ray_local, tmp_path / "m", f"model_run={run_dir}", f"data.path={data}")
    m = json.loads((tmp_path / "m" / "monitor.json").read_text())
    assert m["label"]["status"] == "ok"  # the same positive rate, exactly
    train = json.loads((run_dir / "metrics.json").read_text())["test"]
    live = m["live_vs_training"]["precision"]
    # labels unrelated to the scores: precision falls to about the positive rate
    assert live["training"] == train["precision"] and live["live"] < 0.1 < train["precision"]
    assert live["interval"][1] < 0 and live["status"] == "drift"
    assert m["live_vs_training"]["roc_auc"]["status"] == "drift"
    assert m["status"] == "drift" and p.returncode == 5, p.stderr[-2000:]
    assert any(r.startswith("live precision") for r in m["reasons"]), m["reasons"]

    page = tmp_path / "m" / "monitor.html"
    html = page.read_text()
    compared = sum(1 for r in m["features"].values() if r.get("bins"))
    # one plot per compared feature (at most 12), the score, the label rate, the live metrics
    assert html.count("data:image/png;base64,") == min(12, compared) + 3
    assert "<script" not in html and "live precision" in html
    img = screenshot(page, tmp_path, height=3000)
    non_white = (img < 0.95).any(axis=2).mean()
    assert non_white > 0.05, non_white  # plots, not a blank page
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 50


def test_the_training_data_itself_is_ok(run_dir, small_data, ray_local, tmp_path):
    p = _cli(
        "monitor", ray_local, tmp_path / "m", f"model_run={run_dir}", f"data.path={small_data}"
    )
    m = json.loads((tmp_path / "m" / "monitor.json").read_text())
    assert m["label"]["rate_change"]["difference"] == 0.0
    assert all(v["status"] == "ok" for v in m["live_vs_training"].values()), m["live_vs_training"]
    assert m["status"] == "ok" and p.returncode == 0, (m["reasons"], p.stderr[-2000:])


def test_unlabelled_data_says_what_is_not_checked_and_live_metrics_are_checked_first(
    run_dir, fresh, ray_local, tmp_path
):
    p = _cli("monitor", ray_local, tmp_path / "x", f"model_run={run_dir}", f"data.path={fresh}",
             "monitor.live_metrics=[roc_auc,rows]")  # fmt: skip
    assert p.returncode == 2 and "monitor.live_metrics names ['rows']" in p.stderr, p.stderr
    assert "[monitor]" not in p.stderr  # before any data is read
    data = tmp_path / "nolabel"
    data.mkdir()
    pl.read_parquet(f"{fresh}/*.parquet").drop("label").write_parquet(data / "p.parquet")
    p = _cli("monitor", ray_local, tmp_path / "m", f"model_run={run_dir}", f"data.path={data}")
    m = json.loads((tmp_path / "m" / "monitor.json").read_text())
    assert "label" not in m and "live_vs_training" not in m
    assert "no 'label' column" in m["not_checked"] and "not checked: " in p.stdout
    assert "Not checked" in (tmp_path / "m" / "monitor.html").read_text()


def test_predict_scores_every_row_or_quarantines_it(run_dir, fresh, ray_local, tmp_path):
    d = tmp_path / "new"
    d.mkdir()
    files = sorted(f for f in os.listdir(fresh) if f.endswith(".parquet"))
    for i, f in enumerate(files):
        df = pl.read_parquet(os.path.join(fresh, f))
        if i == 0:  # 10 rows without a label, 4 with a label outside {0, 1}
            idx = pl.int_range(pl.len())
            df = df.with_columns(
                pl.when(idx < 10)
                .then(None)
                .when(idx < 14)
                .then(7)
                .otherwise("label")
                .cast(pl.Int8)
                .alias("label")
            )
        df.write_parquet(d / f)
    _cli("predict", ray_local, tmp_path / "p", f"model_run={run_dir}", f"data.path={d}", check=True)
    rep = json.loads((tmp_path / "p" / "predict.json").read_text())
    assert rep["rows_in"] == 60_000 and rep["rows_quarantined"] == 14
    assert rep["rows_scored"] + rep["rows_quarantined"] == rep["rows_in"]
    for key, acc in rep["per_shard"].items():
        assert acc["rows_in"] == acc["rows_scored"] + acc["rows_quarantined"], key
    preds = pl.read_parquet(tmp_path / "p" / "predictions" / "*.parquet")
    q = pl.read_parquet(tmp_path / "p" / "quarantine" / "*.parquet")
    assert preds.height == rep["rows_scored"] and q.height == 14
    assert set(q["_quarantine_reason"]) == {"not_null(label)", "label_values"}
    threshold = json.loads((run_dir / "threshold.json").read_text())["value"]
    assert preds["prediction"].to_list() == (preds["score"] >= threshold).cast(pl.Int8).to_list()

    # unlabelled data: nothing to check on the label, every row is scored
    u = tmp_path / "unlabelled"
    u.mkdir()
    pl.read_parquet(d / "*.parquet").drop("label").write_parquet(u / "part.parquet")
    _cli(
        "predict", ray_local, tmp_path / "p2", f"model_run={run_dir}", f"data.path={u}", check=True
    )
    rep = json.loads((tmp_path / "p2" / "predict.json").read_text())
    assert rep["rows_scored"] == 60_000 and rep["rows_quarantined"] == 0


def test_a_rows_score_from_predict_equals_its_score_at_evaluation(
    run_dir, small_data, ray_local, tmp_path
):
    _cli(
        "predict",
        ray_local,
        tmp_path / "p",
        f"model_run={run_dir}",
        f"data.path={small_data}",
        check=True,
    )
    scored = pl.read_parquet(tmp_path / "p" / "predictions" / "*.parquet").unique("id")
    evaluated = pl.read_parquet(run_dir / "predictions" / "*.parquet").unique("id")
    both = evaluated.join(scored, on="id", suffix="_predict")
    assert both.height == evaluated.height > 5900  # every valid and test row (ids may repeat)
    assert (both["score"] == both["score_predict"]).all()


def test_retrain_promotes_only_a_candidate_that_is_not_worse(fresh, ray_local, tmp_path):
    models = tmp_path / "models"
    common = [
        f"data.path={fresh}",
        f"retrain.models_dir={models}",
        "sampling.size=20000",
        "eval.bootstrap=0",
    ]
    p = _cli("retrain", ray_local, tmp_path / "r1", *common, "model.num_boost_round=40")
    assert p.returncode == 0, p.stderr[-3000:]
    assert os.readlink(models / "current") == "v0001"
    card = json.loads((models / "current" / "model.json").read_text())
    assert len(card["data_fingerprint"]) == 64 and card["code_version"]["distml"]
    assert card["metrics"]["roc_auc"] > 0.85 and (models / "v0001" / "config.yaml").is_file()
    for f in ("model.ubj", "preprocessor.json", "threshold.json", "reference.json", "metrics.json"):
        assert (models / "v0001" / f).is_file(), f

    # a much weaker candidate (one stump) is judged on the same test rows and not promoted
    p = _cli(
        "retrain",
        ray_local,
        tmp_path / "r2",
        *common,
        "model.num_boost_round=1",
        "model.params.max_depth=1",
    )
    assert p.returncode == 3 and "not promoted" in p.stderr, p.stderr[-3000:]
    rec = json.loads((tmp_path / "r2" / "retrain.json").read_text())
    assert rec["promoted"] is False and rec["candidate"] < rec["current"]
    assert os.readlink(models / "current") == "v0001" and not (models / "v0002").exists()

    # the same recipe again: as good as the current model, so promoted; the link moves
    p = _cli("retrain", ray_local, tmp_path / "r3", *common, "model.num_boost_round=40")
    assert p.returncode == 0, p.stderr[-3000:]
    assert os.readlink(models / "current") == "v0002"
    rec = json.loads((tmp_path / "r3" / "retrain.json").read_text())
    assert rec["candidate"] == pytest.approx(rec["current"])
    assert rec["interval"] == [0.0, 0.0]  # the same model: paired replicates differ by nothing

    # new data whose labels are shuffled: the candidate shows no skill and is not promoted; the
    # test rows the current model trained on (by id) are left out of the comparison
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    rows = pl.read_parquet(f"{fresh}/*.parquet")
    labels = np.random.default_rng(0).permutation(rows["label"].to_numpy())
    rows.with_columns(pl.Series("label", labels)).write_parquet(shuffled / "p.parquet")
    p = _cli(
        "retrain", ray_local, tmp_path / "r4", *common[1:], f"data.path={shuffled}",
        "model.num_boost_round=40",
    )  # fmt: skip
    assert p.returncode == 3 and "no skill shown" in p.stderr, p.stderr[-3000:]
    rec = json.loads((tmp_path / "r4" / "retrain.json").read_text())
    d = rec["decision"]
    assert rec["promoted"] is False and d["skill"]["passed"] is False
    assert d["skill"]["interval"][0] <= 0.5 and d["excluded_by"] == ["id"]
    trained = pl.read_parquet(tmp_path / "r3" / "sample" / "*.parquet").filter(
        pl.col("split").is_in(["train", "valid"])
    )
    test = pl.read_parquet(tmp_path / "r4" / "sample" / "*.parquet").filter(
        pl.col("split") == "test"
    )
    seen = test["id"].is_in(trained["id"].implode())
    assert d["rows_excluded"] == seen.sum() > 0 and d["rows_compared"] == (~seen).sum()
    assert os.readlink(models / "current") == "v0002"
    # a promoted model directory scores new data like a run directory
    _cli(
        "predict",
        ray_local,
        tmp_path / "p",
        f"model_run={models / 'current'}",
        f"data.path={fresh}",
        check=True,
    )


def test_predict_on_data_without_a_feature_is_a_clear_error(run_dir, fresh, ray_local, tmp_path):
    d = tmp_path / "nofeat"
    d.mkdir()
    pl.read_parquet(os.path.join(fresh, "*.parquet")).drop("amount").write_parquet(d / "p.parquet")
    p = _cli("predict", ray_local, tmp_path / "p", f"model_run={run_dir}", f"data.path={d}")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "lacks the columns ['amount']" in p.stderr
    p = _cli("predict", ray_local, tmp_path / "p2", f"model_run={tmp_path}", f"data.path={d}")
    assert p.returncode == 2 and "has no model.ubj, preprocessor.json" in p.stderr


def test_moderate_drift_is_a_warning_with_exit_code_4(run_dir, drifted, ray_local, tmp_path):
    """With the drift thresholds out of reach, the same drift is a warning: status warn, exit 4."""
    p = _cli(
        "monitor",
        ray_local,
        tmp_path / "m",
        f"model_run={run_dir}",
        f"data.path={drifted}",
        "monitor.psi_warn=0.1",
        "monitor.psi_drift=1000",
        # the positive rate doubles and precision halves there: significant, not drift here
        "monitor.label_rate_drift=1000",
        "monitor.metric_drop_drift=1000",
    )
    m = json.loads((tmp_path / "m" / "monitor.json").read_text())
    worst = max(r["psi"] for r in [*m["features"].values(), m["score"], m["label"]] if "psi" in r)
    assert 0.1 <= worst < 1000  # so the status must be warn, whatever the gates say
    assert m["status"] == "warn" and p.returncode == 4, p.stderr[-2000:]
    assert "distml: warning: monitor status warn" in p.stderr and "Traceback" not in p.stderr


def _retrain(ray_local, out, *over):
    return _cli("retrain", ray_local, out, "eval.bootstrap=0", "sampling.size=20000", *over)


def _decision(out) -> dict:
    return json.loads((out / "retrain.json").read_text())


def test_retrain_tolerance_and_evaluation_gates(fresh, ray_local, tmp_path):
    models = tmp_path / "models"
    common = [f"data.path={fresh}", f"retrain.models_dir={models}"]
    strong, weak = (
        ["model.num_boost_round=40"],
        ["model.num_boost_round=1", "model.params.max_depth=1"],
    )
    assert _retrain(ray_local, tmp_path / "r1", *common, *strong).returncode == 0

    # a weaker candidate within retrain.tolerance of the current model is promoted
    p = _retrain(ray_local, tmp_path / "r2", *common, *weak, "retrain.tolerance=0.9")
    rec = _decision(tmp_path / "r2")
    assert rec["candidate"] < rec["current"] and rec["candidate"] >= rec["current"] - 0.9
    assert p.returncode == 0 and rec["promoted"], p.stderr[-3000:]
    assert os.readlink(models / "current") == "v0002"

    # ... and not promoted when the gap is larger than the tolerance
    gap = rec["current"] - rec["candidate"]
    p = _retrain(
        ray_local,
        tmp_path / "r3",
        *common,
        *weak,
        f"model_run={models / 'v0001'}",
        f"retrain.tolerance={gap / 2}",
    )
    assert p.returncode == 3 and not _decision(tmp_path / "r3")["promoted"], p.stderr[-3000:]
    assert os.readlink(models / "current") == "v0002"

    # a better candidate that fails its evaluation gates is not promoted either
    p = _retrain(ray_local, tmp_path / "r4", *common, *strong, 'eval.gates=["roc_auc>=0.9999"]')
    rec = _decision(tmp_path / "r4")
    assert p.returncode == 3 and "Traceback" not in p.stderr, p.stderr[-3000:]
    assert rec["candidate"] > rec["current"]  # better than the current (weak) model
    assert rec["promoted"] is False and rec["candidate_gate_passed"] is False
    assert "eval.gates" in rec["reason"] and "not promoted" in p.stderr
    assert os.readlink(models / "current") == "v0002" and not (models / "v0003").exists()


def test_retrain_on_rmse_promotes_the_lower_error(ray_local, tmp_path):
    """Lower is better for RMSE: a worse (higher-error) regression candidate is not promoted."""
    rng = np.random.default_rng(0)
    n = 6000
    x = rng.normal(size=(n, 3))
    y = 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(0, 0.3, n)
    data = tmp_path / "reg"
    data.mkdir()
    df = pl.DataFrame({"id": np.arange(n), "y": y, **{f"x{i}": x[:, i] for i in range(3)}})
    df.write_parquet(data / "p.parquet")
    models = tmp_path / "models"
    common = [
        f"data.path={data}",
        "data.label=y",
        f"retrain.models_dir={models}",
        "model.params.objective=reg:squarederror",
        "model.params.eval_metric=rmse",
    ]
    good = ["model.num_boost_round=80", "model.params.max_depth=4"]
    bad = ["model.num_boost_round=2", "model.params.max_depth=1"]
    assert _retrain(ray_local, tmp_path / "a", *common, *bad, "sampling.size=5000").returncode == 0
    p = _retrain(ray_local, tmp_path / "b", *common, *good, "sampling.size=5000")
    rec = _decision(tmp_path / "b")
    assert rec["metric"] == "rmse" and rec["candidate"] < rec["current"]
    assert p.returncode == 0 and rec["promoted"], p.stderr[-3000:]
    p = _retrain(ray_local, tmp_path / "c", *common, *bad, "sampling.size=5000")
    rec = _decision(tmp_path / "c")
    assert rec["candidate"] > rec["current"] and p.returncode == 3 and not rec["promoted"]
    assert os.readlink(models / "current") == "v0002"


def test_evaluate_predict_and_retrain_score_the_same_rows_identically(run_dir, ray_local, tmp_path):
    """One scoring path: predict on the run's own sample rows gives the scores evaluation wrote
    for them, and retrain's scoring of the current model on the test rows gives metrics.json's
    test metrics exactly (the same scores, so the same AUC, log loss and confusion matrix)."""
    from distml.cluster.session import ray_session
    from distml.config import RetrainSettings
    from distml.retrain import compare
    from distml.trained.run import load_run

    _cli(
        "predict",
        ray_local,
        tmp_path / "p",
        f"model_run={run_dir}",
        f"data.path={run_dir / 'sample'}",
        check=True,
    )
    predicted = pl.read_parquet(tmp_path / "p" / "predictions" / "*.parquet")
    evaluated = pl.read_parquet(run_dir / "predictions" / "*.parquet")
    unique = evaluated.group_by("id").len().filter(pl.col("len") == 1).select("id")
    both = evaluated.join(unique, on="id").join(predicted.unique("id", keep="none"), on="id")
    assert both.height > 5000
    assert (both["score"] == both["score_right"]).all()

    # the run's model as both candidate and current (a copy without trained_rows.parquet, so
    # every test row is compared): both give metrics.json's test metrics exactly
    current = tmp_path / "current"
    current.mkdir()
    for f in ("model.ubj", "preprocessor.json", "threshold.json", "reference.json"):
        shutil.copy(run_dir / f, current / f)
    shutil.copy(run_dir / ".hydra" / "config.yaml", current / "config.yaml")
    run = load_run(str(run_dir))
    s = RetrainSettings(eval=run.settings.eval, data=run.settings.data)
    test = json.loads((run_dir / "metrics.json").read_text())["test"]
    with ray_session(s.cluster):
        for metric in ("roc_auc", "average_precision", "log_loss", "brier"):
            d = compare(s, str(run_dir), load_run(str(current)), metric)
            assert d["candidate"] == d["current"] == test[metric], metric
            assert d["rows_compared"] == test["rows"] and d["rows_excluded"] == 0
            assert d["interval"] == [0.0, 0.0] and "trained_rows.parquet" in d["note"]
