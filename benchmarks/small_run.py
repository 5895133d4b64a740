"""The default `distml run` on its cached 1M-row synthetic dataset: wall time and where it goes.

    python benchmarks/small_run.py [--repeats 3]

In a scratch directory, `distml run` is run once to generate the data and fill the data-stage
cache (profile, sample, preprocess), then ``--repeats`` times each, alternating, as a user reruns
it (train, evaluate and report run again):
(a) distml's default, which runs a local run of at most cluster.threads_max_rows rows in this
    process (cluster.executor=auto -> threads);
(b) reference: the same command on a local Ray (cluster.executor=ray), how every run ran before.
Each run is a fresh `python -m distml run` process; wall time is measured around it. The
breakdown: ``startup`` (process start to the first stage: imports, Hydra, the data's metadata,
the label pass and, on Ray, starting Ray), each stage's seconds from run.json, and ``exit``
(the end of the last stage to the process's exit: the summary, and on Ray stopping it).
Writes benchmarks/results/small_run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write  # noqa: E402


def one_run(work: Path, executor: str, name: str) -> dict:
    out = work / name
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, "-m", "distml", "run", f"hydra.run.dir={out}"]
    t0_unix, t0 = time.time(), time.perf_counter()
    p = subprocess.run(
        [*cmd, f"cluster.executor={executor}"], cwd=work, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    end_unix = time.time()
    if p.returncode != 0:
        raise SystemExit(f"distml run failed ({p.returncode}):\n{p.stderr[-3000:]}")
    run = json.loads((out / "run.json").read_text())
    stages = run["stages"]
    timed = [s for s in stages.values() if not s.get("cached")]
    first = min(s["start_unix"] for s in timed)
    last = max(s["end_unix"] for s in timed)
    return {
        "wall_seconds": wall,
        "executor": run["executor"],
        "startup_seconds": first - t0_unix,
        "stage_seconds": {k: s["seconds"] for k, s in stages.items()},
        "exit_seconds": end_unix - last,
        "test_roc_auc": run["metrics"]["test"]["roc_auc"],
        "model_sha256": __import__("hashlib").sha256((out / "model.ubj").read_bytes()).hexdigest(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distml-bench-small-"))
    try:
        t0 = time.perf_counter()
        one_run(work, "auto", "first")  # generates the data, fills the data-stage cache
        first = time.perf_counter() - t0
        runs: dict[str, list[dict]] = {"threads": [], "ray": []}
        for i in range(a.repeats):
            for ex, key in (("auto", "threads"), ("ray", "ray")):
                runs[key].append(one_run(work, ex, f"{key}-{i}"))
                print(f"{key}: {runs[key][-1]['wall_seconds']:.1f} s", file=sys.stderr)

        def median(key: str) -> float:
            return statistics.median(r["wall_seconds"] for r in runs[key])

        result = {
            "benchmark": "small_run",
            "command": "distml run (defaults: 1M synthetic rows, cached data stages)",
            "cpus": os.cpu_count(),
            "first_run_seconds": first,
            "a_distml_default": runs["threads"],
            "b_reference_on_ray": runs["ray"],
            "median_wall_seconds": {"a": median("threads"), "b": median("ray")},
            "a_over_b": median("threads") / median("ray"),
            "same_model": len({r["model_sha256"] for rs in runs.values() for r in rs}) == 1,
            "goal_under_15_s": median("threads") < 15,
        }
        write("small_run", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
