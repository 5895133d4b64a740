"""The learning curve against separate runs: `distml curve` at 6 sizes against 6 `distml run`.

    python benchmarks/curve.py --rows 10000000 --shards 40

distml curve: one profile and one sample of the generated data (sized so that its train split
holds the largest size), the nested training sets, then the 6 models trained 2 at a time (1 worker
of 1 CPU each) and scored on the same test rows.
Reference: the same 6 sizes as 6 separate `distml run` calls (sampling.size = size / 0.7 + 100,
2 workers of 1 CPU), each profiling and sampling the whole population again; their test metric
is on their own (smaller) test split. Both sides run the CLI as a user would, with the same
model settings and the data-stage cache off. Writes benchmarks/results/curve.json and the
curve's plot, benchmarks/results/curve.png; the data and runs are deleted unless --keep.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, generate_data, write  # noqa: E402

SIZES = [10_000, 25_119, 63_096, 158_489, 398_107, 1_000_000]
MODEL = ["model.num_boost_round=100", "model.checkpoint_every=50", "cache.enabled=false"]


def cli(*args: str) -> float:
    """``python -m distml <args>``; its wall seconds (stderr kept in a log next to the run)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "distml", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    run_dir = next(a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir="))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "bench.log").write_text(p.stdout + p.stderr)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit(f"distml {args[0]} failed (exit {p.returncode})")
    return seconds


def stage_seconds(run_dir: Path) -> dict[str, float]:
    run = json.loads((run_dir / "run.json").read_text())
    return {k: v["seconds"] for k, v in run["stages"].items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--shards", type=int, default=40)
    ap.add_argument("--work", default=str(Path(__file__).resolve().parent / "data-curve"))
    ap.add_argument("--keep", action="store_true", help="keep the data and the runs")
    a = ap.parse_args()
    work = Path(a.work)
    data = work / "data"
    if not data.exists():
        gen = generate_data(a.rows, a.shards, str(data))
        print(f"generated {a.rows:,} rows in {gen['seconds']:.0f} s", file=sys.stderr)
    common = [f"data.path={data}", *MODEL]
    sizes = "curve.sizes=[" + ",".join(map(str, SIZES)) + "]"
    curve_dir = work / "curve_run"
    shutil.rmtree(curve_dir, ignore_errors=True)
    curve_s = cli(
        "curve", *common, sizes, "curve.workers_per_trial=1", f"hydra.run.dir={curve_dir}"
    )
    c = json.loads((curve_dir / "curve.json").read_text())
    print(f"curve: {curve_s:.0f} s", file=sys.stderr)

    separate = []
    for n in SIZES:
        d = work / f"run_{n}"
        shutil.rmtree(d, ignore_errors=True)
        size = math.ceil(n / 0.7) + 100
        s = cli("run", *common, f"sampling.size={size}", f"hydra.run.dir={d}")
        m = json.loads((d / "metrics.json").read_text())["test"]
        run = json.loads((d / "run.json").read_text())
        separate.append(
            {
                "train_rows": run["stages"]["train"]["rows"],
                "sampling.size": size,
                "seconds": round(s, 1),
                "stages": stage_seconds(d),
                "test_rows": m["rows"],
                c["metric"]: m[c["metric"]],
            }
        )
        print(f"run {n:,}: {s:.0f} s", file=sys.stderr)
    total = sum(r["seconds"] for r in separate)
    result = {
        "rows": a.rows,
        "cpus": os.cpu_count(),
        "sizes": SIZES,
        "model": MODEL,
        "curve": {
            "seconds": round(curve_s, 1),
            "stages": stage_seconds(curve_dir),
            "metric": c["metric"],
            "points": [
                {
                    k: p[k]
                    for k in ("train_rows", c["metric"], "interval", "train_seconds", "rounds")
                }
                for p in c["points"]
            ],
            "fit": c["fit"],
            "extrapolated": c["extrapolated"],
            "recommendation": c["recommendation"],
            "plot": str(RESULTS / "curve.png"),
        },
        "separate_runs": {"seconds": round(total, 1), "runs": separate},
        "speedup": round(total / curve_s, 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(curve_dir / "plots" / "curve.png", RESULTS / "curve.png")
    write("curve", result)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
