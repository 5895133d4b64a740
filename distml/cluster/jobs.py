"""``distml submit``: run the pipeline as a Ray Job on a cluster, through Ray's Jobs API.

    distml submit cluster.address=http://HEAD:8265 data.path=s3://bucket/events [overrides]
    distml submit status|logs|stop JOB_ID cluster.address=http://HEAD:8265

The project folder (distml/ and conf/) is shipped as the job's working directory; the job runs
``python -m distml run <overrides> cluster.address=null``, which joins the job's own cluster.
Logs are streamed until the job ends; the exit status is the job's (0 when SUCCEEDED, the
pipeline's own code when it failed, e.g. 3 for a failed gate). Nothing from the local
environment is sent unless named with ``--env NAME`` (e.g. storage credentials), and no secret
is ever written into the run's saved config.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from pathlib import Path

from distml.config import conf_dir
from distml.errors import UserError

EXCLUDES = [  # gitignore syntax: a leading / anchors at the project root (conf/data/ must go)
    "/.venv/",
    "/.git/",
    "/data/",
    "/outputs/",
    "/multirun/",
    "/benchmarks/results/",
    "/benchmarks/data-*/",
    "/benchmarks/distml-bench-*/",
    "/.distml-cache/",
    "/.hypothesis/",
    "/.pytest_cache/",
    "/.ruff_cache/",
    "*.parquet",
    "__pycache__/",
]
ACTIONS = ("status", "logs", "stop")


def _address(overrides: list[str]) -> str:
    given = [o.split("=", 1)[1] for o in overrides if o.startswith("cluster.address=")]
    address = given[-1] if given else os.environ.get("RAY_ADDRESS", "")
    if not address.startswith(("http://", "https://")):
        raise UserError(
            "distml submit needs the Ray dashboard's URL: pass cluster.address=http://HEAD:8265 "
            "(or set RAY_ADDRESS to it). The Jobs API is served by the dashboard of a head "
            "started with `ray start --head` (ray[default] installed)."
            + (f" Got cluster.address='{address}'." if address else "")
        )
    return address


def _client(address: str):
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # noqa: BLE001 - connection and auth failures, reported as one
        text = str(exc)
        if "401" in text or "403" in text or "auth" in text.lower() or "token" in text.lower():
            raise UserError(
                f"The Ray cluster at {address} requires token authentication and "
                + (
                    "rejected the token distml found. "
                    if os.environ.get("RAY_AUTH_MODE") == "token"
                    else "no token was found. "
                )
                + "Copy the head node's ~/.ray/auth_token to ~/.ray/auth_token here, or set "
                "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to it; distml then sets "
                "RAY_AUTH_MODE=token. See docs/cluster.md, 'Token authentication and TLS'."
            ) from exc
        raise UserError(
            f"Cannot reach the Ray Jobs API at cluster.address={address}: "
            f"{text.strip().splitlines()[0] if text.strip() else type(exc).__name__}. Check the "
            "URL (the dashboard's, port 8265 by default) and that the head is running."
        ) from exc


def _job_args(overrides: list[str], forward: list[str]) -> tuple[str, dict]:
    root = str(Path(conf_dir()).parent)
    run_overrides = [o for o in overrides if not o.startswith("cluster.address=")]
    entrypoint = shlex.join(
        ["python", "-m", "distml", "run", *run_overrides, "cluster.address=null"]
    )
    missing = [n for n in forward if n not in os.environ]
    if missing:
        raise UserError(
            f"--env names {', '.join(missing)}, which the environment does not set. Set them, "
            "or drop --env for them."
        )
    env = {"PYTHONUNBUFFERED": "1", **{n: os.environ[n] for n in forward}}
    runtime_env = {"working_dir": root, "excludes": EXCLUDES, "env_vars": env}
    return entrypoint, runtime_env


async def _tail(client, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        print(lines, end="", flush=True)


def _finish(client, job_id: str) -> int:
    from ray.job_submission import JobStatus

    while True:
        info = client.get_job_info(job_id)
        if JobStatus(info.status).is_terminal():
            break
        time.sleep(0.5)
    status = JobStatus(info.status)
    print(f"distml: job {job_id} {status.value}", file=sys.stderr, flush=True)
    if status == JobStatus.SUCCEEDED:
        return 0
    code = getattr(info, "driver_exit_code", None)
    if info.message:
        print(f"distml: {info.message.strip()}", file=sys.stderr)
    return code if isinstance(code, int) and code > 0 else 1


def split_args(args: list[str]) -> tuple[list[str], list[str], bool]:
    """(overrides and actions, the --env names, whether to wait) from submit's arguments."""
    forward, rest, wait = [], [], True
    it = iter(args)
    for a in it:
        if a == "--env":
            forward.append(next(it, ""))
        elif a == "--no-wait":
            wait = False
        else:
            rest.append(a)
    return rest, forward, wait


def main(args: list[str]) -> int:
    """``distml submit [overrides] [--env NAME]... [--no-wait]`` or ``submit status|logs|stop
    JOB_ID``; the overrides were checked by the CLI. Returns the exit code."""
    rest, forward, wait = split_args(args)
    action = rest[0] if rest and rest[0] in ACTIONS else None
    if action:
        ids = [a for a in rest[1:] if "=" not in a]
        if len(ids) != 1:
            raise UserError(
                f"`distml submit {action}` needs a job id (got {len(ids)}): write "
                f"`distml submit {action} JOB_ID cluster.address=http://HEAD:8265`."
            )
        client = _client(_address(rest[1:]))
        job_id = ids[0]
        try:
            if action == "status":
                return _status(client, job_id)
            if action == "logs":
                print(client.get_job_logs(job_id), end="")
                return 0
            stopped = client.stop_job(job_id)
            print(f"distml: job {job_id} {'stopping' if stopped else 'was not running'}")
            return 0
        except RuntimeError as exc:
            raise UserError(f"Ray Jobs API: {str(exc).strip().splitlines()[0]}") from exc
    address = _address(rest)
    client = _client(address)
    entrypoint, runtime_env = _job_args(rest, forward)
    job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
    print(f"distml: submitted job {job_id}", file=sys.stderr, flush=True)
    print(
        f"distml: follow it with `distml submit logs {job_id} cluster.address=...`, stop it with "
        f"`distml submit stop {job_id} cluster.address=...`",
        file=sys.stderr,
        flush=True,
    )
    if not wait:
        print(job_id)
        return 0
    try:
        asyncio.run(_tail(client, job_id))
    except KeyboardInterrupt:
        print(
            f"\ndistml: stopped following; job {job_id} keeps running "
            f"(`distml submit stop {job_id} cluster.address=...` ends it)",
            file=sys.stderr,
        )
        return 130
    return _finish(client, job_id)


def _status(client, job_id: str) -> int:
    info = client.get_job_info(job_id)
    print(f"{job_id} {info.status}" + (f": {info.message}" if info.message else ""))
    return 0
