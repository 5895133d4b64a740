"""distml predict against a single-process XGBoost predict over the same Parquet files and cores.

    python benchmarks/predict.py --rows 100000000 --shards 256

A model is trained first (`distml run` on 1M generated rows, 200k sample). Then, on the same
scoring files and 2 CPUs: distml's `run_predict` on its own local Ray (schema conformance, row
rules and quarantine, the saved preprocessor, the model, predictions written per shard), against
one process that reads each file with Polars, applies the same preprocessor, calls
`Booster.inplace_predict` with nthread=2 and writes the predictions. Both outputs are compared
(every score equal). Memory: peak summed PSS of each measured process tree.
Writes benchmarks/results/predict[-<rows>].json.
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
from _common import TreeMemory, generate_data, run_child, train_model, write  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run_distml(data: str, model_run: str, out: str) -> dict:
    from distml.cluster.session import configure_auth, ray_session

    configure_auth()  # before Ray is imported: it reads its auth mode then
    from distml.config import ClusterConfig, DataConfig, PredictSettings
    from distml.predict import run_predict

    s = PredictSettings(
        model_run=model_run, data=DataConfig(path=data), cluster=ClusterConfig(num_cpus=2)
    )
    with TreeMemory() as mem, ray_session(s.cluster):
        t0 = time.perf_counter()
        rep = run_predict(s, out)
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "rows": rep["rows_in"],
        "rows_scored": rep["rows_scored"],
        "rows_per_s": rep["rows_in"] / seconds,
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def run_reference(data: str, model_run: str, out: str) -> dict:
    import numpy as np
    import polars as pl
    import xgboost as xgb

    from distml.preprocess.apply import apply, input_columns, load

    spec = load(os.path.join(model_run, "preprocessor.json"))
    booster = xgb.Booster(params={"nthread": 2})
    booster.load_model(os.path.join(model_run, "model.ubj"))
    cols = ["id", *input_columns(spec)]
    os.makedirs(out, exist_ok=True)
    rows = 0
    with TreeMemory() as mem:
        t0 = time.perf_counter()
        for f in sorted(Path(data).glob("*.parquet")):
            df = pl.read_parquet(f, columns=cols)
            x = apply(spec, df).select(spec["output_columns"]).to_numpy().astype(np.float32)
            score = booster.inplace_predict(x)
            df.select("id").with_columns(
                pl.Series("score", score.astype(np.float64))
            ).write_parquet(os.path.join(out, f.name))
            rows += df.height
        seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "rows": rows,
        "rows_per_s": rows / seconds,
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_sum_bytes": mem.peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--shards", type=int, default=256)
    ap.add_argument(
        "--data", default=None, help="existing generated data (default: generate, then delete)"
    )
    ap.add_argument("--mode", choices=["main", "distml", "reference"], default="main")
    ap.add_argument("--model-run", default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.mode != "main":
        fn = run_distml if a.mode == "distml" else run_reference
        print(json.dumps(fn(a.data, a.model_run, a.out)))
        return
    work = Path(tempfile.mkdtemp(prefix="distml-bench-", dir=str(Path(__file__).parent)))
    data = a.data or str(work / "data")
    try:
        model_run = train_model(work, 1_000_000, 8, 200_000)
        gen = generate_data(a.rows, a.shards, data) if a.data is None else None
        common = ["--data", data, "--model-run", model_run]
        r = run_child([__file__, "--mode", "reference", "--out", str(work / "ref"), *common])
        d = run_child([__file__, "--mode", "distml", "--out", str(work / "distml"), *common])
        import polars as pl

        first = sorted(Path(data).glob("*.parquet"))[0].name
        ref = pl.read_parquet(work / "ref" / first)
        mine = (
            pl.scan_parquet(work / "distml" / "predictions" / "*.parquet")
            .join(ref.lazy(), on="id", suffix="_ref")
            .collect()
        )
        result = {
            "benchmark": "predict",
            "rows": d["rows"],
            "files": len(list(Path(data).glob("*.parquet"))),
            "cpus": os.cpu_count(),
            "generate_seconds": gen["seconds"] if gen else None,
            "distml": d,
            "reference_single_process_xgboost": r,
            "ratio_seconds": d["seconds"] / r["seconds"],
            "scores_compared": mine.height,
            "scores_equal": bool((mine["score"] == mine["score_ref"]).all()),
        }
        write(f"predict-{a.rows}" if a.rows != 100_000_000 else "predict", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
