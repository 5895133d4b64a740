"""`distml submit` against a real cluster: a `ray start` head plus a worker node (separate
raylets), through Ray's Jobs API, with token authentication where this machine has a token."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time

import pytest

from tests.integration.conftest import distml


@pytest.fixture(scope="module")
def two_nodes(ray_nodes):
    worker = ray_nodes.add_worker(cpus=2)
    yield ray_nodes
    ray_nodes.kill(worker)


def test_submit_runs_the_pipeline_on_both_nodes(small_data, two_nodes, tmp_path):
    run = tmp_path / "job-run"
    p = distml(
        "submit",
        f"cluster.address={two_nodes.dashboard}",
        f"data.path={small_data}",
        f"hydra.run.dir={run}",
        "sampling.size=20000",
        "model.num_boost_round=30",
        "eval.bootstrap=0",
        "cluster.num_workers=2",
    )
    job_id = re.search(r"submitted job (\S+)", p.stderr).group(1)
    assert f"job {job_id} SUCCEEDED" in p.stderr
    assert "[train] done" in p.stdout  # the job's log, streamed
    for f in ("model.ubj", "metrics.json", "report.html", "run.json"):
        assert (run / f).is_file(), f
    stages = json.loads((run / "run.json").read_text())["stages"]
    # shard tasks ran on both nodes of the cluster (the first stage's
    # tasks may all land on the head while the worker node unpacks the job's working dir)
    used = {n for st in stages.values() for n in st.get("nodes", [])}
    assert len(used) == 2, {k: v.get("nodes") for k, v in stages.items()}
    saved = (run / ".hydra" / "config.yaml").read_text()
    assert "RAY_AUTH_TOKEN" not in saved and "auth_token" not in saved

    status = distml("submit", "status", job_id, f"cluster.address={two_nodes.dashboard}")
    assert "SUCCEEDED" in status.stdout
    logs = distml("submit", "logs", job_id, f"cluster.address={two_nodes.dashboard}")
    assert "[evaluate] done" in logs.stdout


def _drivers(run_dir) -> list:
    """The processes of a job's driver: those whose command line names its run directory."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(run_dir) in a for a in proc.info["cmdline"] or []):
                found.append(proc)
    return found


def _wait_for(job_id: str, address: str, state: str, seconds: float = 120) -> str:
    deadline = time.time() + seconds
    s = ""
    while time.time() < deadline:
        s = distml("submit", "status", job_id, f"cluster.address={address}").stdout
        if state in s:
            break
        time.sleep(1)
    return s


def test_submit_stop_a_running_job(small_data, two_nodes, tmp_path):
    """A running job stopped through the Jobs API ends: its status is STOPPED and its driver
    process (and with it the training actors it owns) is gone."""
    run = tmp_path / "stopped"
    p = distml(
        "submit",
        "--no-wait",
        f"cluster.address={two_nodes.dashboard}",
        f"data.path={small_data}",
        f"hydra.run.dir={run}",
        "model.num_boost_round=100000",
        "model.early_stopping_rounds=null",
    )
    job_id = p.stdout.strip().splitlines()[-1]
    assert "RUNNING" in _wait_for(job_id, two_nodes.dashboard, "RUNNING")
    deadline = time.time() + 120
    while not (run / "run.json").exists() and time.time() < deadline:  # the driver is at work
        time.sleep(0.5)
    stop = distml("submit", "stop", job_id, f"cluster.address={two_nodes.dashboard}")
    assert "stopping" in stop.stdout
    assert "STOPPED" in _wait_for(job_id, two_nodes.dashboard, "STOPPED", 60)
    deadline = time.time() + 30
    while _drivers(run) and time.time() < deadline:
        time.sleep(0.5)
    left = _drivers(run)
    for proc in left:  # this test's own driver: do not let it hold the cluster's CPUs
        with contextlib.suppress(Exception):
            proc.kill()
    assert not left, f"the stopped job's driver still runs: {[p.pid for p in left]}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["cluster.address=auto"], "needs the Ray dashboard's URL"),
        (
            ["cluster.address=http://127.0.0.1:1", "sampling.sise=3"],
            "Key 'sise' not in 'SamplingConfig'",
        ),
        (["cluster.address=http://127.0.0.1:{closed}"], "Cannot reach the Ray Jobs API"),
        (["status"], "needs a job id"),
    ],
)
def test_submit_errors_are_one_paragraph(args, says):
    import socket

    # A port bound here but never listened on refuses connections, and no other process
    # (a Ray worker, the session's dashboard) can take it while the command runs.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        args = [a.format(closed=held.getsockname()[1]) for a in args]
        p = distml("submit", *args, check=False)
    assert p.returncode == 2, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("distml: error:"), p.stderr
    assert says in lines[0] and "Traceback" not in p.stdout + p.stderr


def test_submit_without_the_token_says_what_to_do(two_nodes, tmp_path):
    if not _token_required():
        pytest.skip("this machine's head runs without token authentication")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "distml", "submit", f"cluster.address={two_nodes.dashboard}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 2, p.stderr[-2000:]
    assert "requires token authentication" in p.stderr and "auth_token" in p.stderr
    assert "Traceback" not in p.stderr


def _token_required() -> bool:
    from pathlib import Path

    return bool(os.environ.get("RAY_AUTH_TOKEN")) or (Path.home() / ".ray" / "auth_token").is_file()
