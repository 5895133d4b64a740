"""Shared fixtures: one local Ray per test session (num_cpus=2), small generated datasets."""

from __future__ import annotations

import os

from distml.cluster.session import configure_auth

configure_auth()  # before anything imports ray: a token on this machine means the head requires it

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI explores the same examples every run (a failure there is reproducible); locally they vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


_PG: dict = {}
PG_VARS = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


def pytest_collection_modifyitems(session, config, items):
    """Marks tests/integration/ as ``integration``. Without PG* variables, a throwaway PostgreSQL server (tests/postgres.sh on a free port)
    for the database tests, started here, before any fixture starts Ray: Ray's workers inherit
    the variables. Debian's postgresql package missing: those tests fail, naming it."""
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    if os.environ.get("PGHOST") or not any("postgres_table" in i.fixturenames for i in items):
        return
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DISTML_TEST_PGDATA": f"/tmp/distml-test-pg-{os.getpid()}"}
    env["DISTML_TEST_PGPORT"] = str(port)
    script = os.path.join(os.path.dirname(__file__), "postgres.sh")
    p = subprocess.run(["bash", script, "start"], capture_output=True, text=True, env=env)
    if p.returncode != 0:  # the tests that need it fail on PGHOST, with this reason
        print(f"tests/postgres.sh start failed: {p.stderr.strip()}")
        return
    _PG.update(script=script, env=env, saved={k: os.environ.get(k) for k in PG_VARS})
    for kv in p.stdout.split()[1:]:  # export K=V ...
        k, v = kv.split("=", 1)
        os.environ[k] = v


def pytest_unconfigure(config):
    if _PG:
        import subprocess

        subprocess.run(["bash", _PG["script"], "stop"], capture_output=True, env=_PG["env"])
        for k, v in _PG["saved"].items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _PG.clear()


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def small_data(tmp_path_factory, ray_local) -> str:
    """60k generated rows in 6 files (row groups of 5k rows), 5% positives."""
    from distml.config import SyntheticConfig
    from distml.synthetic import generate

    out = str(tmp_path_factory.mktemp("data") / "small")
    generate(
        SyntheticConfig(rows=60_000, shards=6, positive_rate=0.05, row_group_rows=5_000), 7, out
    )
    return out


os.environ.setdefault("RAY_DEDUP_LOGS", "1")
# each test's runs compute their own data stages; the cache tests turn it on by override
os.environ.setdefault("DISTML_CACHE", "false")
