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


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


os.environ.setdefault("RAY_DEDUP_LOGS", "1")
# each test's runs compute their own data stages; the cache tests turn it on by override
os.environ.setdefault("DISTML_CACHE", "false")
