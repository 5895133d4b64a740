"""The one place where stages meet Ray: map a function over shards, merge the small results.

A stage supplies ``fn(item, *args) -> (state, rows)``; tasks run on Ray, results are folded into
the running state with ``merge`` as they arrive (so the driver holds one state, never the
population), and progress reports rows, rows/s and elapsed time.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import ray

from distml.progress import Progress

S = TypeVar("S")


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class MapStats:
    rows: int = 0
    tasks: int = 0
    peak_rss_bytes: int = 0


def _run(fn: Callable[..., tuple[Any, int]], item: Any, *args: Any) -> tuple[Any, int, int]:
    state, rows = fn(item, *args)
    return state, rows, peak_rss_bytes()


_remote_run = ray.remote(_run)
_in_process = False


@contextmanager
def in_process() -> Iterator[None]:
    """Run map_merge serially in this process, without Ray (unit tests, debugging)."""
    global _in_process
    before, _in_process = _in_process, True
    try:
        yield
    finally:
        _in_process = before


def map_merge(
    fn: Callable[..., tuple[S, int]],
    items: Sequence[Any],
    merge: Callable[[S, S], S],
    initial: S,
    *,
    args: tuple = (),
    label: str = "map",
    num_cpus: float = 1.0,
    max_in_flight: int | None = None,
    stats: MapStats | None = None,
) -> S:
    """Run ``fn(item, *args)`` as one Ray task per item and fold the returned states with ``merge``.

    Large ``args`` are put in the object store once. At most ``max_in_flight`` tasks are pending
    (default: four per cluster CPU), which bounds the results waiting on the driver.
    """
    progress = Progress(label, len(items))
    state = initial

    def absorb(result: tuple[Any, int, int]) -> None:
        nonlocal state
        part, rows, peak = result
        state = merge(state, part)
        progress.update(1, rows)
        if stats is not None:
            stats.rows += rows
            stats.tasks += 1
            stats.peak_rss_bytes = max(stats.peak_rss_bytes, peak)

    if not items:
        return state
    if _in_process:
        for item in items:
            absorb(_run(fn, item, *args))
        return state
    arg_refs = tuple(ray.put(a) for a in args)
    remote = _remote_run.options(num_cpus=num_cpus)
    if max_in_flight is None:
        max_in_flight = max(2, int(4 * ray.cluster_resources().get("CPU", 1)))
    pending: list[ray.ObjectRef] = []
    it = iter(items)
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < max_in_flight:
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            pending.append(remote.remote(fn, item, *arg_refs))
        if not pending:
            break
        ready, pending = ray.wait(pending, num_returns=1)
        absorb(ray.get(ready[0]))
    return state


def map_shards(
    fn: Callable[..., tuple[Any, int]],
    items: Sequence[Any],
    *,
    args: tuple = (),
    label: str = "map",
    num_cpus: float = 1.0,
    stats: MapStats | None = None,
) -> list[Any]:
    """Like ``map_merge`` for tasks whose results are small per-item records, kept in item order."""
    indexed = list(enumerate(items))

    def merge(acc: dict[int, Any], part: dict[int, Any]) -> dict[int, Any]:
        acc.update(part)
        return acc

    out = map_merge(
        _indexed, indexed, merge, {}, args=(fn, *args), label=label, num_cpus=num_cpus, stats=stats
    )
    return [out[i] for i in range(len(items))]


def _indexed(pair: tuple[int, Any], fn: Callable[..., tuple[Any, int]], *args: Any):
    i, item = pair
    result, rows = fn(item, *args)
    return {i: result}, rows
