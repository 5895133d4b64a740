"""`distml curve` end to end on the session's Ray: nested training sets written with exact sizes
per stratum, every size scored on the same test rows, the data stages reused from the cache,
curve.json, the plot, the report and the printed table; multiclass and regression; user errors.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as skm

from distml.data.columns import SPLIT, STRATUM
from tests.integration.conftest import distml
from tests.integration.test_objectives import _dataset
from tests.unit.test_curve import _sainte_lague_seats

SIZES = [600, 1200, 2500, 5000, 10000]
COMMON = [
    "sampling.size=16000",
    "model.num_boost_round=40",
    "model.checkpoint_every=20",
    "eval.bootstrap=40",
]


def _ids(folder) -> list[int]:
    return pl.read_parquet(folder / "*.parquet")["id"].to_list()


def test_curve_nested_sets_same_test_rows_and_cached_data_stages(on_session_ray, tmp_path):
    cache = [f"cache.dir={tmp_path / 'cache'}", "cache.enabled=true"]
    first = tmp_path / "run"
    distml("run", *on_session_ray, *COMMON, *cache, f"hydra.run.dir={first}")
    # the largest size: every train row of the run's sample, as `distml run` trained on
    whole = pl.read_parquet(first / "sample" / "*.parquet").filter(pl.col(SPLIT) == "train").height
    sizes_asked = [*SIZES, whole]
    out = tmp_path / "curve"
    sizes = "curve.sizes=[" + ",".join(map(str, sizes_asked[::-1])) + "]"  # any order
    p = distml(
        "curve",
        *on_session_ray,
        *COMMON,
        *cache,
        sizes,
        "curve.tolerance=0.01",
        f"hydra.run.dir={out}",
    )
    run = json.loads((out / "run.json").read_text())
    for stage in ("profile", "sample", "preprocess"):  # one profile, one sample: the cached ones
        assert run["stages"][stage]["cached"] and run["stages"][stage]["source"] == str(first)
    c = json.loads((out / "curve.json").read_text())
    assert [pt["train_rows"] for pt in c["points"]] == sizes_asked
    assert c["metric"] == "average_precision" and c["lower_is_better"] is False

    # the largest size is `distml run`'s model: the same rows in the same order, valid set,
    # stopping rule and threads give the same trees
    ran = json.loads((first / "metrics.json").read_text())["test"]["average_precision"]
    trained = json.loads((first / "run.json").read_text())["stages"]["train"]
    largest = c["points"][-1]
    assert largest["best_iteration"] == trained["best_iteration"], (largest, trained)
    assert largest["average_precision"] == pytest.approx(ran, abs=1e-12)
    model = (out / "curve" / str(whole) / "model.ubj").read_bytes()
    assert model == (first / "model.ubj").read_bytes()

    # the bands: disjoint, each size exactly its seats per stratum, counted independently
    sample = pl.read_parquet(out / "sample" / "*.parquet")
    train = sample.filter(pl.col(SPLIT) == "train")
    counts = dict(train.group_by(STRATUM).len().iter_rows())
    seats = _sainte_lague_seats(counts)
    bands = [
        pl.read_parquet(out / "curve" / "train" / f"band-{b:02d}" / "*.parquet")
        for b in range(len(sizes_asked))
    ]
    seen: set[int] = set()
    for b, m in enumerate(sizes_asked):
        ids = bands[b]["id"].to_list()
        assert not seen & set(ids) and set(ids) <= set(train["id"].to_list())
        seen |= set(ids)
        got = pl.concat(bands[: b + 1]).group_by(STRATUM).len()
        assert dict(got.iter_rows()) == {h: v for h, v in seats[m].items() if v}
        assert c["points"][b]["rows_by_stratum"] == seats[m]

    # every size scored on the sample's test rows, the metric as scikit-learn computes it
    test_ids = sorted(sample.filter(pl.col(SPLIT) == "test")["id"].to_list())
    for pt in c["points"]:
        assert sum(pt["rank_rows"]) == pt["train_rows"]  # what the workers read
        preds = pl.read_parquet(
            out / "curve" / str(pt["train_rows"]) / "predictions" / "part-test-*.parquet"
        )
        assert sorted(preds["id"].to_list()) == test_ids
        ap = skm.average_precision_score(preds["label"].to_numpy(), preds["score"].to_numpy())
        assert pt["average_precision"] == pytest.approx(ap, abs=1e-9)
        lo, hi = pt["interval"]
        assert lo < pt["average_precision"] < hi
    assert c["points"][-1]["average_precision"] > c["points"][0]["average_precision"]

    # ~120 test positives: average precision's intervals are wider than curve.tolerance=0.01,
    # so sizes cannot be told apart and there is no recommendation, with what would give one
    half = np.median([(pt["interval"][1] - pt["interval"][0]) / 2 for pt in c["points"]])
    assert half > 0.01
    r = c["recommendation"]
    assert r["train_rows"] is None and r["largest_train_rows"] == whole
    assert "test rows" in r["reason"] and "curve.tolerance" in r["reason"]
    assert r["reason"] in p.stdout and "<- recommended" not in p.stdout
    assert (out / "plots" / "curve.png").stat().st_size > 10_000
    page = (out / "report.html").read_text()
    assert "Learning curve" in page and "No recommendation" in page


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_curve_for_multiclass_and_regression(kind, ray_local, tmp_path):
    data = _dataset(tmp_path / "data", kind)
    address = ray_local.get_runtime_context().gcs_address
    params = (
        ["model.params.objective=multi:softprob", "model.params.eval_metric=mlogloss"]
        if kind == "multiclass"
        else ["model.params.objective=reg:squarederror", "model.params.eval_metric=rmse"]
    )
    out = tmp_path / "curve"
    distml(
        "curve",
        f"data.path={data}",
        "data.label=y",
        f"cluster.address={address}",
        *params,
        "model.num_boost_round=30",
        "curve.sizes=[300,600,1200,2400]",
        # RMSE about 0.6 on 900 test rows: intervals of about +-0.03, tight against 0.1
        f"curve.tolerance={0.1 if kind == 'regression' else 0.005}",
        f"hydra.run.dir={out}",
    )
    c = json.loads((out / "curve.json").read_text())
    half = np.median([(pt["interval"][1] - pt["interval"][0]) / 2 for pt in c["points"]])
    if kind == "regression":  # tight intervals: a size is recommended
        assert half < 0.1 and c["recommendation"]["train_rows"] in (300, 600, 1200, 2400)
    else:  # macro F1 on 900 rows: +-0.02 or so, wider than 0.005
        assert half > 0.005 and c["recommendation"]["train_rows"] is None
    metric = "f1_macro" if kind == "multiclass" else "rmse"
    assert c["metric"] == metric and c["task"] == kind
    assert c["lower_is_better"] is (kind == "regression")
    assert [p["train_rows"] for p in c["points"]] == [300, 600, 1200, 2400]
    for pt in c["points"]:
        preds = pl.read_parquet(
            out / "curve" / str(pt["train_rows"]) / "predictions" / "part-test-*.parquet"
        )
        y = preds["label"].to_numpy()
        want = (
            skm.f1_score(y, preds["prediction"].to_numpy(), average="macro")
            if kind == "multiclass"
            else np.sqrt(skm.mean_squared_error(y, preds["score"].to_numpy()))
        )
        assert pt[metric] == pytest.approx(want, rel=1e-9)
    if kind == "regression":  # a continuous label is one stratum
        assert (
            list(c["train_rows_by_stratum"]) == ["__all__"] or len(c["train_rows_by_stratum"]) == 1
        )


def test_curve_user_errors_are_one_paragraph(on_session_ray, small_data, tmp_path):
    cases = [
        (
            ["sampling.size=2000", "curve.sizes=[500,5000]"],
            "curve.sizes asks for 5,000 training rows, but the sample's train split holds 1,400",
        ),
        (  # no size fits: the sample takes every row (60,000), and says so
            ["curve.sizes=[1000,100000]"],
            "curve.sizes asks for 100,000 training rows, but the sample's train split holds 42,000 "
            "(the sample: sampling.fraction=1",
        ),
        (["pipeline.until=sample"], "pipeline.until=sample does not apply to `distml curve`"),
        (["curve.sizes=[0,10]"], "curve.sizes"),
        (["sampling.split.test=0", "sampling.split.valid=0.3"], "sampling.split.test is 0"),
        (["curve.metric=threshold"], "curve.metric 'threshold' is not a quality metric"),
    ]
    for i, (overrides, text) in enumerate(cases):
        p = distml(
            "curve", *on_session_ray, *overrides, f"hydra.run.dir={tmp_path / str(i)}", check=False
        )
        assert p.returncode != 0, overrides
        assert text in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
        err = [ln for ln in p.stderr.strip().splitlines() if ln.startswith("distml:")]
        assert len(err) == 1, p.stderr[-2000:]
        if i >= 2:  # config errors come before any stage runs
            assert "[profile] start" not in p.stderr, overrides
    # a trial group larger than the local Ray distml starts would wait forever: said at once
    p = distml(
        "curve",
        f"data.path={small_data}",
        "cluster.num_cpus=2",
        "curve.workers_per_trial=3",
        f"hydra.run.dir={tmp_path / 'big'}",
        check=False,
        subprocess_=True,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "curve.workers_per_trial=3 workers of cluster.cpus_per_worker=1 CPUs need 3" in p.stderr
    assert "the local Ray has 2" in p.stderr and "[profile] start" not in p.stderr
