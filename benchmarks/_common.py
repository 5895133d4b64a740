"""Helpers shared by the benchmark scripts: memory sampling, subprocess runs, JSON output."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


class TreeMemory:
    """Samples the memory of this process and all its descendants (Ray's raylet and workers).

    ``peak`` sums RSS (shared pages, e.g. the object store and libraries, counted once per
    process: an overstatement); ``peak_pss`` sums PSS, which splits shared pages between the
    processes that map them: the physical memory the tree uses.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = pss = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    info = p.memory_full_info()
                    total += info.rss
                    pss += getattr(info, "pss", info.rss)
            self.peak = max(self.peak, total)
            self.peak_pss = max(self.peak_pss, pss)
            time.sleep(self.interval)

    def __enter__(self) -> TreeMemory:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python <args>`` and return the JSON object it prints on its last stdout line."""
    p = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-5000:])
        raise SystemExit(f"benchmark child failed: {args}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def write(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return path


def generate_data(rows: int, shards: int, out: str) -> dict[str, Any]:
    """Write the synthetic dataset with distml's generator on a local 2-CPU Ray."""
    import ray

    from distml.config import DataConfig
    from distml.generate import generate

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        return generate(DataConfig(rows=rows, shards=shards), 0, out)
    finally:
        ray.shutdown()
