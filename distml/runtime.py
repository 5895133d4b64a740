"""Connect to Ray (or start a local single-node Ray), honouring Ray's token authentication."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distml.config import ClusterConfig


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
def ray_session(cluster: ClusterConfig) -> Iterator[bool]:
    """Use the Ray that is already initialised, else connect or start one; shut down what we began.

    ``cluster.address`` null starts a local Ray, except inside a Ray job (RAY_ADDRESS is set),
    where it joins the job's cluster.
    """
    import ray

    started = False
    if not ray.is_initialized():
        configure_auth()
        kwargs = dict(logging_level=logging.WARNING)
        if cluster.address is None and not os.environ.get("RAY_ADDRESS"):
            ray.init(num_cpus=cluster.num_cpus, **kwargs)
        else:
            ray.init(
                address=cluster.address or os.environ.get("RAY_ADDRESS"),
                logging_level=logging.WARNING,
            )
        started = True
    try:
        yield started
    finally:
        if started:
            ray.shutdown()


def check_gpus(cluster: ClusterConfig) -> None:
    """With cluster.use_gpu, every training worker needs a GPU in the Ray cluster."""
    if not cluster.use_gpu:
        return
    import ray

    from distml.errors import UserError

    have = int(ray.cluster_resources().get("GPU", 0))
    if have < cluster.num_workers:
        raise UserError(
            f"cluster.use_gpu=true needs one GPU per training worker ({cluster.num_workers} for "
            f"cluster.num_workers={cluster.num_workers}), but the Ray cluster has {have}. Set "
            "cluster.use_gpu=false, lower cluster.num_workers, or add GPU nodes to the cluster."
        )
