"""``serve.*``: online scoring with Ray Serve (distml/serve/, distml/serve/deployment.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from distml.config._check import check


@dataclass
class AutoscalingConfig:
    """Ray Serve's replica autoscaling (off: ``serve.replicas`` fixed replicas)."""

    enabled: bool = False
    min_replicas: int = 1
    max_replicas: int = 4
    target_ongoing_requests: float = 32.0
    """Requests in flight per replica that Serve's autoscaler aims at."""


@dataclass
class ServeConfig:
    route_prefix: str = "/"
    """The application's HTTP route: POST <route_prefix>predict, GET <route_prefix>model, ..."""
    host: str = "127.0.0.1"
    """Where Serve's HTTP proxy listens (0.0.0.0 to accept other machines). Serve's HTTP
    options are per Ray cluster: a Serve already running there keeps its own."""
    port: int = 8000
    app_name: str = "distml"
    """The Serve application's name (one cluster can serve several models under other names)."""
    replicas: int = 1
    """Replicas (Ray actors) scoring requests, when autoscaling is off."""
    autoscaling: AutoscalingConfig = field(default_factory=AutoscalingConfig)
    replica_cpus: float = 1.0
    """CPUs each replica reserves."""
    threads: int = 1
    """XGBoost threads per replica (scale out with replicas)."""
    max_batch_size: int = 64
    """Requests a replica scores together (Ray Serve's dynamic batching)."""
    batch_wait_s: float = 0.002
    """How long a replica waits for a batch to fill after its first request."""
    max_ongoing_requests: int = 256
    """Requests a replica accepts at once (the batch queue's depth)."""
    missing_columns: str = "error"
    """A row that lacks a column the model or a row rule reads (the key is absent): error (the
    row gets a per-row error, rule missing(<column>)) or null (the value is null, imputed as
    training imputes it). Send "column": null for a value you do not have."""
    max_request_rows: int = 100_000
    """Rows in one request; a larger request is refused (413)."""
    follow_s: float = 5.0
    """Every this many seconds a replica checks what model_run points at (models/current after
    ``distml retrain`` promotes) and switches to a new model once it has loaded it; 0: never."""
    log_fraction: float = 0.0
    """The fraction of scored rows written to the request log (each row drawn independently)."""
    log_dir: str | None = None
    """Where the request log goes: Parquet files under <log_dir>/<model>/ (vNNNN or
    run-<fingerprint>), what ``distml monitor data.path=<log_dir>/<model>`` reads (null: <run
    dir>/requests)."""
    log_flush_s: float = 10.0
    """A replica writes its logged rows at least this often (and when it stops)."""
    log_flush_rows: int = 50_000
    """... or as soon as it holds this many."""
    detach: bool = False
    """false: serve until interrupted, then remove the application; true: deploy to the
    cluster (cluster.address) and return, leaving it running."""

    def __post_init__(self) -> None:
        if len(self.route_prefix) > 1:
            self.route_prefix = self.route_prefix.rstrip("/") or "/"
        check(
            self.route_prefix.startswith("/"),
            "serve.route_prefix",
            "a path starting with '/'",
            self.route_prefix,
        )
        check(0 < self.port < 65536, "serve.port", "a TCP port", self.port)
        check(
            self.missing_columns in ("error", "null"),
            "serve.missing_columns",
            "'error' or 'null'",
            self.missing_columns,
        )
        check(self.replicas >= 1, "serve.replicas", "an int >= 1", self.replicas)
        check(self.replica_cpus >= 0, "serve.replica_cpus", "a number >= 0", self.replica_cpus)
        check(self.threads >= 1, "serve.threads", "an int >= 1", self.threads)
        check(self.max_batch_size >= 1, "serve.max_batch_size", "an int >= 1", self.max_batch_size)
        check(self.batch_wait_s >= 0, "serve.batch_wait_s", "a number >= 0", self.batch_wait_s)
        check(
            self.max_ongoing_requests >= self.max_batch_size,
            "serve.max_ongoing_requests",
            "an int >= serve.max_batch_size",
            self.max_ongoing_requests,
        )
        check(
            self.max_request_rows >= 1,
            "serve.max_request_rows",
            "an int >= 1",
            self.max_request_rows,
        )
        check(self.follow_s >= 0, "serve.follow_s", "a number >= 0", self.follow_s)
        check(0 <= self.log_fraction <= 1, "serve.log_fraction", "in [0, 1]", self.log_fraction)
        check(self.log_flush_s > 0, "serve.log_flush_s", "a positive number", self.log_flush_s)
        check(self.log_flush_rows >= 1, "serve.log_flush_rows", "an int >= 1", self.log_flush_rows)
        a = self.autoscaling
        check(a.min_replicas >= 0, "serve.autoscaling.min_replicas", "an int >= 0", a.min_replicas)
        check(
            a.max_replicas >= max(1, a.min_replicas),
            "serve.autoscaling.max_replicas",
            "an int >= max(1, serve.autoscaling.min_replicas)",
            a.max_replicas,
        )
        check(
            a.target_ongoing_requests > 0,
            "serve.autoscaling.target_ongoing_requests",
            "a positive number",
            a.target_ongoing_requests,
        )
