"""Progress for long stages: rows, rows/s and elapsed time, as a bar on a terminal, lines otherwise."""

from __future__ import annotations

import sys
import time


def human(n: float) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Tracks done/total units and rows for one step of a stage and prints updates."""

    def __init__(self, label: str, total: int, stream=None, min_interval: float = 2.0) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.rows = 0
        self.start = time.perf_counter()
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = 0.2 if self.tty else min_interval
        self._last = 0.0

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def line(self) -> str:
        el = self.elapsed
        rate = self.rows / el if el > 0 else 0.0
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        return (
            f"[{self.label}] [{bar}] {self.done}/{self.total} shards  {human(self.rows)} rows  "
            f"{human(rate)} rows/s  {clock(el)}"
        )

    def update(self, units: int = 1, rows: int = 0) -> None:
        self.done += units
        self.rows += rows
        now = time.perf_counter()
        if self.done >= self.total or now - self._last >= self.min_interval:
            self._last = now
            end = "\r" if self.tty and self.done < self.total else "\n"
            print(self.line(), end=end, file=self.stream, flush=True)


def say(stage: str, message: str) -> None:
    print(f"[{stage}] {message}", file=sys.stderr, flush=True)
