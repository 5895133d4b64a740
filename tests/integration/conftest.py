"""Integration fixtures: one CLI pipeline run shared by the tests that inspect its outputs."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def distml(
    *args: str, check: bool = True, subprocess_: bool = False
) -> subprocess.CompletedProcess:
    """Run the CLI: through the console entry in this process (on the session's Ray, whose
    workers already hold the imports), or with ``subprocess_`` as ``python -m distml`` (for
    another cluster, another environment, or the process's own exit)."""
    if subprocess_:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        p = subprocess.run(
            [sys.executable, "-m", "distml", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
    else:
        p = _in_process(list(args))
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return p


def _in_process(args: list[str]) -> subprocess.CompletedProcess:
    from distml.cli import main

    out, err, argv = io.StringIO(), io.StringIO(), sys.argv[:]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def screenshot(page: Path, tmp_path: Path, height: int = 2400):
    """``page`` rendered by headless Chromium from the file alone (no network) at 1280 px wide:
    the screenshot as an RGB float array."""
    from matplotlib import image

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    # a real component: missing, the test fails (.ci/run installs Debian's chromium)
    assert browser, "needs Debian's chromium on PATH (apt-get install chromium; .ci/run does it)"
    shot = tmp_path / f"{page.stem}.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            f"--window-size=1280,{height}",
            f"file://{page}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return image.imread(str(shot))[..., :3]


@pytest.fixture
def on_session_ray(small_data, ray_local) -> list[str]:
    """The overrides of a run on the test data and the session's Ray."""
    address = ray_local.get_runtime_context().gcs_address
    return [f"data.path={small_data}", f"cluster.address={address}"]


RUN_OVERRIDES = (
    "sampling.size=20000",
    "model.num_boost_round=60",
    "model.checkpoint_every=20",
    "eval.slices=[region,device]",
    "eval.min_slice_size=200",
    "eval.bootstrap=50",
    'eval.gates=["roc_auc>=0.8","recall>=0.999"]',
)
"""The session's run (``run_dir``) beyond its data, cluster and directory."""


@pytest.fixture(scope="session")
def run_dir(small_data, ray_local, tmp_path_factory):
    """`distml run` on the session's Ray: 20k-row sample, slices on region and device, and a
    model gate that fails (recall >= 0.999), so the run writes everything and exits with 3."""
    out = tmp_path_factory.mktemp("run") / "r"
    address = ray_local.get_runtime_context().gcs_address
    p = distml(
        "run",
        f"data.path={small_data}",
        f"cluster.address={address}",
        f"hydra.run.dir={out}",
        *RUN_OVERRIDES,
        check=False,
    )
    assert p.returncode == 3, p.stderr[-3000:]
    assert "The model gate failed on test: recall=" in p.stderr and "Traceback" not in p.stderr
    (out.parent / "stdout.txt").write_text(p.stdout)  # what the user saw
    (out.parent / "stderr.txt").write_text(p.stderr)
    return out


@pytest.fixture(scope="session")
def ray_nodes():
    """A real Ray cluster of `ray start` processes: a head (2 CPUs, dashboard and Jobs API); tests
    add worker nodes. Stopped by process group and temp dir: only what it started."""
    from tests.raycluster import RayNodes

    cluster = RayNodes(head_cpus=2)
    try:
        yield cluster
    finally:
        cluster.stop()
