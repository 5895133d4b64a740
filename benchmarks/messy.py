"""The same fraud-like rows twice: clean Parquet, and messy CSV.gz exports as a client sends them.

    python benchmarks/messy.py [--rows 300000]

The rows: an ``id``, ``amount`` (lognormal, its log carries signal), ``customer_age``,
``event_time`` (night hours carry signal), ``channel``, ``merchant_category``, ``distance_km``
and the label ``is_fraud`` (``yes``/``no``, about 1% yes). The clean copy is one typed Parquet
folder. The messy copy is two gzipped exports of the same rows: ``a.csv.gz`` comma-separated with
ISO 8601 ``Z`` timestamps and thousands separators (``"1,234.50"``), ``b.csv.gz``
semicolon-separated with decimal commas (``1.234,50``, ``12,345``), naive timestamps with a
space and headers spelled differently (``Customer Age``, ``Event Time``, ``IS_FRAUD``); six
broken cells (``12.3.4``) among the amounts, plus a near-unique
transaction id (``txn_id``) and a free-text ``note`` that the clean copy does not have.

Each copy is taken through distml with only ``data.path``, ``data.label`` and
``data.positive_label`` (the messy one through ``distml ingest`` first); the clean run is the
reference. Writes benchmarks/results/messy.json with both runs' test ROC AUC and average
precision, their differences, the features each model used and what distml decided.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, os.path.dirname(__file__))
from _common import write  # noqa: E402

WORDS = ["card", "refund", "late", "order", "please", "again", "shipping", "item", "call", "ok"]


def rows(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3.5, 1.1, n), 2)
    age = rng.integers(18, 90, n)
    minutes = rng.integers(0, 60 * 24 * 60, n)
    hour = (minutes // 60) % 24
    channel = rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2])
    category = rng.choice([f"mcc{i:02d}" for i in range(20)], n)
    distance = np.round(rng.exponential(12, n), 3)
    logit = (
        -6.2
        + 0.55 * np.log(amount)
        + 1.2 * (hour < 5)
        + 0.7 * (channel == "web")
        + 0.02 * distance
        + 0.6 * (age < 25)
    )
    fraud = rng.random(n) < 1 / (1 + np.exp(-logit))
    t0 = np.datetime64("2024-03-01T00:00:00", "us")
    return pl.DataFrame(
        {
            "id": np.arange(n),
            "amount": amount,
            "customer_age": age,
            "event_time": t0 + minutes.astype("timedelta64[m]"),
            "channel": channel,
            "merchant_category": category,
            "distance_km": distance,
            "is_fraud": np.where(fraud, "yes", "no"),
        }
    ).with_columns(pl.col("event_time").dt.replace_time_zone("UTC"))


def write_messy(df: pl.DataFrame, out: Path, seed: int = 1) -> int:
    """Two CSV.gz exports of ``df``; returns the number of broken cells written."""
    rng = np.random.default_rng(seed)
    n = df.height
    txn = [f"TX{v:010d}" for v in rng.integers(0, 10**10, n)]
    note = [" ".join(rng.choice(WORDS, 5)) + f" ref {i}" for i in range(n)]
    half = n // 2
    out.mkdir(parents=True, exist_ok=True)
    broken = rng.choice(n, 6, replace=False)
    # amounts of 1,000 and more with a thousands separator, as spreadsheets export them
    amount = [f"{v:,.2f}" for v in df["amount"].to_list()]
    for i in broken:
        amount[i] = "12.3.4"
    text = df.with_columns(
        pl.Series("txn_id", txn),
        pl.Series("note", note),
        pl.Series("amount", amount),
        pl.col("distance_km").cast(pl.String),
    )
    a = text[:half].with_columns(pl.col("event_time").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    b = text[half:].with_columns(
        pl.col("event_time").dt.replace_time_zone(None).dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.col("amount")
        .str.replace_all(",", "_")
        .str.replace(".", ",", literal=True)
        .str.replace_all("_", "."),
        pl.col("distance_km").str.replace(".", ",", literal=True),
    )
    b = b.rename(
        {"customer_age": "Customer Age", "event_time": "Event Time", "is_fraud": "IS_FRAUD"}
    )
    for frame, name, sep in ((a, "a.csv.gz", ","), (b, "b.csv.gz", ";")):
        (out / name).write_bytes(gzip.compress(frame.write_csv(separator=sep).encode()))
    return len(broken)


def distml(*args: str) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "distml", *args], capture_output=True, text=True, timeout=3600
    )
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-5000:])
        raise SystemExit(f"distml {args[0]} failed")
    return time.perf_counter() - t0


def summary(run: Path) -> dict:
    m = json.loads((run / "metrics.json").read_text())["test"]
    prof = json.loads((run / "profile.json").read_text())
    rec = json.loads((run / "run.json").read_text())
    return {
        "roc_auc": m["roc_auc"],
        "average_precision": m["average_precision"],
        "test_rows": m["rows"],
        "test_positives": m["positives"],
        "rows_in": prof["rows_in"],
        "features": prof["features"]["used"],
        "left_out": {c: r for c, r in prof["features"]["left_out"].items() if c not in ("id",)},
        "types": prof["schema"]["types"],
        "decisions": rec.get("decisions", []),
        "warnings": rec.get("warnings", []),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distml-messy-"))
    try:
        df = rows(a.rows)
        clean = work / "clean"
        clean.mkdir()
        df.write_parquet(clean / "part-0.parquet")
        broken = write_messy(df, work / "exports")
        label = ["data.label=is_fraud", "data.positive_label=yes"]
        t_clean = distml("run", f"data.path={clean}", *label, f"hydra.run.dir={work / 'run_clean'}")
        t_ingest = distml(
            "ingest",
            f"source={work / 'exports'}",
            f"out={work / 'messy'}",
            f"hydra.run.dir={work / 'ingest'}",
        )
        t_messy = distml(
            "run", f"data.path={work / 'messy'}", *label, f"hydra.run.dir={work / 'run_messy'}"
        )
        c, m = summary(work / "run_clean"), summary(work / "run_messy")
        ingest = json.loads((work / "messy" / "_ingest" / "ingest.json").read_text())
        result = {
            "rows": a.rows,
            "broken_cells": broken,
            "clean_parquet": {**c, "seconds": round(t_clean, 1)},
            "messy_csv_gz": {
                **m,
                "seconds": round(t_messy, 1),
                "ingest_seconds": round(t_ingest, 1),
                "ingest_rows": ingest["rows"],
                "ingest_notes": ingest["notes"],
            },
            "difference": {
                "roc_auc": m["roc_auc"] - c["roc_auc"],
                "average_precision": m["average_precision"] - c["average_precision"],
            },
            "within_0.01": abs(m["roc_auc"] - c["roc_auc"]) <= 0.01
            and abs(m["average_precision"] - c["average_precision"]) <= 0.01,
        }
        write("messy", result)
        print(
            f"\n{'':28}{'clean Parquet':>16}{'messy CSV.gz':>16}{'difference':>12}\n"
            f"{'test ROC AUC':28}{c['roc_auc']:>16.4f}{m['roc_auc']:>16.4f}"
            f"{result['difference']['roc_auc']:>+12.4f}\n"
            f"{'test average precision':28}{c['average_precision']:>16.4f}"
            f"{m['average_precision']:>16.4f}{result['difference']['average_precision']:>+12.4f}",
            file=sys.stderr,
        )
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
