"""cluster.executor: which runs go to threads in this process, and map_merge on threads (no Ray)."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from distml.cluster import session
from distml.cluster.session import choose_executor, ray_session, threads, worker_cpus
from distml.cluster.tasks import map_merge, map_shards
from distml.config import ClusterConfig
from distml.errors import ConfigError, UserError


def _choice(rows: int, workers: int | None = None, **cluster) -> str:
    c = ClusterConfig(**cluster)
    with ray_session(c):
        return choose_executor(c, rows, workers)


@pytest.fixture
def no_ray(monkeypatch):
    """As in a fresh `distml` process: no RAY_ADDRESS, no Ray connected (the test session's own
    Ray may be up when the unit tests run after the integration tests)."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(session, "ray_running", lambda: False)


def test_auto_runs_only_a_small_local_single_worker_run_in_threads(no_ray, monkeypatch):
    assert _choice(1_000_000) == "threads"
    assert _choice(5_000_000, threads_max_rows=5_000_000) == "threads"
    assert _choice(5_000_001, threads_max_rows=5_000_000) == "ray"
    assert _choice(1_000, num_workers=2) == "ray"
    assert _choice(1_000, workers=2) == "ray"  # curve.workers_per_trial
    assert _choice(1_000, address="auto") == "ray"
    assert _choice(1_000, use_gpu=True) == "ray"
    assert _choice(10**12, executor="threads") == "threads"
    assert _choice(1_000, executor="ray") == "ray"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # inside a Ray job: its cluster
    assert _choice(1_000) == "ray"
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.setattr(session, "ray_running", lambda: True)  # tests, sweep trials
    assert _choice(1_000) == "ray"


def test_the_first_choice_holds_for_the_session_and_library_use_is_ray(no_ray):
    c = ClusterConfig(threads_max_rows=10)
    with ray_session(c):
        assert choose_executor(c, 5) == "threads"
        assert choose_executor(c, 10**9) == "threads"
        assert threads() == len(os.sched_getaffinity(0))
    assert choose_executor(c, 5) == "ray"  # outside a command's session
    assert threads() == 0


def test_threads_share_the_cpus_among_concurrent_models():
    c = ClusterConfig(executor="threads", num_cpus=8)
    with ray_session(c):
        choose_executor(c, 1)
        assert threads() == 8
        assert worker_cpus(c, 1) == 8.0
        assert worker_cpus(c, 1, share=3) == 2.0  # three curve models at once
        assert worker_cpus(c, 1, share=16) == 1.0


def test_threads_with_more_than_one_worker_a_cluster_or_a_gpu_is_one_paragraph(no_ray):
    with pytest.raises(UserError, match=r"cluster.executor=threads .* cluster.num_workers=2\."):
        _choice(1, executor="threads", num_workers=2)
    with pytest.raises(UserError, match=r"curve.workers_per_trial=3\. Set curve"):
        c = ClusterConfig(executor="threads")
        with ray_session(c):
            choose_executor(c, 1, 3, "curve.workers_per_trial")
    assert _choice(1, workers=1, executor="threads", num_workers=3) == "threads"  # predict
    with pytest.raises(ConfigError, match=r"cluster.address=auto names a Ray cluster"):
        ClusterConfig(executor="threads", address="auto")
    with pytest.raises(ConfigError, match=r"cluster.use_gpu=true"):
        ClusterConfig(executor="threads", use_gpu=True)
    with pytest.raises(ConfigError, match=r"'cluster.executor' parameter must be one of auto"):
        ClusterConfig(executor="process")
    assert _choice(None) == "ray"  # rows not known before the work (ingest)
    assert _choice(None, executor="threads") == "threads"


def _count(item: int, scale: int) -> tuple[dict, int]:
    time.sleep(0.002 * (item % 3))  # finish out of order
    return {"sum": item * scale, "n": 1, "threads": {(os.getpid(), threading.get_ident())}}, item


def _merge(a: dict, b: dict) -> dict:
    return {
        "sum": a["sum"] + b["sum"],
        "n": a["n"] + b["n"],
        "threads": a["threads"] | b["threads"],
    }


def test_map_merge_on_threads_folds_every_item_once():
    items = list(range(1, 301))
    c = ClusterConfig(executor="threads", num_cpus=3)
    with ray_session(c):
        choose_executor(c, len(items))
        got = map_merge(_count, items, _merge, {"sum": 0, "n": 0, "threads": set()}, args=(7,))
    assert got["n"] == 300 and got["sum"] == 7 * int(np.sum(items))
    # in this process (not Ray workers), on more than one thread, none of them the caller's
    assert {pid for pid, _ in got["threads"]} == {os.getpid()} and len(got["threads"]) > 1
    assert (os.getpid(), threading.get_ident()) not in got["threads"]


def _fails_on_13(item: int) -> tuple[int, int]:
    if item == 13:
        raise UserError(f"bad value in shard {item}")
    return item, 1


def test_a_task_error_on_threads_is_raised_as_it_is():
    c = ClusterConfig(executor="threads")
    with ray_session(c):
        choose_executor(c, 1)
        with pytest.raises(UserError, match="bad value in shard 13"):
            map_merge(_fails_on_13, list(range(40)), lambda a, b: a + b, 0)


def _slow_first(item: int, n: int) -> tuple[int, int]:
    time.sleep(0.002 * (n - item))  # the first items finish last
    return item * item, 1


def test_map_shards_keeps_item_order_when_tasks_finish_out_of_order():
    c = ClusterConfig(executor="threads", num_cpus=4)
    items = list(range(40))
    with ray_session(c):
        choose_executor(c, len(items))
        got = map_shards(_slow_first, items, args=(len(items),))
    assert got == [i * i for i in items]
