"""Sweep trials as Ray tasks: at most ``max_concurrent`` at once, each a whole Hydra job (a
pipeline run) in a Ray worker. The ranking and the leaderboard are in distml/sweep.py."""

from __future__ import annotations

import os
import sys
from typing import Any

import cloudpickle

from distml.cluster.session import ray_session
from distml.config import ClusterConfig


def _run_trial(payload: bytes, cwd: str):
    """One trial inside a Ray worker: the launcher's working directory, then Hydra's run_job.

    The Hydra objects travel pickled inside ``payload``: they reference the hydra_plugins
    package, which is importable only once distml's plugins folder is on sys.path."""
    from hydra.core.utils import run_job, setup_globals

    from distml.config import register_configs

    register_configs()  # puts distml/plugins on sys.path
    hydra_context, task_function, config = cloudpickle.loads(payload)
    if os.path.isdir(cwd):
        os.chdir(cwd)
    os.environ["DISTML_TRIAL"] = "1"
    setup_globals()
    ret = run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    ret.hydra_cfg = None  # large and not needed by the launcher
    return ret


def run_trials(
    jobs: list[tuple[int, tuple]],
    cluster: ClusterConfig,
    max_concurrent: int,
    trial_cpus: float,
    cwd: str,
) -> dict[int, Any]:
    """Run ``(index, (hydra_context, task_function, config))`` trials; index -> its JobReturn,
    or the exception its process died with."""
    import ray

    trial = ray.remote(_run_trial)
    results: dict[int, Any] = {}
    with ray_session(cluster):
        pending: dict[Any, int] = {}
        queue = list(jobs)
        while queue or pending:
            while queue and len(pending) < max_concurrent:
                idx, objs = queue.pop(0)
                ref = trial.options(num_cpus=trial_cpus).remote(cloudpickle.dumps(objs), cwd)
                pending[ref] = idx
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                idx = pending.pop(ref)
                try:
                    results[idx] = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the trial's process failed: report it
                    results[idx] = exc
                print(
                    f"[sweep] trial {idx} finished ({len(results)}/{len(jobs)})",
                    file=sys.stderr,
                    flush=True,
                )
    return results
