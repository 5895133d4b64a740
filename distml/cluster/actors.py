"""Groups of long-lived actors: gang-scheduled workers, a keeper pinned to the driver's node, and
telling a lost worker (its process or node gone) from an error in the work itself.

Training uses these (distml/model/train.py); the worker classes themselves know nothing of Ray.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from distml.cluster.session import ensure_ray
from distml.progress import say

if TYPE_CHECKING:
    import ray

# Ray is imported inside the functions (the import costs a fraction of a second and a run in
# threads never needs it); Python caches it after the first.


def node_lost(err: BaseException) -> bool:
    """A worker process or its node is gone (not an error raised by the work)."""
    import ray.exceptions as rex

    return isinstance(err, rex.RayActorError | rex.WorkerCrashedError | rex.NodeDiedError)


def driver_ip() -> str:
    """This node's address, where workers reach services the driver starts."""
    import ray

    return ray.util.get_node_ip_address()


def _probed(cls: type) -> type:
    """``cls`` with ``ping`` (is the actor alive?) and ``node`` (where it runs)."""

    class Probed(cls):  # type: ignore[misc, valid-type]
        def ping(self) -> bool:
            return True

        def node(self) -> str:
            import ray

            return ray.get_runtime_context().get_node_id()

    Probed.__name__ = Probed.__qualname__ = cls.__name__
    return Probed


class ActorGroup:
    """``n`` actors of ``cls`` in a placement group: all of them or none (so concurrent sweep
    trials cannot each hold part of a group and wait forever), spread over the nodes."""

    def __init__(self, cls: type, n: int, cpus: float, gpus: int = 0) -> None:
        import ray
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        ensure_ray()
        bundle = {"CPU": cpus, **({"GPU": gpus} if gpus else {})}
        self.pg = placement_group([bundle] * n, strategy="SPREAD")
        ready, _ = ray.wait([self.pg.ready()], timeout=10)
        if not ready:
            say("train", f"waiting for {n} x {bundle} in the Ray cluster")
            ray.get(self.pg.ready())
        actor = ray.remote(_probed(cls))
        self.actors = [
            actor.options(
                num_cpus=cpus,
                num_gpus=gpus,
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    self.pg, placement_group_bundle_index=i
                ),
                max_restarts=0,
                max_concurrency=2,  # answers ping() while the work runs
            ).remote()
            for i in range(n)
        ]

    def call(self, method: str, args: Sequence[tuple]) -> list[ray.ObjectRef]:
        """Call ``method`` on every actor, actor i with ``args[i]``."""
        return [getattr(a, method).remote(*x) for a, x in zip(self.actors, args, strict=True)]

    def wait(self, refs: list[ray.ObjectRef], tick: Callable[[], None] | None = None) -> list[Any]:
        """Every result, in order; the first failure is raised at once. ``tick`` runs about
        once a second while waiting (progress)."""
        import ray

        pending, done = list(refs), {}
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for r in ready:
                done[r] = ray.get(r)  # raises the worker's error, or RayActorError if it died
            if tick is not None and pending:
                tick()
        return [done[r] for r in refs]

    def nodes(self) -> list[str]:
        import ray

        return ray.get([a.node.remote() for a in self.actors])

    def lost(self, timeout: float = 60.0) -> bool:
        """Whether any actor is dead or unreachable (its node gone), asked while others may still
        run: a rank whose peer died fails in a collective before Ray reports the peer's death."""
        import ray

        refs = [a.ping.remote() for a in self.actors]
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        if pending:
            return True
        for r in ready:
            try:
                ray.get(r)
            except Exception as err:  # noqa: BLE001 - any failure to answer means it is gone
                if node_lost(err):
                    return True
        return False

    def end(self) -> None:
        import ray
        from ray.util.placement_group import remove_placement_group

        for a in self.actors:
            ray.kill(a)
        with contextlib.suppress(Exception):
            remove_placement_group(self.pg)


def _here() -> bool:
    return True


def settle(timeout: float = 120.0) -> None:
    """Wait until every node Ray lists as alive answers, or is declared dead: a killed node is
    listed as alive until its health checks run out, and a group started before that would place
    workers on it."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(_here)
    refs = [
        probe.options(
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote()
        for n in ray.nodes()
        if n["Alive"]
    ]
    ray.wait(refs, num_returns=len(refs), timeout=timeout)  # a failed probe is ready too


class KeeperClient:
    """A picklable handle on a keeper actor, for workers: ``save`` returns once stored."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def save(self, rounds: int, raw: bytes, metrics: dict[str, float]) -> None:
        import ray

        ray.get(self.handle.save.remote(rounds, raw, metrics))

    def progress(self, rounds: int, metrics: dict[str, float]) -> None:
        self.handle.progress.remote(rounds, metrics)

    def latest(self) -> dict[str, Any]:
        import ray

        return ray.get(self.handle.get.remote())

    def history(self) -> list[tuple[int, float]]:
        import ray

        return ray.get(self.handle.history.remote())

    def stop(self) -> None:
        import ray

        ray.kill(self.handle)


def start_keeper(cls: type, *args: Any) -> KeeperClient:
    """An actor of ``cls`` on the driver's node, needing no CPU: it outlives worker groups and
    the loss of any other node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ensure_ray()
    here = ray.get_runtime_context().get_node_id()
    handle = (
        ray.remote(cls)
        .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False))
        .remote(*args)
    )
    return KeeperClient(handle)
