"""``distml serve`` before Ray starts: the model loads, the request log can be written."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from distml.artifacts import write_json
from distml.config import ServeSettings
from distml.errors import UserError
from distml.progress import say
from distml.serve.auth import TOKEN_ENV, token_from_environment
from distml.serve.log import check_log_columns
from distml.serve.model import load_served


def prepare_serve(
    s: ServeSettings, run_dir: str
) -> tuple[ServeSettings, str | None, Callable[[str], None]]:
    """``distml serve`` before Ray: check that the model loads and can be logged; the settings
    the replicas get (model_run absolute), the request log's folder, and what to do once the
    application is up (write serve.json, say where it serves). The CLI then runs
    ``serve.deployment.serve_app`` with them."""
    if s.cluster.executor == "threads":
        raise UserError(
            "distml serve runs its replicas on Ray Serve, and cluster.executor=threads asks to "
            "run without Ray. Drop cluster.executor (or set it to auto or ray)."
        )
    token = token_from_environment()
    if token == "":
        raise UserError(
            f"{TOKEN_ENV} is set but empty: no request could be let in. Set it to the token "
            "clients send (Authorization: Bearer <token>), or unset it to serve without one."
        )
    if token is not None and (s.cluster.address or os.environ.get("RAY_ADDRESS")):
        say(
            "serve",
            f"WARNING: {TOKEN_ENV} is set here, but the replicas run on the Ray cluster at "
            f"{s.cluster.address or os.environ.get('RAY_ADDRESS')}: they read it from their own "
            "environment (set it on the Ray nodes); /healthz says token_required",
        )
    served = load_served(s.model_run, s.serve.threads)
    # replicas may start in another working directory: the path as given (a link stays a link)
    s = replace(s, model_run=os.path.abspath(str(s.model_run)))
    log_dir = None
    if s.serve.log_fraction > 0:
        check_log_columns(served)
        log_dir = s.serve.log_dir or os.path.abspath(os.path.join(run_dir, "requests"))
    os.makedirs(run_dir, exist_ok=True)

    def started(url: str) -> None:
        info = {"model": served.info(), "log_dir": log_dir, "serve": {"url": url}}
        write_json(os.path.join(run_dir, "serve.json"), info)
        cfg = s.serve
        scale = (
            f"{cfg.autoscaling.min_replicas}-{cfg.autoscaling.max_replicas} replicas"
            if cfg.autoscaling.enabled
            else f"{cfg.replicas} replica(s)"
        )
        print(f"serving {s.model_run} at {url}predict ({scale})", flush=True)

    return s, log_dir, started
