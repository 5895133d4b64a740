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
    """Samples the summed RSS of this process and all its descendants (Ray's raylet and workers).

    Shared pages (the object store, libraries) are counted once per process, so this overstates
    physical memory; it is the conservative figure.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
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
