"""The driver's side of the profile pass at 100,000 shards: folding realistic per-shard states.

    python benchmarks/merge.py --shards 100000 --rows 1000000000

States: ``profile_frame`` of 64 different 10,000-row frames of the demonstration data (21
columns), each given the hash-range offsets a shard of ``rows / shards`` rows would carry for the
exact duplicate count, then serialized once (as Ray hands results to the driver). No Ray: this
times the driver's own work per arriving state, deserializing and merging.

Measured:
(a) one state per shard (no batching): the driver deserializes and folds every shard's state;
    timed over ``--measure`` states and extrapolated to ``--shards``;
(b) what ``map_merge`` does: a task folds its own items' states and the driver folds one state
    per task, about 8 tasks per cluster CPU; for clusters of 2, 64 and 1024 CPUs, the driver's
    folds and one task's folds (tasks run in parallel).
Reference: reading the 64 states' serialized bytes once (the floor of any driver that receives
them). Memory: the merged state's serialized size. Writes benchmarks/results/merge.json.
"""

from __future__ import annotations

import argparse
import pickle  # the Ray transport's own format for task results; nothing is saved with it
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write  # noqa: E402

STATES = 64


def _states(rows_per_shard: int, total_rows: int) -> list[bytes]:
    import numpy as np

    from distml.config import QualityConfig
    from distml.profile.duplicates import HashFiles
    from distml.profile.state import ProfileJob, profile_frame
    from distml.quality.contract import build_contract
    from distml.synthetic import generate_rows

    buckets = HashFiles.for_rows("unused", total_rows, total_rows // rows_per_shard).buckets
    out = []
    for i in range(STATES):
        df = generate_rows(0, i, 0, 10_000, 0.02)
        job = ProfileJob(
            contract=build_contract(QualityConfig(), dict(df.schema), "label", [0, 1]),
            columns=tuple(df.columns),
            label="label",
            id_column="id",
            quarantine=None,
            hashes=None,
            on_bad_file="error",
            classification=True,
        )
        st, _ = profile_frame(df, job)
        st.per_shard[f"file-{i}.parquet#0"] = {"rows_in": rows_per_shard}
        offsets = np.sort(np.random.default_rng(i).integers(0, rows_per_shard, buckets))
        offsets = np.append(offsets, rows_per_shard).astype(np.uint32)  # as write_hashes returns
        st.hash_offsets[i] = (offsets, offsets.copy())
        out.append(pickle.dumps(st, protocol=5))
    return out


def _fold(blobs: list[bytes], n: int, offset: int = 0):
    from distml.profile.state import ProfileState

    state = ProfileState()
    for j in range(n):
        k = offset + j
        part = pickle.loads(blobs[k % STATES])
        # each shard is a different file and index: per-shard entries do not collide
        (counts,) = part.per_shard.values()
        (offsets,) = part.hash_offsets.values()
        part.per_shard, part.hash_offsets = {f"shard-{k}": counts}, {k: offsets}
        state = state.merge(part)
    return state


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", type=int, default=100_000)
    ap.add_argument("--rows", type=int, default=1_000_000_000)
    ap.add_argument("--measure", type=int, default=5_000, help="states folded to time (a)")
    a = ap.parse_args()
    blobs = _states(a.rows // a.shards, a.rows)
    t = time.perf_counter()
    for b in blobs:
        pickle.loads(b)
    read_floor = (time.perf_counter() - t) / STATES
    t = time.perf_counter()
    merged = _fold(blobs, a.measure)
    per_state = (time.perf_counter() - t) / a.measure
    merged_bytes = len(pickle.dumps(merged, protocol=5))
    batched = {}
    for cpus in (2, 64, 1024):
        tasks = min(a.shards, 8 * cpus)
        per_task = -(-a.shards // tasks)
        t = time.perf_counter()
        _fold(blobs, min(tasks, a.measure))
        driver = (time.perf_counter() - t) * tasks / min(tasks, a.measure)
        batched[str(cpus)] = {
            "tasks": tasks,
            "driver_folds": tasks,
            "driver_seconds": driver,
            "states_per_task": per_task,
            "one_task_fold_seconds_estimate": per_task * per_state,
        }
    result = {
        "benchmark": "merge",
        "shards": a.shards,
        "rows": a.rows,
        "state_bytes": sum(len(b) for b in blobs) / STATES,
        "deserialize_seconds_per_state": read_floor,
        "fold_seconds_per_state": per_state,
        "one_state_per_shard_driver_seconds": per_state * a.shards,
        "merged_state_bytes_after_measured_folds": merged_bytes,
        "measured_folds": a.measure,
        "map_merge_batched": batched,
    }
    write("merge", result)


if __name__ == "__main__":
    main()
