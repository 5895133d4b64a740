"""The Ray session of a command: opened once by the CLI, started on first use, honouring Ray's
token authentication.

``ray_session`` (entered by distml/cli.py around a command) only records how to connect; the
first map over shards or actor group calls ``ensure_ray`` and Ray starts then, so a user error found
in the config or the data's metadata is reported before Ray has started. ``cluster.address``
null starts a local Ray, except inside a Ray job (RAY_ADDRESS is set), where it joins the job's
cluster; a Ray that is already initialised (tests, sweep trials) is used as it is.

A small local run needs no Ray at all: ``choose_executor`` (cluster.executor) may run the
session's maps on a thread pool and its one training worker in this process (tasks.py,
distml/model/train.py), skipping Ray's start and stop (seconds) with identical outputs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from distml.config import ClusterConfig
from distml.errors import UserError
from distml.progress import say


@dataclass
class Session:
    """A command's session: how to connect, where its work runs, what it started."""

    config: ClusterConfig | None = None
    """How to connect (None: library use outside a command, a local Ray)."""
    executor: str | None = None
    """'threads' or 'ray' once ``choose_executor`` decided; None before."""
    started: bool = False
    """Whether this session connected to or started Ray (and so shuts it down)."""
    local: bool = False
    """Whether that Ray is a local one this session started (a fixed size, no autoscaler)."""


_current = Session()


def current() -> Session:
    """The open session (a default one outside a command)."""
    return _current


def find_token() -> str | None:
    """Where Ray's own CLI looks: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    for p in (os.environ.get("RAY_AUTH_TOKEN_PATH"), str(Path.home() / ".ray" / "auth_token")):
        if p and Path(p).is_file():
            return p
    return None


def configure_auth() -> None:
    """If a token exists, clients must present it: set RAY_AUTH_MODE=token unless already set.

    A head started where a token exists requires it (Ray 2.60 also writes ~/.ray/auth_token when
    it first starts a local cluster), and Ray reads the mode at import time, so this runs first.
    """
    if find_token() and not os.environ.get("RAY_AUTH_MODE"):
        os.environ["RAY_AUTH_MODE"] = "token"


@contextmanager
def ray_session(cluster: ClusterConfig) -> Iterator[None]:
    """A command's Ray session: Ray starts on first use (``ensure_ray``); what we started we stop.
    Entering it imports nothing of Ray: a run in threads never loads Ray."""
    global _current
    outer, _current = _current, Session(config=cluster)
    try:
        yield
    finally:
        if _current.started and ray_running():
            sys.modules["ray"].shutdown()
        _current = outer


def available_cpus() -> int:
    """CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def ray_running() -> bool:
    """Whether this process is connected to a Ray (not imported: not, and not worth importing)."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def choose_executor(
    cluster: ClusterConfig,
    rows: int | None,
    workers: int | None = None,
    key: str = "cluster.num_workers",
) -> str:
    """Decide where this command's maps and training run: ``cluster.executor``, or for 'auto',
    'threads' when the run is local (no cluster.address, no RAY_ADDRESS, no Ray running yet),
    trains ``workers`` (default cluster.num_workers; the config key ``key``) = 1 worker per model
    without a GPU, and has at most ``cluster.threads_max_rows`` rows (None: not known before
    the work, as for an ingest: Ray); else 'ray'. The first
    decision holds for the command's session, and a choice of threads by 'auto' is said in the
    log; outside a session (library use) it is always 'ray'.

    Raises UserError for cluster.executor=threads with more than one worker per model."""
    if _current.executor is not None:
        return _current.executor
    if _current.config is None:
        return "ray"
    workers = cluster.num_workers if workers is None else workers
    choice = cluster.executor
    if choice == "threads" and workers != 1:
        raise UserError(
            f"cluster.executor=threads trains one worker per model in this process, and {key}="
            f"{workers}. Set {key}=1, or cluster.executor=ray to train on {workers} Ray workers."
        )
    if choice == "auto":
        local = cluster.address is None and not os.environ.get("RAY_ADDRESS")
        small = rows is not None and rows <= cluster.threads_max_rows and workers == 1
        free = not ray_running() and not cluster.use_gpu
        choice = "threads" if local and small and free else "ray"
        if choice == "threads":
            say(
                "cluster",
                f"{rows or 0:,} rows (at most cluster.threads_max_rows={cluster.threads_max_rows:,}): "
                "running in this process without Ray (cluster.executor=ray to use Ray)",
            )
    _current.executor = choice
    return choice


def threads() -> int:
    """The session's thread count when it runs in this process (cluster.executor threads), 0 on
    Ray: ``cluster.num_cpus`` (or this machine's CPUs) over ``cluster.task_cpus``."""
    if _current.executor != "threads":
        return 0
    cluster = _current.config or ClusterConfig()
    return max(1, int((cluster.num_cpus or available_cpus()) / cluster.task_cpus))


def ensure_ray() -> None:
    """Connect to (or start) the session's Ray if it is not running yet."""
    import ray

    if ray.is_initialized():
        return
    if _current.executor == "threads":
        raise RuntimeError("distml bug: Ray was asked for in a session run in threads")
    cluster = _current.config or ClusterConfig()  # library use outside a command: a local Ray
    configure_auth()
    if cluster.address is None and not os.environ.get("RAY_ADDRESS"):
        ray.init(
            num_cpus=cluster.num_cpus,
            include_dashboard=cluster.dashboard,
            logging_level=logging.WARNING,
        )
        _current.local = True  # a fixed size: no autoscaler will add nodes
    else:
        ray.init(
            address=cluster.address or os.environ.get("RAY_ADDRESS"),
            logging_level=logging.WARNING,
        )
    _current.started = True


def worker_cpus(cluster: ClusterConfig, workers: int, share: int = 1) -> float:
    """``cluster.cpus_per_worker``, or when it is null: on the local Ray distml started, its CPUs
    split among ``workers`` workers of each of ``share`` concurrent models (at least 1); on a
    cluster, the CPUs of its smallest alive node that has CPUs (1 when none has yet)."""
    if cluster.cpus_per_worker is not None:
        return cluster.cpus_per_worker
    if _current.executor == "threads":
        have = cluster.num_cpus or available_cpus()
        return float(max(1, int(have // (workers * share))))
    import ray

    ensure_ray()
    if _current.local:
        have = float(ray.cluster_resources().get("CPU", 1))
        return float(max(1, int(have // (workers * share))))
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return float(max(1, int(min([c for c in nodes if c > 0], default=1))))


def check_fits(workers: int, cpus_per_worker: float, key: str) -> None:
    """On a local Ray that distml started (no autoscaler), a group of ``workers`` workers of
    ``cpus_per_worker`` CPUs must fit, or it would wait forever: a UserError naming ``key``.
    On a cluster the group waits for nodes (an autoscaler may add them)."""
    if _current.executor == "threads":
        return  # one worker in this process (ClusterConfig checks num_workers)
    import ray

    ensure_ray()
    if not _current.local:
        return
    have = float(ray.cluster_resources().get("CPU", 0))
    if workers * cpus_per_worker > have:
        raise UserError(
            f"{key}={workers} workers of cluster.cpus_per_worker={cpus_per_worker:g} CPUs need "
            f"{workers * cpus_per_worker:g} CPUs, but the local Ray has {have:g}. Lower {key} or "
            "cluster.cpus_per_worker, raise cluster.num_cpus, or set cluster.address to a larger "
            "cluster."
        )


def check_gpus(cluster: ClusterConfig) -> None:
    """With cluster.use_gpu, every training worker needs a GPU in the Ray cluster."""
    if not cluster.use_gpu or _current.executor == "threads":
        return
    import ray

    ensure_ray()
    have = int(ray.cluster_resources().get("GPU", 0))
    if have < cluster.num_workers:
        raise UserError(
            f"cluster.use_gpu=true needs one GPU per training worker ({cluster.num_workers} for "
            f"cluster.num_workers={cluster.num_workers}), but the Ray cluster has {have}. Set "
            "cluster.use_gpu=false, lower cluster.num_workers, or add GPU nodes to the cluster."
        )
