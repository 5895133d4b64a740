"""Data and run outputs on an S3-compatible server (moto, started on loopback by the test)
through pyarrow filesystems; credentials only from the environment, never in the saved config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pyarrow.fs as pafs
import pytest

from tests.raycluster import free_port

SECRET = "s3cr3t-Value-never-saved"


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            assert server.poll() is None and time.time() < deadline, "moto server did not start"
            time.sleep(0.3)
    env = {
        "AWS_ACCESS_KEY_ID": "distml-test",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    fs, _ = pafs.FileSystem.from_uri("s3://distml-test?allow_bucket_creation=true")
    fs.create_dir("distml-test")
    try:
        yield env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.terminate()
        server.wait(timeout=20)


def _cli(*args: str) -> subprocess.CompletedProcess:
    # the CLI's own local Ray: its workers inherit the credentials from this environment
    p = subprocess.run(
        [sys.executable, "-m", "distml", *args, "cluster.num_cpus=2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-4000:]
    assert SECRET not in p.stdout + p.stderr
    return p


def test_pipeline_reads_and_writes_s3(s3_env, tmp_path):
    data = "s3://distml-test/events"
    _cli("generate", f"data.path={data}", "synthetic.rows=20000", "synthetic.shards=4")
    s3, _ = pafs.FileSystem.from_uri(data)
    parts = s3.get_file_info(pafs.FileSelector("distml-test/events"))
    assert len([p for p in parts if p.path.endswith(".parquet")]) == 4

    run = tmp_path / "run"
    _cli(
        "run",
        f"data.path={data}",
        f"hydra.run.dir={run}",
        "pipeline.output_uri=s3://distml-test/runs/r1",
        "sampling.size=10000",
        "model.num_boost_round=20",
        "model.checkpoint_every=10",
        "eval.bootstrap=0",
    )
    got = {
        i.path.removeprefix("distml-test/runs/r1/")
        for i in s3.get_file_info(pafs.FileSelector("distml-test/runs/r1", recursive=True))
    }
    for f in ("model.ubj", "metrics.json", "run.json", "report.html", ".hydra/config.yaml"):
        assert f in got, sorted(got)[:40]
    assert "train/checkpoints/model-000020.ubj" in got  # written to S3 while training
    assert any(g.startswith("features/train/") and g.endswith(".parquet") for g in got)
    # no secret in anything saved, locally or in the bucket
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json", ".html", ".log"):
            assert SECRET not in path.read_text(errors="ignore"), path
    with s3.open_input_stream("distml-test/runs/r1/.hydra/config.yaml") as f:
        assert SECRET not in f.read().decode()
    with s3.open_input_stream("distml-test/runs/r1/run.json") as f:
        train = json.loads(f.read())["stages"]["train"]
    # the local Ray the CLI started: both its CPUs to the one training worker
    assert (train["workers"], train["cpus_per_worker"], train["nthread"]) == (1, 2, 2), train
