"""A run in threads (cluster.executor) writes what the same run on Ray writes; a small local run
chooses threads by itself and needs no Ray."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import polars as pl

from tests.integration.conftest import RUN_OVERRIDES, distml

VARIES = {"timing", "now", "age_seconds", "task_seconds", "seconds"}
"""Keys whose values are clocks, not results."""


def _same(a, b, where: str = "") -> list[str]:
    """Where two JSON values differ; floats may differ in their last bits (merged moments are
    folded in whatever order tasks finish, on Ray as on threads)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        for k in set(a) & set(b) - VARIES:
            out += _same(a[k], b[k], f"{where}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _same(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300) else [f"{where}: {a} vs {b}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def _frame(run, folder: str) -> pl.DataFrame:
    df = pl.read_parquet(run / folder / "**" / "*.parquet")
    return df.sort(df.columns)


def test_a_run_in_threads_writes_what_the_run_on_ray_writes(run_dir, small_data, tmp_path):
    """The session's run (on Ray) again with cluster.executor=threads and no address."""
    out = tmp_path / "threads"
    p = distml(
        "run",
        f"data.path={small_data}",
        "cluster.executor=threads",
        f"hydra.run.dir={out}",
        *RUN_OVERRIDES,
        check=False,
    )
    assert p.returncode == 3, p.stderr[-3000:]  # the same failed gate
    run = json.loads((out / "run.json").read_text())
    ray_run = json.loads((run_dir / "run.json").read_text())
    assert run["executor"] == "threads" and ray_run["executor"] == "ray"
    assert run["stages"]["train"]["nodes"] == ["this process"]
    assert run["stages"]["train"]["nthread"] == ray_run["stages"]["train"]["nthread"] == 2
    assert (out / "model.ubj").read_bytes() == (run_dir / "model.ubj").read_bytes()
    for name in ("sample", "features", "predictions", "quarantine"):
        if (run_dir / name).is_dir() and any((run_dir / name).rglob("*.parquet")):
            assert _frame(out, name).equals(_frame(run_dir, name)), name
    for name in (
        "profile.json",
        "sampling_report.json",
        "preprocessor.json",
        "metrics.json",
        "threshold.json",
        "reference.json",
        "feature_importance.json",
    ):
        a = json.loads((out / name).read_text())
        b = json.loads((run_dir / name).read_text())
        assert not _same(a, b), (name, _same(a, b)[:5])
    # the keeper in this process wrote the same checkpoints
    ckpts = sorted(p.name for p in (out / "train").rglob("*.ubj"))
    assert ckpts and ckpts == sorted(p.name for p in (run_dir / "train").rglob("*.ubj"))
    for key in ("rounds", "best_iteration", "rank_rows", "failures"):
        assert run["stages"]["train"][key] == ray_run["stages"]["train"][key], key


def test_a_small_local_run_chooses_threads_and_needs_no_ray(small_data, tmp_path):
    """`distml run` in a fresh process, no address: it runs in threads, says so, and never
    imports Ray (``-X importtime`` lists every module the process imported)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = tmp_path / "auto"
    p = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "distml",
            "run",
            f"data.path={small_data}",
            f"hydra.run.dir={out}",
            "sampling.size=10000",
            "model.num_boost_round=20",
        ],
        capture_output=True,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "running in this process without Ray (cluster.executor=ray to use Ray)" in p.stderr
    imported = [
        ln.rsplit("|", 1)[1].strip()
        for ln in p.stderr.splitlines()
        if ln.startswith("import time:")
    ]
    assert len(imported) > 500 and "distml.pipeline.runner" in imported
    assert [m for m in imported if m == "ray" or m.startswith("ray.")] == []
    run = json.loads((out / "run.json").read_text())
    assert run["executor"] == "threads" and run["stages"]["train"]["nodes"] == ["this process"]
    assert run["metrics"]["test"]["roc_auc"] > 0.8
    # threads train one worker: asking for two is one paragraph, before any stage runs
    p = subprocess.run(
        [sys.executable, "-m", "distml", "run", f"data.path={small_data}",
         f"hydra.run.dir={tmp_path / 'two'}", "cluster.executor=threads", "cluster.num_workers=2"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "cluster.executor=threads trains one worker per model" in p.stderr
    assert "Set cluster.num_workers=1, or cluster.executor=ray" in p.stderr


def test_predict_in_threads_scores_what_predict_on_ray_scores(
    run_dir, small_data, ray_local, tmp_path
):
    address = ray_local.get_runtime_context().gcs_address
    for name, where in (
        ("ray", f"cluster.address={address}"),
        ("threads", "cluster.executor=threads"),
    ):
        distml(
            "predict", f"model_run={run_dir}", f"data.path={small_data}", where,
            f"hydra.run.dir={tmp_path / name}",
        )  # fmt: skip
    a, b = (json.loads((tmp_path / n / "predict.json").read_text()) for n in ("threads", "ray"))
    assert (a["executor"], b["executor"]) == ("threads", "ray")
    assert a["rows_in"] == b["rows_in"] == 60_000 and a["per_shard"] == b["per_shard"]
    assert _frame(tmp_path / "threads", "predictions").equals(
        _frame(tmp_path / "ray", "predictions")
    )


def test_a_file_that_cannot_be_read_while_scoring_is_named_or_skipped(
    run_dir, small_data, tmp_path
):
    """A file whose footer reads but whose pages do not (only a read finds it): predict says
    which file in one paragraph, or with data.on_bad_file=skip lists it and scores the rest."""
    import shutil
    from pathlib import Path

    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    files = sorted(data.glob("*.parquet"))
    raw = bytearray(files[1].read_bytes())
    lo, hi = 64, len(raw) // 2
    raw[lo:hi] = bytes((b ^ 0x5A) for b in raw[lo:hi])  # the data pages; the footer intact
    files[1].write_bytes(bytes(raw))
    common = [f"model_run={run_dir}", f"data.path={data}", "cluster.executor=threads"]
    p = distml("predict", *common, f"hydra.run.dir={tmp_path / 'a'}", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert f"The Parquet file '{files[1]}' cannot be read" in p.stderr
    assert "data.on_bad_file=skip" in p.stderr
    distml("predict", *common, "data.on_bad_file=skip", f"hydra.run.dir={tmp_path / 'b'}")
    rep = json.loads((tmp_path / "b" / "predict.json").read_text())
    assert [Path(f["path"]).name for f in rep["skipped_files"]] == [files[1].name]
    assert rep["skipped_files"][0]["reason"].startswith("unreadable: ")
    assert rep["rows_in"] == 50_000 == rep["rows_scored"] + rep["rows_quarantined"]


def _slow_first(item: int, n: int) -> tuple[int, int]:
    import time

    time.sleep(0.01 * (n - item))  # the first items finish last
    return item * item, 1


def test_map_shards_on_ray_keeps_item_order(ray_local):
    from distml.cluster.tasks import map_shards

    items = list(range(24))
    assert map_shards(_slow_first, items, args=(len(items),)) == [i * i for i in items]
