"""The synthetic dataset (``synthetic.*`` in conf/): tabular data with real signal, nulls,
outliers and duplicate rows, written in parallel.

Deterministic from ``seed``: shard ``i`` draws from ``numpy.random.default_rng([seed, i])`` and
holds rows ``[i*rows//shards, (i+1)*rows//shards)``, so each Ray task writes its own file and the
generator scales linearly with the number of tasks.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from distml.artifacts import dumps
from distml.cluster.tasks import MapStats, map_shards
from distml.config import SyntheticConfig
from distml.data.fs import filesystem, join
from distml.progress import say

REGIONS = ["north", "south", "east", "west", "central", "coast", "mountain", "islands"]
DEVICES = ["mobile", "desktop", "tablet", "kiosk"]
MERCHANTS = np.array([f"m{m:03d}" for m in range(200)])
N_NUMERIC = 12
NULLABLE_NUMERIC = ["num_01", "num_04", "num_07"]
# Shift of each numeric feature's mean for positives (the signal); the rest is noise.
SHIFTS = [0.9, 0.7, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05, 0, 0, 0, 0]
NULL_RATE = 0.02
OUTLIER_RATE = 0.001
DUPLICATE_RATE = 0.001
T0 = datetime(2024, 1, 1)


def synthetic_path(cfg: SyntheticConfig, seed: int) -> str:
    """Where the default synthetic dataset for these settings lives."""
    drift = f"-drift{cfg.drift:g}" if cfg.drift else ""
    return join(
        cfg.cache_dir,
        f"synthetic-{cfg.rows}r-{cfg.shards}s-p{cfg.positive_rate:g}-seed{seed}{drift}",
    )


def generate_rows(
    seed: int, shard: int, start: int, n: int, positive_rate: float, drift: float = 0.0
) -> pl.DataFrame:
    """Rows ``start .. start+n`` of shard ``shard`` (pure function of its arguments).

    ``drift`` (a magnitude, 0 = the reference distribution) moves the data the way production
    data moves: the positive rate grows by a factor 1 + drift, the first six numeric features
    shift by 0.5 * drift standard deviations, the last four widen, amounts grow, more items per
    row, and regions lean towards the coast. The random draws are the same for any drift."""
    rng = np.random.default_rng([seed, shard, start])
    rate = min(0.5, positive_rate * (1 + drift))
    label = (rng.random(n) < rate).astype(np.int8)
    pos = label.astype(bool)
    cols: dict[str, object] = {"id": np.arange(start, start + n, dtype=np.int64), "label": label}
    for j in range(N_NUMERIC):
        x = rng.standard_normal(n) * (1 + 0.5 * drift * (j >= 8)) + 0.5 * drift * (j < 6)
        x = x + SHIFTS[j] * label
        if f"num_{j:02d}" in NULLABLE_NUMERIC:
            x[rng.random(n) < NULL_RATE] = np.nan
        cols[f"num_{j:02d}"] = x.astype(np.float32)
    amount = rng.lognormal(3.0 + 0.6 * label + 0.5 * drift, 1.0)
    outlier = rng.random(n) < OUTLIER_RATE
    amount[outlier] *= 1000
    cols["amount"] = amount
    cols["n_items"] = rng.poisson(2 + 2 * label + drift).astype(np.int32)
    # Region: positives lean to two regions; device: positives lean to kiosk; merchant: Zipf-like.
    lean = np.array([0.02, 0.02, 0.02, 0.02, 0.02, 0.86, 0.02, 0.02])
    w = min(1.0, 0.5 * drift)
    p_neg = (1 - w) * np.full(len(REGIONS), 1 / len(REGIONS)) + w * lean
    p_pos = np.array([0.05, 0.05, 0.3, 0.05, 0.05, 0.3, 0.1, 0.1])
    region = np.where(
        pos, rng.choice(len(REGIONS), n, p=p_pos), rng.choice(len(REGIONS), n, p=p_neg)
    )
    device = np.where(
        pos, rng.choice(4, n, p=[0.3, 0.2, 0.1, 0.4]), rng.choice(4, n, p=[0.5, 0.35, 0.14, 0.01])
    )
    merchant = np.minimum(rng.zipf(1.6, n), 200) - 1
    # Positives happen more at night.
    hour = np.where(pos, rng.choice(24, n, p=_night_weights()), rng.integers(0, 24, n))
    day = rng.integers(0, 366, n)
    seconds = day * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    ts = np.datetime64(T0, "us") + (seconds * 1_000_000).astype("timedelta64[us]")
    df = pl.DataFrame(cols).with_columns(
        pl.Series("region", np.array(REGIONS)[region]),
        pl.Series("device", np.array(DEVICES)[device]),
        pl.Series("merchant", MERCHANTS[merchant]),
        pl.Series("event_time", ts),
        pl.Series("is_weekend_promo", rng.random(n) < 0.1 + 0.1 * label),
    )
    device_null = rng.random(n) < NULL_RATE
    df = df.with_columns(
        pl.when(pl.Series(device_null)).then(None).otherwise(pl.col("device")).alias("device"),
        pl.col(NULLABLE_NUMERIC).fill_nan(None),
    )
    # Exact duplicates of earlier rows (same id): the last rows of the chunk copy random rows.
    n_dup = int(n * DUPLICATE_RATE)
    if n_dup and n > 2 * n_dup:
        src = rng.integers(0, n - n_dup, n_dup)
        df = pl.concat([df.head(n - n_dup), df[src.tolist()]])
    return df


def _night_weights() -> np.ndarray:
    w = np.array([3 if h < 5 or h >= 22 else 1 for h in range(24)], dtype=float)
    return w / w.sum()


def _write_shard(i: int, cfg: SyntheticConfig, seed: int, out: str) -> tuple[None, int]:
    start = i * cfg.rows // cfg.shards
    end = (i + 1) * cfg.rows // cfg.shards
    fs, path = filesystem(join(out, f"part-{i:05d}.parquet"))
    writer = None
    with fs.open_output_stream(path) as stream:
        for lo in range(start, end, cfg.row_group_rows):
            n = min(cfg.row_group_rows, end - lo)
            table = generate_rows(seed, i, lo, n, cfg.positive_rate, cfg.drift).to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(stream, table.schema)
            writer.write_table(table, row_group_size=cfg.row_group_rows)
        if writer is not None:
            writer.close()
    return None, end - start


def generate(cfg: SyntheticConfig, seed: int, out: str, num_cpus: float = 1.0) -> dict:
    """Write ``cfg.rows`` rows as ``cfg.shards`` Parquet files under ``out`` (one Ray task each)."""
    t0 = time.perf_counter()
    fs, root = filesystem(out)
    fs.create_dir(root, recursive=True)
    say("generate", f"writing {cfg.rows:,} rows as {cfg.shards} files to {out}")
    stats = MapStats()
    map_shards(
        _write_shard,
        list(range(cfg.shards)),
        args=(cfg, seed, out),
        label="generate",
        num_cpus=num_cpus,
        stats=stats,
    )
    info = {
        "rows": cfg.rows,
        "shards": cfg.shards,
        "positive_rate": cfg.positive_rate,
        "drift": cfg.drift,
        "seed": seed,
        "seconds": time.perf_counter() - t0,
    }
    # The marker is written last: a folder without it is an interrupted generation.
    with fs.open_output_stream(join(root, "_SUCCESS.json")) as f:
        f.write(dumps(info, indent=None).encode())
    info["peak_rss_bytes"] = stats.peak_rss_bytes
    return info


def is_complete(out: str) -> bool:
    fs, root = filesystem(out)
    return fs.get_file_info(join(root, "_SUCCESS.json")).type.name == "File"


def ensure_synthetic(cfg: SyntheticConfig, seed: int, num_cpus: float = 1.0) -> tuple[str, bool]:
    """The default synthetic dataset's URI, generated on first use; and whether it existed."""
    uri = os.path.abspath(synthetic_path(cfg, seed))
    if is_complete(uri):
        say("generate", f"reusing {uri}")
        return uri, True
    shutil.rmtree(uri, ignore_errors=True)
    generate(cfg, seed, uri, num_cpus=num_cpus)
    return uri, False
