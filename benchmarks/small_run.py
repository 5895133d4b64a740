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

Imports: one more run of (a) under ``python -X importtime``: the seconds spent importing (the sum
of every module's own time), how many modules, and Ray's share (modules named ``ray``/``ray.*``
and the cumulative time of the top-level ``import ray``), i.e. whether the in-process path loads
Ray at all.

    python benchmarks/small_run.py --baseline /path/to/older/checkout

also runs (a) and the import measurement with that checkout's ``distml`` first on PYTHONPATH
(the same data and cache), alternating with this one: the figures before and after a change.
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


def _env(code: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    if code:  # another checkout's distml first on the path (subprocesses inherit it)
        env["PYTHONPATH"] = os.pathsep.join([code, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def one_run(work: Path, executor: str, name: str, code: str | None = None) -> dict:
    out = work / name
    cmd = [sys.executable, "-m", "distml", "run", f"hydra.run.dir={out}"]
    t0_unix, t0 = time.time(), time.perf_counter()
    p = subprocess.run(
        [*cmd, f"cluster.executor={executor}"],
        cwd=work,
        env=_env(code),
        capture_output=True,
        text=True,
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


def import_times(work: Path, name: str, code: str | None = None) -> dict:
    """`distml run` (default executor) under -X importtime: seconds importing, Ray's share."""
    out = work / name
    cmd = [sys.executable, "-X", "importtime", "-m", "distml", "run", f"hydra.run.dir={out}"]
    p = subprocess.run(cmd, cwd=work, env=_env(code), capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"distml run failed ({p.returncode}):\n{p.stderr[-3000:]}")
    own: dict[str, int] = {}
    ray_cumulative = 0
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cum_us, mod = (x.strip() for x in line[12:].split("|"))
        if not self_us.isdigit():
            continue  # the header line
        own[mod] = int(self_us)
        if mod == "ray":
            ray_cumulative = int(cum_us)
    ray_mods = [m for m in own if m == "ray" or m.startswith("ray.")]
    return {
        "import_seconds": sum(own.values()) / 1e6,
        "modules": len(own),
        "ray_loaded": bool(ray_mods),
        "ray_modules": len(ray_mods),
        "ray_import_cumulative_seconds": ray_cumulative / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default=None, help="an older checkout to compare (a) with")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="distml-bench-small-"))
    try:
        t0 = time.perf_counter()
        one_run(work, "auto", "first")  # generates the data, fills the data-stage cache
        first = time.perf_counter() - t0
        runs: dict[str, list[dict]] = {"threads": [], "ray": []}
        imports: dict[str, list[dict]] = {"this": []}
        code = {"threads": None, "ray": None, "baseline": a.baseline}
        ex = {"threads": "auto", "ray": "ray", "baseline": "auto"}
        if a.baseline:
            runs["baseline"], imports["baseline"] = [], []
        for i in range(a.repeats):
            for key in runs:
                runs[key].append(one_run(work, ex[key], f"{key}-{i}", code[key]))
                print(f"{key}: {runs[key][-1]['wall_seconds']:.1f} s", file=sys.stderr)
            for key in imports:
                imports[key].append(import_times(work, f"imports-{key}-{i}", code.get(key)))
                print(f"imports {key}: {imports[key][-1]}", file=sys.stderr)

        def median(key: str) -> float:
            return statistics.median(r["wall_seconds"] for r in runs[key])

        result = {
            "benchmark": "small_run",
            "command": "distml run (defaults: 1M synthetic rows, cached data stages)",
            "cpus": os.cpu_count(),
            "first_run_seconds": first,
            "a_distml_default": runs["threads"],
            "b_reference_on_ray": runs["ray"],
            "cached_data_stages": True,
            "median_wall_seconds": {"a": median("threads"), "b": median("ray")},
            "a_over_b": median("threads") / median("ray"),
            "same_model": len({r["model_sha256"] for rs in runs.values() for r in rs}) == 1,
            "goal_under_15_s": median("threads") < 15,
            "imports": imports,
            "median_import_seconds": {
                k: statistics.median(r["import_seconds"] for r in v) for k, v in imports.items()
            },
        }
        if a.baseline:
            result["baseline"] = {"code": a.baseline, "runs": runs["baseline"]}
            result["median_wall_seconds"]["baseline"] = median("baseline")
        write("small_run", result)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
