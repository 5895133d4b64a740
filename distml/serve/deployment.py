"""Ray Serve: distml's HTTP routes as a Serve deployment (what a replica does is distml/serve/).

Routes under ``serve.route_prefix``: ``POST predict`` (a JSON list of row objects, or an Arrow
IPC body with ``Content-Type: application/vnd.apache.arrow.stream``; the answer is JSON, or Arrow
IPC when the ``Accept`` header asks for it), ``GET model`` and ``GET healthz``. Requests that
reach a replica together are scored as one batch (``serve.batch``: up to
``serve.max_batch_size`` requests, waiting at most ``serve.batch_wait_s``), so the preprocessor
and the booster run once per batch. A thread per replica follows ``model_run`` and flushes the
request log.

``distml serve`` runs ``serve_app``; KubeRay's RayService imports ``build_app`` (an application
builder, ``import_path: distml.serve.deployment:build_app``) with the same overrides as ``args``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import polars as pl
import pyarrow as pa
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from distml.cluster.session import check_fits, current
from distml.config import ServeSettings, compose_settings
from distml.errors import UserError
from distml.serve.answers import ERROR, RULES, score_rows
from distml.serve.auth import authorized, token_from_environment
from distml.serve.log import RequestLog, check_log_columns
from distml.serve.model import Served, load_served, stamp_of
from distml.serve.rows import ARROW_TYPES, BadRequest, read_arrow_rows, read_json_rows

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
JSON_LIKE = ("", "application/x-www-form-urlencoded", "text/plain", "text/json")
"""Content types read as JSON (what clients send when they do not say)."""
logger = logging.getLogger("ray.serve")
INLINE_BYTES = 65_536
"""Bodies up to this size are read on the replica's event loop; larger ones in a thread."""


class Scorer:
    """One replica: the loaded model, the batch queue, the model follower and the request log."""

    def __init__(self, s: ServeSettings, log_dir: str | None) -> None:
        self.s, cfg = s, s.serve
        self.served: Served = load_served(s.model_run, cfg.threads)
        replica = serve.get_replica_context().replica_id.unique_id
        self.log = (
            RequestLog(log_dir, cfg.log_fraction, cfg.log_flush_s, cfg.log_flush_rows, replica)
            if log_dir
            else None
        )
        self.token = token_from_environment()
        self.counts = {"requests": 0, "rows_scored": 0, "rows_rejected": 0, "model_swaps": 0}
        self.follow_error: str | None = None
        self._batch.set_max_batch_size(cfg.max_batch_size)
        self._batch.set_batch_wait_timeout_s(cfg.batch_wait_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._background, daemon=True)
        self._thread.start()

    # -- the background thread ----------------------------------------------------------------

    def _background(self) -> None:
        cfg = self.s.serve
        tick = min(x for x in (cfg.follow_s or 1.0, cfg.log_flush_s, 1.0) if x > 0)
        last = time.monotonic()
        while not self._stop.wait(tick):
            if cfg.follow_s and time.monotonic() - last >= cfg.follow_s:
                last = time.monotonic()
                self._follow()
            if self.log is not None and self.log.due():
                self.log.flush()

    def _follow(self) -> None:
        """Load the model model_run now points at, if it changed; then swap it in."""
        if stamp_of(str(self.s.model_run)) == self.served.stamp:
            return
        try:
            new = load_served(self.s.model_run, self.s.serve.threads)
        except Exception as exc:  # a half-written or broken model: keep serving the old one
            self.follow_error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            return
        self.served, self.follow_error = new, None  # batches already started keep the old one
        self.counts["model_swaps"] += 1

    def __del__(self) -> None:
        self._stop.set()
        if self.log is not None:
            self.log.flush()

    # -- HTTP ---------------------------------------------------------------------------------

    async def __call__(self, request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")  # the route prefix Serve matched
        route = request.url.path[len(root) :].strip("/")
        routes = {"predict": "POST", "model": "GET", "healthz": "GET"}
        if route not in routes:
            return _error(404, f"No route '{request.url.path}'; the routes are {_routes(root)}.")
        if request.method != routes[route]:
            return _error(405, f"{request.url.path} takes {routes[route]}, not {request.method}.")
        if route != "healthz" and not authorized(request.headers.get("authorization"), self.token):
            return JSONResponse(
                {
                    "error": "This service needs a bearer token: send `Authorization: Bearer <token>`."
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if route == "model":
            return JSONResponse(self.served.info())
        if route == "healthz":
            return JSONResponse(self._health())
        try:
            return await self._predict(request)
        except BadRequest as exc:
            return _error(exc.status, exc.message)
        except Exception as exc:  # a bug: one line to the client, the traceback to the log
            logger.exception("distml serve: request failed")
            return _error(500, f"Internal error ({type(exc).__name__}); the replica's log has it.")

    def _health(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": "ok",
            "token_required": self.token is not None,
            "model_version": self.served.version,
            "fingerprint": self.served.fingerprint,
            **self.counts,
        }
        if self.log is not None:
            out["rows_logged"] = self.log.written + self.log.rows
        if self.follow_error:
            out["follow_error"] = self.follow_error
        return out

    async def _predict(self, request: Request) -> Response:
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if kind in JSON_LIKE:
            kind = "application/json"  # curl -d sends form-urlencoded
        if kind not in ("application/json", *ARROW_TYPES):
            raise BadRequest(
                415,
                f"Content-Type '{kind}' is not read here: send application/json (a list of row "
                "objects) or application/vnd.apache.arrow.stream (an Arrow IPC stream).",
            )
        body = await request.body()
        read = read_json_rows if kind == "application/json" else read_arrow_rows
        cfg, served = self.s.serve, self.served  # this request's model
        args = (body, served, cfg.max_request_rows, cfg.missing_columns)
        if len(body) <= INLINE_BYTES:
            frame, unknown = read(*args)
        else:
            frame, unknown = await asyncio.to_thread(read, *args)
        self.counts["requests"] += 1
        answers = await self._batch((served, frame)) if frame.height else pl.DataFrame()
        if ERROR in answers.columns and answers.get_column(ERROR).null_count() == answers.height:
            answers = answers.drop(ERROR, RULES)  # no row of this request broke the contract
        headers: dict[str, str] = {}
        if unknown:  # percent-encoded: a header is latin-1 text without line breaks
            headers["X-Distml-Ignored-Columns"] = ",".join(quote(n, safe="") for n in unknown)[
                :4000
            ]
        if any(t in request.headers.get("accept", "") for t in ARROW_TYPES):
            return Response(_arrow(answers), media_type=ARROW_TYPES[0], headers=headers)
        body = answers.write_json() if answers.width else "[]"
        return Response(body, media_type="application/json", headers=headers)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)
    async def _batch(self, items: list[tuple[Served, pl.DataFrame]]) -> list[pl.DataFrame]:
        return await asyncio.to_thread(self._score, items)

    def _score(self, items: list[tuple[Served, pl.DataFrame]]) -> list[pl.DataFrame]:
        """Score a batch: the requests read with the same model together (a request read
        before a swap is scored by the model it was read with)."""
        out: list[pl.DataFrame] = []
        i = 0
        while i < len(items):
            served = items[i][0]
            j = i
            while j < len(items) and items[j][0] is served:
                j += 1
            frames = [f for _, f in items[i:j]]
            rows = pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
            answers, scored = score_rows(served, rows, for_log=self.log is not None)
            bad = (
                0 if ERROR not in answers.columns else answers.height - answers[ERROR].null_count()
            )
            self.counts["rows_scored"] += answers.height - bad
            self.counts["rows_rejected"] += bad
            if self.log is not None and scored is not None:
                self.log.add(scored, served)
            start = 0
            for f in frames:
                out.append(answers.slice(start, f.height))
                start += f.height
            i = j
        return out


def _routes(root: str) -> str:
    return ", ".join(
        f"{m} {root}/{r}" for r, m in (("predict", "POST"), ("model", "GET"), ("healthz", "GET"))
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _arrow(answers: pl.DataFrame) -> bytes:
    """The answers as one Arrow IPC stream."""
    buf = io.BytesIO()
    table = answers.to_arrow()
    with pa.ipc.new_stream(buf, table.schema) as w:
        w.write_table(table)
    return buf.getvalue()


def application(s: ServeSettings, log_dir: str | None) -> Any:
    """The Serve application of these settings (bound, not yet running)."""
    cfg = s.serve
    options: dict[str, Any] = {
        "name": "Scorer",
        "ray_actor_options": {"num_cpus": cfg.replica_cpus},
        "max_ongoing_requests": cfg.max_ongoing_requests,
    }
    if cfg.autoscaling.enabled:
        a = cfg.autoscaling
        options["autoscaling_config"] = {
            "min_replicas": a.min_replicas,
            "max_replicas": a.max_replicas,
            "target_ongoing_requests": a.target_ongoing_requests,
        }
    else:
        options["num_replicas"] = cfg.replicas
    return serve.deployment(Scorer).options(**options).bind(s, log_dir)


def deploy(s: ServeSettings, log_dir: str | None) -> str:
    """Run the application on the session's Ray (started or joined on first use); its URL."""
    cfg = s.serve
    a = cfg.autoscaling
    replicas, key = (
        (a.min_replicas, "serve.autoscaling.min_replicas")
        if a.enabled
        else (cfg.replicas, "serve.replicas")
    )
    check_fits(max(replicas, 1), cfg.replica_cpus, key)  # starts or joins Ray
    quiet = {"log_level": "WARNING", "enable_access_log": False}  # no line per request
    try:
        serve.start(http_options={"host": cfg.host, "port": cfg.port}, logging_config=quiet)
        _same_port(cfg.port)
        serve.run(
            application(s, log_dir),
            name=cfg.app_name,
            route_prefix=cfg.route_prefix,
            logging_config=quiet,
        )
    except RuntimeError as exc:
        if "bind" not in str(exc).lower():
            raise
        raise UserError(
            f"Serve cannot listen on {cfg.host}:{cfg.port} (serve.host, serve.port): the port is "
            "taken. Stop what uses it or pick another with serve.port=..."
        ) from None
    return f"http://{cfg.host}:{cfg.port}{cfg.route_prefix.rstrip('/')}/"


def _same_port(port: int) -> None:
    """Serve's HTTP options are per cluster: a Serve already running elsewhere keeps its port."""
    try:
        running = serve.context._get_global_client().http_config.port  # no public getter
    except Exception:
        return
    if running != port:
        raise UserError(
            f"Ray Serve already runs on this cluster with its HTTP proxy on port {running}; "
            f"serve.port={port} cannot apply (Serve's HTTP options are per cluster). Set "
            f"serve.port={running} (with another serve.app_name and serve.route_prefix)."
        )


def undeploy(name: str) -> None:
    """Remove the application (its replicas write their request logs as they stop)."""
    serve.delete(name)


def serve_app(s: ServeSettings, log_dir: str | None, started: Callable[[str], None]) -> None:
    """``distml serve``: deploy; then, unless serve.detach, serve until SIGINT or SIGTERM and
    remove the application (and Serve, when this command started the Ray it runs on)."""
    if s.serve.detach and not s.cluster.address:
        raise UserError(
            "serve.detach=true leaves the application running on a cluster after the command "
            "returns; set cluster.address to that cluster (a local Ray stops with the command)."
        )
    url = deploy(s, log_dir)
    started(url)
    if s.serve.detach:
        return
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        undeploy(s.serve.app_name)
        if current().local:
            serve.shutdown()


def build_app(args: dict[str, Any]) -> Any:
    """The application builder for a RayService's ``serveConfigV2`` (``import_path:
    distml.serve.deployment:build_app``): ``args.overrides`` are ``distml serve``'s overrides, e.g.
    ``[model_run=/models/current, serve.log_fraction=0.01, serve.log_dir=/logs/requests]``."""
    overrides = list(args.get("overrides") or [])
    s = compose_settings("serve", overrides)
    served = load_served(s.model_run, s.serve.threads)  # fail at deploy time, in one paragraph
    log_dir = None
    if s.serve.log_fraction > 0:
        check_log_columns(served)
        if not s.serve.log_dir:
            raise UserError(
                "serve.log_fraction > 0 needs serve.log_dir under a RayService (there is no run "
                "directory): add serve.log_dir=<shared folder or URI> to the overrides."
            )
        log_dir = s.serve.log_dir
    return application(s, log_dir)
