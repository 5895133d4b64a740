"""distml's train stage against one plain XGBoost process and Ray Train fed by Ray Data.

    python benchmarks/train.py --rows 5000000 --features 30

On the same feature files (Parquet, float32 features and a 0/1 label, as the preprocess stage
writes them) and the same 2 CPUs, each in its own process, with the same parameters (hist,
max_depth 6, eta 0.1, 256 bins, a fixed number of rounds, logloss on a validation split):

(a) distml: `distml.train.fit` with `--workers` 2 x 1 CPU (the default here) or 1 x 2 CPUs
    (distml's default on one machine) on a local Ray (Ray already started, as in the pipeline),
    or with `--executor threads` its one worker in this process (how `distml run` trains a
    local run of at most cluster.threads_max_rows rows): each worker streams its row share into a
    QuantileDMatrix, checkpoints every `--checkpoint-every` rounds.
(b) reference: one process reads the files with Polars into a float32 matrix, builds a
    QuantileDMatrix and calls `xgboost.train` with nthread=2 (the machine's limit).
(c) Ray Train's XGBoostTrainer fed by Ray Data as its documentation shows (read_parquet, the
    worker materialises its shard, converts it to pandas, builds a DMatrix, trains with
    RayTrainReportCallback); workers reserve 0.5 CPU each so Ray Data's read tasks (1 CPU each)
    can be scheduled: with 0.9 or 1 CPU per worker the run hangs waiting for its read. XGBoost
    still runs one thread per worker, as in (a).

Both Ray runs use RAY_TRAIN_HEALTH_CHECK_INTERVAL_S=0.2 (distml sets it for the Ray it starts; the
stock value, 2 s, costs (c) about 2 s per round because its callback reports every round).
Memory: peak summed PSS of the process tree (Ray's raylet, GCS and workers included).
Writes benchmarks/results/train[-<rows>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TreeMemory, run_child, write  # noqa: E402

PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": 6,
    "eta": 0.1,
    "max_bin": 256,
}


def make_data(out: Path, rows: int, features: int, files: int, seed: int = 0) -> None:
    """Float32 features with a nonlinear signal, ~10% positives; valid is 10% the size."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    w = rng.normal(size=features).astype(np.float32)
    for split, n, k in (("train", rows, files), ("valid", rows // 10, max(1, files // 10))):
        (out / split).mkdir(parents=True, exist_ok=True)
        for i in range(k):
            m = n * (i + 1) // k - n * i // k
            x = rng.normal(size=(m, features)).astype(np.float32)
            z = x @ w / np.sqrt(features) + 0.8 * np.sin(3 * x[:, 0]) * x[:, 1] - 1.6
            y = (rng.random(m) < 1 / (1 + np.exp(-2 * z))).astype(np.int8)
            df = pl.DataFrame({f"f{j}": x[:, j] for j in range(features)}).with_columns(
                pl.Series("label", y)
            )
            df.write_parquet(out / split / f"part-{i:05d}.parquet", row_group_size=131_072)


def _features(data: str) -> list[str]:
    import pyarrow.parquet as pq

    first = sorted(Path(data, "train").glob("*.parquet"))[0]
    return [n for n in pq.read_schema(first).names if n != "label"]


def run_distml(
    data: str, rounds: int, checkpoint_every: int, work: str, workers: int, executor: str
) -> dict:
    from distml.cluster.session import choose_executor, configure_auth, ray_session
    from distml.config import ClusterConfig

    configure_auth()  # before Ray is imported
    import ray

    from distml.data.shards import plan
    from distml.model import train

    cluster = ClusterConfig(executor=executor, num_workers=workers)
    with TreeMemory() as mem, ray_session(cluster):
        t0 = time.perf_counter()
        if choose_executor(cluster, 0) == "ray":
            ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        ray_init = time.perf_counter() - t0
        t1 = time.perf_counter()
        tr, va = plan(os.path.join(data, "train")), plan(os.path.join(data, "valid"))
        job = train.TrainJob(
            train=tr.shards,
            valid=va.shards,
            features=tuple(_features(data)),
            label="label",
            weight=None,
            params=PARAMS,
            num_boost_round=rounds,
            early_stopping_rounds=None,
            checkpoint_every=checkpoint_every,
            batch_rows=262_144,
            nthread=2 // workers,
        )
        res = train.Resources(workers, 2 // workers, max_failures=0)
        booster, info = train.train_booster(job, res, work)
        seconds = time.perf_counter() - t1
        ray.shutdown()
    return {
        "seconds": seconds,
        "executor": executor,
        "ray_init_seconds": ray_init,
        "rounds": booster.num_boosted_rounds(),
        **{k: getattr(info, k) for k in ("rank_rows", "matrix_seconds", "boost_seconds")},
        "valid_logloss": _valid_logloss(booster, data),
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def _load(data: str, split: str):
    import numpy as np
    import polars as pl

    df = pl.read_parquet(os.path.join(data, split, "*.parquet"))
    x = df.drop("label").to_numpy().astype(np.float32, copy=False)
    return x, df.get_column("label").to_numpy()


def _valid_logloss(booster, data: str) -> float:
    import numpy as np

    x, y = _load(data, "valid")
    p = np.clip(booster.inplace_predict(x), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def run_reference(data: str, rounds: int) -> dict:
    import xgboost as xgb

    with TreeMemory() as mem:
        t0 = time.perf_counter()
        x, y = _load(data, "train")
        xv, yv = _load(data, "valid")
        dtrain = xgb.QuantileDMatrix(x, label=y, max_bin=256, nthread=2)
        dvalid = xgb.QuantileDMatrix(xv, label=yv, ref=dtrain, nthread=2)
        load = time.perf_counter() - t0
        booster = xgb.train(
            {**PARAMS, "nthread": 2},
            dtrain,
            num_boost_round=rounds,
            evals=[(dvalid, "valid")],
            verbose_eval=False,
        )
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "load_seconds": load,
        "rounds": booster.num_boosted_rounds(),
        "valid_logloss": _valid_logloss(booster, data),
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def _raytrain_worker(config: dict) -> None:
    """The documented loop (ray.train.xgboost.XGBoostTrainer's example), our parameters."""
    import ray.train
    import xgboost
    from ray.train.xgboost import RayTrainReportCallback

    train_df = ray.train.get_dataset_shard("train").materialize().to_pandas()
    eval_df = ray.train.get_dataset_shard("validation").materialize().to_pandas()
    dtrain = xgboost.DMatrix(train_df.drop("label", axis=1), label=train_df["label"])
    deval = xgboost.DMatrix(eval_df.drop("label", axis=1), label=eval_df["label"])
    xgboost.train(
        {**PARAMS, "nthread": 1},
        dtrain=dtrain,
        evals=[(deval, "validation")],
        num_boost_round=config["rounds"],
        callbacks=[RayTrainReportCallback()],
        verbose_eval=False,
    )


def run_raytrain(data: str, rounds: int, work: str) -> dict:
    os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.2"
    import ray
    import ray.data
    import ray.train
    from ray.train.xgboost import RayTrainReportCallback, XGBoostTrainer

    with TreeMemory() as mem:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        t0 = time.perf_counter()
        trainer = XGBoostTrainer(
            _raytrain_worker,
            train_loop_config={"rounds": rounds},
            scaling_config=ray.train.ScalingConfig(
                num_workers=2, resources_per_worker={"CPU": 0.5}
            ),
            run_config=ray.train.RunConfig(name="bench-raytrain", storage_path=work),
            datasets={
                "train": ray.data.read_parquet(os.path.join(data, "train")),
                "validation": ray.data.read_parquet(os.path.join(data, "valid")),
            },
        )
        result = trainer.fit()
        seconds = time.perf_counter() - t0
    booster = RayTrainReportCallback.get_model(result.checkpoint)
    ray.shutdown()
    return {
        "seconds": seconds,
        "rounds": booster.num_boosted_rounds(),
        "valid_logloss": _valid_logloss(booster, data),
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--features", type=int, default=30)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--checkpoint-every", type=int, default=50)
    ap.add_argument(
        "--data",
        default=None,
        help="feature folder (train/, valid/); written there if missing and kept",
    )
    ap.add_argument("--skip-raytrain", action="store_true")
    ap.add_argument(
        "--workers", type=int, choices=[1, 2], default=2, help="distml's workers (2 CPUs split)"
    )
    ap.add_argument(
        "--executor", choices=["ray", "threads"], default="ray", help="threads: --workers 1"
    )
    ap.add_argument("--mode", choices=["main", "distml", "reference", "raytrain"], default="main")
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    if a.mode == "distml":
        d = run_distml(a.data, a.rounds, a.checkpoint_every, a.work, a.workers, a.executor)
        print(json.dumps(d))
        return
    if a.mode == "reference":
        print(json.dumps(run_reference(a.data, a.rounds)))
        return
    if a.mode == "raytrain":
        print(json.dumps(run_raytrain(a.data, a.rounds, a.work)))
        return
    work = Path(tempfile.mkdtemp(prefix="distml-bench-train-", dir=str(Path(__file__).parent)))
    data = a.data or str(work / "features")
    try:
        if not Path(data, "train").is_dir():
            t0 = time.perf_counter()
            make_data(Path(data), a.rows, a.features, a.files)
            print(f"data written in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        common = ["--data", data, "--rounds", str(a.rounds)]
        b = run_child([__file__, "--mode", "reference", *common])
        print(f"reference: {b['seconds']:.1f} s", file=sys.stderr)
        d = run_child(
            [__file__, "--mode", "distml", "--work", str(work / "a"), *common]
            + ["--checkpoint-every", str(a.checkpoint_every), "--workers", str(a.workers)]
            + ["--executor", a.executor]
        )
        print(f"distml: {d['seconds']:.1f} s", file=sys.stderr)
        c = None
        if not a.skip_raytrain:
            c = run_child([__file__, "--mode", "raytrain", "--work", str(work / "c"), *common])
            print(f"ray train + ray data: {c['seconds']:.1f} s", file=sys.stderr)
        gib = 2**30
        result = {
            "benchmark": "train",
            "rows": a.rows,
            "features": a.features,
            "files": a.files,
            "rounds": a.rounds,
            "cpus": os.cpu_count(),
            "params": PARAMS,
            "a_distml": {**d, "workers": a.workers, "cpus_per_worker": 2 // a.workers},
            "b_xgboost_nthread2": b,
            "c_raytrain_raydata": c,
            "goals": {
                "a_over_b_time": d["seconds"] / b["seconds"],
                "a_over_b_time_ok": d["seconds"] / b["seconds"] <= 1.3,
                "a_faster_than_c": None if c is None else d["seconds"] < c["seconds"],
                "a_minus_b_memory_gib": (d["peak_pss_bytes"] - b["peak_pss_bytes"]) / gib,
                "a_memory_ok": d["peak_pss_bytes"] <= b["peak_pss_bytes"] + gib,
            },
        }
        write(f"train-{a.rows}" if a.rows != 5_000_000 else "train", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
