"""The whole distml pipeline on N generated rows, against a one-process Polars + XGBoost reference.

    python benchmarks/pipeline.py --rows 10000000 --shards 64 --sample 1000000

distml: `run_pipeline` as `distml run` runs it (cluster.* defaults: its own local Ray, or threads
in this process for at most cluster.threads_max_rows rows; ``--executor`` forces one), per-stage
seconds, rows/s and peak memory from run.json, plus the peak summed RSS of the driver and all Ray
processes.
Reference: one process reading every file with Polars, a hash-based Bernoulli sample of the same
size, the same preprocessor applied in memory, ``xgboost.train`` with nthread=2 on the same
parameters, and scikit-learn metrics.
Writes benchmarks/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TreeMemory, generate_data, run_child, write  # noqa: E402


def run_distml(data: str, out: str, sample: int, rounds: int, executor: str) -> dict:
    from distml.cluster.session import configure_auth, ray_session

    configure_auth()  # before Ray is imported: it reads its auth mode then
    from distml.config import Settings
    from distml.pipeline import run_pipeline

    s = Settings()
    s.data.path = data
    s.sampling.size = sample
    s.model.num_boost_round = rounds
    s.cluster.executor = executor
    s.cache.enabled = False  # every stage runs, whatever ran before on the same files
    t0 = time.perf_counter()
    with TreeMemory() as mem, ray_session(s.cluster):
        rec = run_pipeline(s, out)
    return {
        "seconds": time.perf_counter() - t0,
        "peak_tree_rss_bytes": mem.peak,
        "executor": rec["executor"],
        "stages": rec["stages"],
        "test": {k: rec["metrics"]["test"][k] for k in ("roc_auc", "average_precision", "f1")},
    }


def run_reference(data: str, sample: int, rounds: int, seed: int = 0) -> dict:
    import numpy as np
    import polars as pl
    import xgboost as xgb
    from sklearn import metrics as skm

    from distml.config import DataConfig, ModelConfig, PreprocessConfig
    from distml.preprocess.apply import apply as apply_spec
    from distml.preprocess.fit import fit_frame
    from distml.preprocess.kinds import column_kinds, feature_plan
    from distml.stats.keys import sample_keys

    stages = {}
    t0 = time.perf_counter()
    lf = pl.scan_parquet(f"{data}/*.parquet")
    n = lf.select(pl.len()).collect().item()
    frac = sample / n
    df = lf.collect()
    keys = sample_keys(df["id"].to_numpy().view(np.uint64), seed)
    df = df.filter(pl.Series(keys < np.uint64(int(frac * (2**64 - 1)))))
    u = sample_keys(df["id"].to_numpy().view(np.uint64), seed + 1) / float(2**64)
    df = df.with_columns(
        pl.Series("split", np.where(u < 0.7, "train", np.where(u < 0.85, "valid", "test")))
    )
    stages["read_and_sample"] = time.perf_counter() - t0
    t = time.perf_counter()
    feats = feature_plan(
        dict(df.schema), DataConfig(label="label", id_column="id", exclude=["split"])
    ).used
    kinds = column_kinds(dict(df.schema), feats)
    # same preprocessor, fitted in memory
    train = df.filter(pl.col("split") == "train")
    spec = fit_frame(train, kinds, PreprocessConfig(), "label", "id")
    parts = {
        sp: apply_spec(spec, df.filter(pl.col("split") == sp), ("label",))
        for sp in ("train", "valid", "test")
    }
    stages["preprocess"] = time.perf_counter() - t
    t = time.perf_counter()
    cols = spec["output_columns"]
    m = ModelConfig()
    dm = {
        sp: xgb.QuantileDMatrix(p.select(cols).to_numpy(), p["label"].to_numpy())
        for sp, p in parts.items()
        if sp != "test"
    }
    dvalid = xgb.DMatrix(parts["valid"].select(cols).to_numpy(), parts["valid"]["label"].to_numpy())
    booster = xgb.train(
        {**m.params, "nthread": 2},
        dm["train"],
        rounds,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=m.early_stopping_rounds,
        verbose_eval=False,
    )
    stages["train"] = time.perf_counter() - t
    t = time.perf_counter()
    test = parts["test"]
    s = booster.predict(
        xgb.DMatrix(test.select(cols).to_numpy()), iteration_range=(0, booster.best_iteration + 1)
    )
    y = test["label"].to_numpy()
    res = {
        "roc_auc": skm.roc_auc_score(y, s),
        "average_precision": skm.average_precision_score(y, s),
    }
    stages["evaluate"] = time.perf_counter() - t
    return {
        "seconds": time.perf_counter() - t0,
        "stages": stages,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "sample_rows": df.height,
        "test": res,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--sample", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--data", default=None, help="existing generated data (default: generate)")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--mode", choices=["main", "distml", "reference"], default="main")
    ap.add_argument("--out", default=None)
    ap.add_argument("--executor", choices=["auto", "ray", "threads"], default="auto")
    a = ap.parse_args()
    if a.mode == "distml":
        print(json.dumps(run_distml(a.data, a.out, a.sample, a.rounds, a.executor)))
        return
    if a.mode == "reference":
        print(json.dumps(run_reference(a.data, a.sample, a.rounds)))
        return

    work = Path(tempfile.mkdtemp(prefix="distml-bench-", dir=str(Path(__file__).parent)))
    data = a.data or str(work / "data")
    try:
        gen = None
        if a.data is None:
            gen = generate_data(a.rows, a.shards, data)
        common = ["--data", data, "--sample", str(a.sample), "--rounds", str(a.rounds)]
        run = ["--mode", "distml", "--out", str(work / "run"), "--executor", a.executor]
        d = run_child([__file__, *run, *common])
        r = run_child([__file__, "--mode", "reference", *common])
        result = {
            "benchmark": "pipeline",
            "rows": a.rows,
            "files": a.shards,
            "sample_rows": a.sample,
            "num_boost_round": a.rounds,
            "machine": {"cpus": __import__("os").cpu_count()},
            "generate_seconds": gen["seconds"] if gen else None,
            "distml": d,
            "reference_one_process": r,
            "ratio_total_seconds": d["seconds"] / r["seconds"],
        }
        write("pipeline", result)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
