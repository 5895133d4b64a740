"""Helpers shared by the benchmark scripts: memory sampling, subprocess runs, JSON output."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


class TreeMemory:
    """Samples the memory of this process and all its descendants (Ray's raylet and workers).

    ``peak`` sums RSS (shared pages, e.g. the object store and libraries, counted once per
    process: an overstatement); ``peak_pss`` sums PSS, which splits shared pages between the
    processes that map them: the physical memory the tree uses.
    """

    def __init__(self, interval: float = 0.5, pss: bool = True) -> None:
        self.interval = interval
        self.pss = pss
        """False: RSS only (cheap /proc reads; PSS reads every page table, which costs CPU a
        timed run shares)."""
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = pss = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    info = p.memory_full_info() if self.pss else p.memory_info()
                    total += info.rss
                    pss += getattr(info, "pss", info.rss)
            self.peak = max(self.peak, total)
            self.peak_pss = max(self.peak_pss, pss)
            time.sleep(self.interval)

    def __enter__(self) -> TreeMemory:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python <args>`` and return the JSON object it prints on its last stdout line."""
    p = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-5000:])
        raise SystemExit(f"benchmark child failed: {args}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def write(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return path


def train_model(work: Path, rows: int, shards: int, sample: int) -> str:
    """A model to score with: `distml run` (100 rounds, 2 CPUs) on generated data under work."""
    data = str(work / "train-data")
    generate_data(rows, shards, data)
    run = work / "run"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "distml",
            "run",
            f"data.path={data}",
            f"hydra.run.dir={run}",
            f"sampling.size={sample}",
            "model.num_boost_round=100",
            "eval.bootstrap=0",
            "cluster.num_cpus=2",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-5000:])
        raise SystemExit("training the benchmark model failed")
    return str(run)


def generate_data(rows: int, shards: int, out: str) -> dict[str, Any]:
    """Write the synthetic dataset with distml's generator on a local 2-CPU Ray."""
    import ray

    from distml.config import SyntheticConfig
    from distml.synthetic import generate

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        return generate(SyntheticConfig(rows=rows, shards=shards), 0, out)
    finally:
        ray.shutdown()


NARROW_REGIONS = ["north", "south", "east", "west", "central", "coast", "mountain", "islands"]


def _narrow_file(i: int, rows: int, shards: int, out: str) -> int:
    import numpy as np
    import polars as pl

    lo, hi = i * rows // shards, (i + 1) * rows // shards
    n = hi - lo
    rng = np.random.default_rng([7, i])
    label = (rng.random(n) < 0.02).astype(np.int8)
    cols = {"id": np.arange(lo, hi, dtype=np.int64), "label": label}
    for j, shift in enumerate([0.9, 0.7, 0.5, 0.25, 0.0, 0.0]):
        cols[f"num_{j:02d}"] = (rng.standard_normal(n) + shift * label).astype(np.float32)
    df = pl.DataFrame(cols).with_columns(
        pl.Series("region", rng.integers(0, len(NARROW_REGIONS), n, dtype=np.int64)).replace_strict(
            list(range(len(NARROW_REGIONS))), NARROW_REGIONS, return_dtype=pl.String
        )
    )
    df.write_parquet(f"{out}/part-{i:05d}.parquet", row_group_size=250_000)
    return n


def generate_narrow(rows: int, shards: int, out: str) -> dict[str, Any]:
    """A narrow synthetic dataset for runs too large for the full one on this disk: id, label
    (2% positive), six float32 features and a region; ~24 bytes a row as Parquet. Written by
    Ray tasks on 2 CPUs."""
    import ray

    Path(out).mkdir(parents=True, exist_ok=True)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack benchmarks/
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        t0 = time.perf_counter()
        task = ray.remote(_narrow_file)
        pending, done = [], 0
        for i in range(shards):
            if len(pending) >= 8:
                ready, pending = ray.wait(pending, num_returns=1)
                done += sum(ray.get(ready))
            pending.append(task.remote(i, rows, shards, out))
        done += sum(ray.get(pending))
        return {"rows": done, "shards": shards, "seconds": time.perf_counter() - t0}
    finally:
        ray.shutdown()
