"""XGBoost's collective for one group of training workers, as start and stop hooks.

The driver starts XGBoost's tracker (``start``) and stops it when the group has finished
(``stop``) or failed (``abandon``); each worker joins the group inside ``worker_context``, so
histograms are allreduced and every rank grows the same trees. The settings are XGBoost's typed
``collective.Config``: the tracker's timeout bounds only starting and finishing the group.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from xgboost import collective
from xgboost.tracker import RabitTracker

BOOTSTRAP_TIMEOUT_S = 600
"""The group must form (every worker has built its matrices and joined) within this time."""


@dataclass
class Collective:
    """The tracker of one worker group (none for a single worker)."""

    n_workers: int
    config: collective.Config = field(
        default_factory=lambda: collective.Config(tracker_timeout=BOOTSTRAP_TIMEOUT_S)
    )
    _tracker: RabitTracker | None = None

    def start(self, host_ip: str) -> dict[str, Any]:
        """Start the tracker on this host; the arguments each worker joins with."""
        if self.n_workers == 1:
            return {}
        self._tracker = RabitTracker(
            n_workers=self.n_workers,
            host_ip=host_ip,
            port=self.config.tracker_port or 0,
            sortby="task",  # ranks follow the task ids the driver gives: rank 0 is task 0
            timeout=self.config.tracker_timeout or 0,
        )
        self._tracker.start()
        return self.config.get_comm_config(dict(self._tracker.worker_args()))

    def stop(self, timeout: int = 60) -> None:
        """Wait for a finished group's tracker to shut down."""
        if self._tracker is not None:
            self._tracker.wait_for(timeout)
            self._tracker = None

    def abandon(self) -> None:
        """Let a failed group's tracker go, off the main thread: it reports the lost connection
        as an error and may wait for workers that no longer exist."""
        tracker, self._tracker = self._tracker, None
        if tracker is None:
            return

        def wait() -> None:
            with contextlib.suppress(Exception):
                tracker.wait_for(5)

        threading.Thread(target=wait, daemon=True).start()


@contextlib.contextmanager
def worker_context(world: int, task_id: str, args: dict[str, Any]) -> Iterator[int]:
    """Join the group (more than one worker) and yield this worker's rank."""
    if world == 1:
        yield 0
        return
    with collective.CommunicatorContext(dmlc_task_id=task_id, **args):
        yield collective.get_rank()
