"""Where stages meet Ray: map a function over shards, merge the small results.

A stage supplies ``fn(item, *args) -> (state, rows)``; tasks run on Ray (or, for a session that
cluster.executor runs in threads, on a thread pool in this process), results are folded into the
running state with ``merge`` as they arrive (so the driver holds one state, never the
population), and progress reports rows, rows/s and elapsed time.
"""

from __future__ import annotations

import functools
import resource
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from distml.cluster.session import ensure_ray, threads
from distml.errors import UserError
from distml.progress import Progress

if TYPE_CHECKING:
    import ray

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
    nodes: set[str] = field(default_factory=set)
    """Ray node ids the tasks ran on."""


def node_id() -> str:
    ray = sys.modules.get("ray")  # not imported: this is not a Ray worker
    return ray.get_runtime_context().get_node_id() if ray and ray.is_initialized() else "local"


def _run_batch(
    fn: Callable[..., tuple[Any, int]], merge: Callable, batch: Sequence[Any], *args: Any
) -> tuple[Any, int, tuple[int, str], int]:
    """Several items in one task, their states folded with ``merge`` (associative) before return."""
    state, total = None, 0
    for item in batch:
        part, rows = fn(item, *args)
        state = part if state is None else merge(state, part)
        total += rows
    return state, total, (peak_rss_bytes(), node_id()), len(batch)


_in_process = False


@functools.cache
def _remote_batch() -> Any:
    """``_run_batch`` as a Ray remote function, made once (Ray exports it on first use)."""
    import ray

    return ray.remote(_run_batch)


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
    tasks_per_cpu: int = 8,
) -> S:
    """Run ``fn(item, *args)`` over the items as Ray tasks and fold the states with ``merge``.

    Items are grouped so that there are about ``tasks_per_cpu`` tasks per cluster CPU (a task
    folds its items' states itself), which keeps Ray's per-task cost small next to the work.
    Large ``args`` are put in the object store once. At most ``max_in_flight`` tasks are pending
    (default: four per cluster CPU), which bounds the results waiting on the driver.
    """
    progress = Progress(label, len(items))
    state = initial

    def absorb(result: tuple[Any, int, tuple[int, str], int]) -> None:
        nonlocal state
        part, rows, (peak, node), n = result
        if part is not None:
            state = merge(state, part)
        progress.update(n, rows)
        if stats is not None:
            stats.rows += rows
            stats.tasks += 1
            stats.peak_rss_bytes = max(stats.peak_rss_bytes, peak)
            stats.nodes.add(node)

    if not items:
        return state
    if _in_process:
        for item in items:
            absorb(_run_batch(fn, merge, [item], *args))
        return state
    if threads():
        _on_threads(fn, items, merge, args, absorb, threads())
        return state
    _on_ray(fn, items, merge, args, absorb, num_cpus, max_in_flight, tasks_per_cpu)
    return state


def _on_ray(fn, items, merge, args, absorb, num_cpus, max_in_flight, tasks_per_cpu) -> None:
    """map_merge's loop on Ray: batches of items as tasks, at most ``max_in_flight`` pending,
    folded in this thread as they finish; a task's UserError is raised as it is."""
    import ray

    ensure_ray()
    arg_refs = tuple(ray.put(a) for a in args)
    # SPREAD: shard tasks go to every node (their reads and CPU), not first to the driver's
    remote = _remote_batch().options(num_cpus=num_cpus, scheduling_strategy="SPREAD")
    cpus = ray.cluster_resources().get("CPU", 1)
    if max_in_flight is None:
        max_in_flight = max(2, int(4 * cpus))
    size = max(1, len(items) // max(1, int(tasks_per_cpu * cpus / num_cpus)))
    batches = [items[i : i + size] for i in range(0, len(items), size)]
    pending: list[ray.ObjectRef] = []
    it = iter(batches)
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < max_in_flight:
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            pending.append(remote.remote(fn, merge, item, *arg_refs))
        if not pending:
            break
        ready, pending = ray.wait(pending, num_returns=1)
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayTaskError as exc:
            # A task's user error (a bad file, a bad value) is reported as the user error itself.
            if isinstance(exc.cause, UserError):
                for ref in pending:
                    ray.cancel(ref)
                raise exc.cause from None
            raise
        absorb(result)


def _on_threads(fn, items, merge, args, absorb, n: int) -> None:
    """map_merge's loop on ``n`` threads of this process: one item per task, at most 2n pending,
    folded in the calling thread as they finish (Polars, Arrow and XGBoost release the GIL)."""
    with ThreadPoolExecutor(n, thread_name_prefix="distml-task") as pool:
        it, pending = iter(items), set[Future]()
        try:
            while True:
                for item in it:
                    pending.add(pool.submit(_run_batch, fn, merge, [item], *args))
                    if len(pending) >= 2 * n:
                        break
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    absorb(f.result())  # a task's error (a UserError) is raised as it is
        finally:
            for f in pending:
                f.cancel()


def cluster_cpus() -> int:
    """CPUs of the Ray cluster (the thread count in threads, 1 when running in process)."""
    if threads():
        return threads()
    ray = sys.modules.get("ray")
    if _in_process or ray is None or not ray.is_initialized():
        return 1
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


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
