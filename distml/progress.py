"""What the console shows: progress for long stages (rows, rows/s and elapsed time, as a bar on a
terminal, lines otherwise), a stage's messages, and the copy of it all kept in the run directory
(``distml.log``)."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any


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


class _Tee:
    """A console stream that also appends what it shows to a log file, a line at a time: a
    progress bar's redraws (text before a carriage return) stay on the terminal and only the
    line it ends with is kept. Once the log is closed (after the command) it writes to the
    console only, for a logging handler that kept a reference to it."""

    def __init__(self, stream: Any, log: IO[str], lock: threading.Lock) -> None:
        self.stream, self.log, self.lock = stream, log, lock
        self.pending = ""

    def write(self, text: str) -> int:
        n = self.stream.write(text)
        with self.lock:
            if self.log.closed:
                return n
            *lines, self.pending = (self.pending + text).split("\n")
            for line in lines:
                self.log.write(line.rstrip("\r").rsplit("\r", 1)[-1] + "\n")
            if lines:
                self.log.flush()
        return n

    def end(self) -> None:
        """Keep an unfinished last line (no newline after it)."""
        with self.lock:
            last = self.pending.rstrip("\r").rsplit("\r", 1)[-1]
            if last and not self.log.closed:
                self.log.write(last + "\n")
            self.pending = ""

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the console's own
        return getattr(self.stream, name)


@contextmanager
def tee_console(path: str) -> Iterator[None]:
    """Everything this process prints to stdout and stderr while inside also goes to ``path``
    (appended, so log records written there by Hydra's file handler interleave by line), and
    so does the traceback of an error that leaves it (Hydra prints that after this returns)."""
    with open(path, "a", encoding="utf-8") as log:
        lock = threading.Lock()
        out, err = sys.stdout, sys.stderr
        tees = _Tee(out, log, lock), _Tee(err, log, lock)
        sys.stdout, sys.stderr = tees
        try:
            yield
        except Exception:
            for tee in tees:
                tee.end()
            log.write(traceback.format_exc())
            raise
        finally:
            out.flush()
            err.flush()
            for tee in tees:
                tee.end()
            sys.stdout, sys.stderr = out, err
