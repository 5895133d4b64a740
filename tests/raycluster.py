"""A real multi-node Ray cluster on this machine: `ray start` processes, each node a raylet of its
own, started in their own process groups so the tests can kill one node and stop exactly what they
started (never `ray stop`, which ends every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    """A free TCP port outside Ray's worker port range (10002-19999)."""
    for _ in range(200):
        port = random.randint(20000, 29999)
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class RayNodes:
    """A head (with dashboard and Jobs API) and worker nodes started with `ray start --block`."""

    def __init__(self, head_cpus: int = 2) -> None:
        from distml.cluster.session import configure_auth

        configure_auth()  # a head started where a token exists requires it from every client
        # short: Ray's unix sockets live under the temp dir and their paths are length-limited
        self.temp_dir = tempfile.mkdtemp(prefix="dmlray-", dir="/tmp")
        self.logs = Path(self.temp_dir + "-logs")
        self.logs.mkdir()
        self.port = free_port()
        self.dashboard_port = free_port()
        self.procs: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            # a job's `python` is the first on the head's PATH: this venv's
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            # a killed node is declared dead after ~3 s instead of ~30 s
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
            "RAY_health_check_initial_delay_ms": "1000",
        }
        self.address = ""
        self.head = self._start(
            [
                "--head",
                f"--num-cpus={head_cpus}",
                f"--port={self.port}",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.dashboard_port}",
                f"--dashboard-agent-listen-port={free_port()}",
                f"--ray-client-server-port={free_port()}",
            ],
            "head",
        )
        self.address = self._wait_for_address()
        self._wait_for_nodes(1)

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the node
        p = subprocess.Popen(
            [
                RAY,
                "start",
                *args,
                f"--temp-dir={self.temp_dir}",
                f"--dashboard-agent-grpc-port={free_port()}",
                f"--runtime-env-agent-port={free_port()}",
                f"--metrics-export-port={free_port()}",
                "--disable-usage-stats",
                "--block",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killpg ends the node
            env=self.env,
        )
        self.procs.append(p)
        return p

    def _wait_for_address(self, timeout: float = 120) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = (self.logs / "head.log").read_text()
            m = re.search(r"--address='([^']+)'", text)
            if m:
                return m.group(1)
            if self.head.poll() is not None:
                raise RuntimeError(f"ray start --head failed:\n{text[-3000:]}")
            time.sleep(0.5)
        raise RuntimeError("ray start --head did not come up")

    def alive_nodes(self) -> list[dict]:
        code = (
            "import json, sys, ray; ray.init(address=sys.argv[1], logging_level='ERROR'); "
            "print('NODES=' + json.dumps([{'id': n['NodeID'], 'cpus': n['Resources'].get('CPU', 0)} "
            "for n in ray.nodes() if n['Alive']]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, self.address], capture_output=True, text=True, timeout=120
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("NODES=")]
        return json.loads(lines[-1].removeprefix("NODES=")) if lines else []

    def _wait_for_nodes(self, n: int, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.alive_nodes()) == n:
                return
            time.sleep(1)
        raise RuntimeError(f"the cluster did not reach {n} alive nodes")

    def add_worker(self, cpus: int = 2) -> subprocess.Popen:
        before = len(self.alive_nodes())
        name = f"worker{len(self.procs)}"
        p = self._start([f"--address={self.address}", f"--num-cpus={cpus}"], name)
        self._wait_for_nodes(before + 1)
        return p

    def kill(self, node: subprocess.Popen, timeout: float = 120) -> None:
        """Kill a node at once (its raylet and every worker process on it), then wait until the
        cluster has declared it dead."""
        before = len(self.alive_nodes())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)
        node.wait()
        deadline = time.time() + timeout
        while len(self.alive_nodes()) >= before and time.time() < deadline:
            time.sleep(0.5)

    def stop(self) -> None:
        for p in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
        # processes that left the group but belong to this cluster name its temp dir
        for proc in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(self.temp_dir in a for a in proc.info["cmdline"] or []):
                    proc.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)
