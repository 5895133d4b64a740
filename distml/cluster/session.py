"""The Ray session of a command: opened once by the CLI, started on first use, honouring Ray's
token authentication.

``ray_session`` (entered by distml/cli.py around a command) only records how to connect; the
first map over shards or actor group calls ``ensure`` and Ray starts then, so a user error found
in the config or the data's metadata is reported before Ray has started. ``cluster.address``
null starts a local Ray, except inside a Ray job (RAY_ADDRESS is set), where it joins the job's
cluster; a Ray that is already initialised (tests, sweep trials) is used as it is.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distml.config import ClusterConfig
from distml.errors import UserError

_session: dict[str, object] = {}
"""The open session: ``config`` (how to connect) and ``started`` (whether we started Ray)."""


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
    """A command's Ray session: Ray starts on first use (``ensure``); what we started we stop."""
    import ray

    outer = dict(_session)
    _session.clear()
    _session["config"] = cluster
    try:
        yield
    finally:
        if _session.get("started") and ray.is_initialized():
            ray.shutdown()
        _session.clear()
        _session.update(outer)


def ensure() -> None:
    """Connect to (or start) the session's Ray if it is not running yet."""
    import ray

    if ray.is_initialized():
        return
    cluster = _session.get("config")
    if not isinstance(cluster, ClusterConfig):
        cluster = ClusterConfig()  # library use outside a command: a local Ray
    configure_auth()
    if cluster.address is None and not os.environ.get("RAY_ADDRESS"):
        ray.init(
            num_cpus=cluster.num_cpus,
            include_dashboard=cluster.dashboard,
            logging_level=logging.WARNING,
        )
        _session["local"] = True  # a fixed size: no autoscaler will add nodes
    else:
        ray.init(
            address=cluster.address or os.environ.get("RAY_ADDRESS"),
            logging_level=logging.WARNING,
        )
    _session["started"] = True


def worker_cpus(cluster: ClusterConfig, workers: int, share: int = 1) -> float:
    """``cluster.cpus_per_worker``, or when it is null: on the local Ray distml started, its CPUs
    split among ``workers`` workers of each of ``share`` concurrent models (at least 1); on a
    cluster, the CPUs of its smallest alive node that has CPUs (1 when none has yet)."""
    import ray

    if cluster.cpus_per_worker is not None:
        return cluster.cpus_per_worker
    ensure()
    if _session.get("local"):
        have = float(ray.cluster_resources().get("CPU", 1))
        return float(max(1, int(have // (workers * share))))
    nodes = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return float(max(1, int(min([c for c in nodes if c > 0], default=1))))


def check_fits(workers: int, cpus_per_worker: float, key: str) -> None:
    """On a local Ray that distml started (no autoscaler), a group of ``workers`` workers of
    ``cpus_per_worker`` CPUs must fit, or it would wait forever: a UserError naming ``key``.
    On a cluster the group waits for nodes (an autoscaler may add them)."""
    import ray

    ensure()
    if not _session.get("local"):
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
    if not cluster.use_gpu:
        return
    import ray

    ensure()
    have = int(ray.cluster_resources().get("GPU", 0))
    if have < cluster.num_workers:
        raise UserError(
            f"cluster.use_gpu=true needs one GPU per training worker ({cluster.num_workers} for "
            f"cluster.num_workers={cluster.num_workers}), but the Ray cluster has {have}. Set "
            "cluster.use_gpu=false, lower cluster.num_workers, or add GPU nodes to the cluster."
        )
