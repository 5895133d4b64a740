"""Distributed training on real Ray actors and XGBoost's collective: worker counts, resuming,
external memory, and a run that loses a node of a real multi-node cluster."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from distml.data.shards import plan
from distml.model import train
from tests.integration.conftest import distml


@pytest.fixture(scope="module")
def features_run(ray_local, tmp_path_factory) -> Path:
    """200k generated rows, 20% positives, sampled whole and preprocessed (pipeline.until)."""
    from distml.config import SyntheticConfig
    from distml.synthetic import generate

    root = tmp_path_factory.mktemp("train")
    data = str(root / "data")
    generate(
        SyntheticConfig(rows=200_000, shards=8, positive_rate=0.2, row_group_rows=10_000), 3, data
    )
    address = ray_local.get_runtime_context().gcs_address
    out = root / "run"
    distml(
        "run",
        f"data.path={data}",
        f"cluster.address={address}",
        f"hydra.run.dir={out}",
        "sampling.size=200000",
        "pipeline.until=preprocess",
    )
    return out


def _job(run_dir: Path, **kw) -> train.TrainJob:
    spec = json.loads((run_dir / "preprocessor.json").read_text())
    base = dict(
        train=plan(str(run_dir / "features" / "train")).shards,
        valid=plan(str(run_dir / "features" / "valid")).shards,
        features=tuple(spec["output_columns"]),
        label="label",
        weight=None,
        params={"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 5},
        num_boost_round=60,
        early_stopping_rounds=None,
        checkpoint_every=10,
        batch_rows=4096,  # several batches per worker
        nthread=1,
    )
    return train.TrainJob(**{**base, **kw})


def _scores(booster: xgb.Booster, run_dir: Path, features) -> tuple[np.ndarray, np.ndarray]:
    test = pl.read_parquet(run_dir / "features" / "test" / "*.parquet")
    x = test.select(features).to_numpy().astype(np.float32)
    return test.get_column("label").to_numpy(), booster.inplace_predict(x)


def _auc(booster, run_dir, features) -> float:
    return roc_auc_score(*_scores(booster, run_dir, features))


def test_one_two_three_workers_give_the_same_quality(features_run, ray_local, tmp_path):
    job = _job(features_run)
    aucs, rows = {}, {}
    for n in (1, 2, 3):
        booster, info = train.train_booster(
            job, train.Resources(n, 0.5, max_failures=0), str(tmp_path / f"w{n}")
        )
        assert booster.num_boosted_rounds() == 60
        aucs[n] = _auc(booster, features_run, job.features)
        rows[n] = info.rank_rows
    total = sum(s.num_rows for s in job.train)
    for n, r in rows.items():  # shares balanced by rows, not by files
        assert len(r) == n and sum(r) == total and max(r) - min(r) <= 1, (n, r)
    assert max(aucs.values()) - min(aucs.values()) <= 0.005, aucs
    assert min(aucs.values()) > 0.8, aucs


def test_every_rank_grows_the_same_trees_and_stops_at_the_same_round(
    features_run, ray_local, tmp_path
):
    """Joined by XGBoost's collective, all ranks hold byte-identical models; early stopping on the
    allreduced valid metric stops every rank at the same round."""
    job = _job(
        features_run,
        num_boost_round=300,
        early_stopping_rounds=3,
        params={"objective": "binary:logistic", "eval_metric": "logloss", "eta": 0.8},
    )
    for n in (2, 3):
        booster, info = train.train_booster(
            job, train.Resources(n, 0.5, max_failures=0), str(tmp_path / f"w{n}")
        )
        ranks = info.rank_models
        assert len(ranks) == n
        assert len({r["model_sha256"] for r in ranks}) == 1, ranks
        assert len({(r["rounds"], r["best_iteration"]) for r in ranks}) == 1, ranks
        assert ranks[0]["rounds"] < 300  # it did stop early
        assert booster.num_boosted_rounds() == ranks[0]["best_iteration"] + 1
        raw = bytes(booster.save_raw("ubj"))
        assert hashlib.sha256(raw).hexdigest() == ranks[0]["model_sha256"]


def test_resume_from_a_stopped_run_continues_to_the_same_model(features_run, ray_local, tmp_path):
    job = _job(features_run)
    whole, _ = train.train_booster(
        job, train.Resources(2, 1, max_failures=0), str(tmp_path / "whole")
    )
    stopped = str(tmp_path / "stopped")
    train.train_booster(
        _job(features_run, num_boost_round=30), train.Resources(2, 1, max_failures=0), stopped
    )
    kept = sorted(os.listdir(Path(stopped) / "checkpoints"))
    assert kept == ["model-000020.ubj", "model-000030.ubj"]  # the newest two
    resumed, info = train.train_booster(
        job, train.Resources(2, 1, max_failures=0), str(tmp_path / "resumed"), resume_from=stopped
    )
    assert info.started_from_rounds == 30
    assert resumed.num_boosted_rounds() == 60
    _, a = _scores(whole, features_run, job.features)
    _, b = _scores(resumed, features_run, job.features)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_external_memory_pages_on_disk_same_quality(features_run, ray_local, tmp_path):
    job = _job(features_run)
    mem, info_mem = train.train_booster(
        job, train.Resources(2, 1, max_failures=0), str(tmp_path / "m")
    )
    ext, info_ext = train.train_booster(
        _job(features_run, external_memory=True),
        train.Resources(2, 1, max_failures=0),
        str(tmp_path / "e"),
    )
    assert info_mem.cache_bytes == [0, 0]
    assert all(b > 0 for b in info_ext.cache_bytes), info_ext.cache_bytes
    assert (
        abs(_auc(mem, features_run, job.features) - _auc(ext, features_run, job.features)) <= 0.005
    )


def test_resume_from_without_checkpoints_is_a_clear_error(small_data, ray_local, tmp_path):
    p = distml(
        "run",
        f"data.path={small_data}",
        f"hydra.run.dir={tmp_path / 'r'}",
        f"model.resume_from={tmp_path}",
        "sampling.size=20000",
        check=False,
    )
    assert p.returncode == 2, p.stderr[-2000:]
    assert "model.resume_from=" in p.stderr and "has no training checkpoints" in p.stderr
    assert "Traceback" not in p.stderr


def _fault_args(small_data, address: str, max_failures: int) -> list[str]:
    return [
        "run",
        f"data.path={small_data}",
        f"cluster.address={address}",
        "sampling.size=30000",
        "model.num_boost_round=150",
        "model.early_stopping_rounds=null",
        "model.checkpoint_every=10",
        "model.params.max_depth=7",
        "model.params.eta=0.05",
        f"cluster.max_failures={max_failures}",
        # a worker needs a whole 2-CPU node: one rank on each node, and a restart after the loss
        # waits for the replacement node (as with an autoscaler)
        "cluster.num_workers=2",
        "cluster.cpus_per_worker=2",
        "eval.bootstrap=0",
    ]


def _kill_after_first_checkpoint(args, run_dir: Path, ray_nodes, worker):
    """Start the run, kill the worker node once a checkpoint exists; return the process and the
    newest checkpoint on storage at the moment the node was dead."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen(
        [sys.executable, "-m", "distml", *args, f"hydra.run.dir={run_dir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    ckpts = run_dir / "train" / "checkpoints"
    deadline = time.time() + 300
    while not (ckpts.is_dir() and any(ckpts.glob("model-*.ubj"))):
        assert p.poll() is None and time.time() < deadline, p.communicate()[1][-3000:]
        time.sleep(0.1)
    ray_nodes.kill(worker)
    return p, max(int(f.stem.split("-")[1]) for f in ckpts.glob("model-*.ubj"))


@pytest.mark.fault_tolerance
def test_losing_a_worker_node_resumes_from_the_newest_checkpoint(small_data, ray_nodes, tmp_path):
    """Head + worker node as separate raylets; the worker node is killed after the first
    checkpoint; training restarts from the newest checkpoint and matches an uninterrupted run."""
    worker = ray_nodes.add_worker(cpus=2)
    args = _fault_args(small_data, ray_nodes.address, max_failures=1)
    hit = tmp_path / "hit"
    p, at_kill = _kill_after_first_checkpoint(args, hit, ray_nodes, worker)
    replacement = ray_nodes.add_worker(cpus=2)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-12000:]
    stage = json.loads((hit / "run.json").read_text())["stages"]["train"]
    assert stage["failures"] == 1, stage
    resumed = stage["resumed_from_rounds"][0]
    # resumed from the newest checkpoint: at least the newest on storage when the node was dead,
    # and exactly the newest stored before the restart began
    stored = [r for r, t in stage["checkpoints_written"] if t <= stage["restarted_unix"][0]]
    assert resumed == max(stored) >= at_kill, (at_kill, stage)
    assert resumed < 150
    assert "a worker was lost" in err and f"from the checkpoint at round {resumed}" in err
    assert stage["rounds"] == 150

    assert len(stage["nodes"]) == 2  # the head and the replacement node
    whole = tmp_path / "whole"
    distml(*args, f"hydra.run.dir={whole}", subprocess_=True)
    ray_nodes.kill(replacement)
    auc = [json.loads((d / "metrics.json").read_text())["test"]["roc_auc"] for d in (hit, whole)]
    assert abs(auc[0] - auc[1]) <= 0.005, auc


@pytest.mark.fault_tolerance
def test_losing_more_workers_than_max_failures_is_a_clear_error(small_data, ray_nodes, tmp_path):
    worker = ray_nodes.add_worker(cpus=2)
    args = _fault_args(small_data, ray_nodes.address, max_failures=0)
    p, _ = _kill_after_first_checkpoint(args, tmp_path / "r", ray_nodes, worker)
    try:  # a restart would wait for a node that never comes
        out, err = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("the run did not stop after losing a worker with cluster.max_failures=0")
    assert p.returncode == 2, err[-5000:]
    errors = [line for line in err.splitlines() if line.startswith("distml: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-5000:]
    assert "Training lost a worker 1 time(s), more than cluster.max_failures=0 allows" in errors[0]
    assert "model.resume_from=" in errors[0]
