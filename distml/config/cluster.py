"""``cluster.*``: the Ray cluster and what each task and training worker reserves (distml/cluster/)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check
from distml.errors import ConfigError

EXECUTORS = ("auto", "ray", "threads")


@dataclass
class ClusterConfig:
    address: str | None = None
    """null: start a local single-node Ray; else a Ray address such as 'auto' or ray://host:10001."""
    num_workers: int = 1
    """Training workers: Ray actors joined by XGBoost's collective (distml/model/). One per node
    is fastest: on one machine, workers sharing its CPUs boost slower than one worker using them
    all (benchmarks/train.py --workers)."""
    cpus_per_worker: float | None = None
    """CPUs reserved by each training worker; XGBoost uses max(1, int(this)) threads. null: on
    the local Ray distml starts, its CPUs shared by the workers (and the curve's concurrent
    models); on a cluster, the CPUs of its smallest node that has CPUs."""
    num_cpus: int | None = None
    """CPUs of the local Ray started when address is null (null: all)."""
    dashboard: bool = False
    """Start Ray's dashboard with the local Ray (address null); it lengthens each start."""
    task_cpus: float = 1.0
    """CPUs reserved by each shard task."""
    max_failures: int = 1
    """Training restarts from the newest checkpoint after a worker or node failure, this often."""
    use_gpu: bool = False
    """Train on one GPU per worker (XGBoost device=cuda); the cluster must have them."""
    executor: str = "auto"
    """Where shard tasks and training run: 'ray', or 'threads' (this process, no Ray: one
    training worker, tasks on a thread pool of num_cpus threads; not with address or use_gpu).
    'auto': threads when address is null, no Ray job or Ray is running, one worker per model,
    no GPU, and the data has at most threads_max_rows rows (starting and stopping a local Ray
    costs seconds, more than such a run's maps: benchmarks/small_run.py); else ray. Samples, features, model, predictions
    and classification metrics are the same either way (float sums merged in another order may
    differ in their last bit)."""
    threads_max_rows: int = 20_000_000
    """The most rows cluster.executor=auto runs in threads."""

    def __post_init__(self) -> None:
        if self.address is not None and not self.address.strip():
            self.address = None  # `cluster.address=` (an unset shell variable): not set
        check(self.num_workers > 0, "cluster.num_workers", "a positive int", self.num_workers)
        check(
            self.cpus_per_worker is None or self.cpus_per_worker > 0,
            "cluster.cpus_per_worker",
            "a positive number or null",
            self.cpus_per_worker,
        )
        check(self.task_cpus > 0, "cluster.task_cpus", "positive", self.task_cpus)
        check(
            self.executor in EXECUTORS,
            "cluster.executor",
            f"one of {', '.join(EXECUTORS)}",
            self.executor,
        )
        check(
            self.threads_max_rows >= 0,
            "cluster.threads_max_rows",
            "a non-negative int",
            self.threads_max_rows,
        )
        if self.executor == "threads" and self.address is not None:
            raise ConfigError(
                "cluster.executor=threads runs the command in this process without Ray, and "
                f"cluster.address={self.address} names a Ray cluster to run it on. Drop one of "
                "them (cluster.executor=auto uses the cluster when an address is set)."
            )
        if self.executor == "threads" and self.use_gpu:
            raise ConfigError(
                "cluster.executor=threads runs the command in this process, where distml cannot "
                "check or reserve a GPU, and cluster.use_gpu=true asks for one per training "
                "worker. Set cluster.executor=ray (or auto) to train on GPUs."
            )
