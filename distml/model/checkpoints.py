"""Training checkpoints: ``<storage>/checkpoints/model-<rounds>.ubj`` on any pyarrow filesystem,
written by a small actor on the driver's node (the Keeper) so that a checkpoint is on storage
before the workers train past it. Kept free of XGBoost and Polars imports: the Keeper is a light
process.
"""

from __future__ import annotations

import re
import time
from typing import Any

from distml.data.fs import filesystem, join

CHECKPOINTS = "checkpoints"
_CKPT = re.compile(r"^model-(\d{6,})\.ubj$")


def checkpoint_dir(storage: str) -> str:
    return join(storage, CHECKPOINTS)


def newest_checkpoint(storage: str) -> tuple[int, bytes] | None:
    """The checkpoint with the most rounds under ``storage``, as (rounds, model bytes)."""
    import pyarrow.fs as pafs

    fs, root = filesystem(checkpoint_dir(storage))
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return None
    found = [
        (int(m.group(1)), i.path)
        for i in fs.get_file_info(pafs.FileSelector(root))
        if (m := _CKPT.match(i.base_name))
    ]
    if not found:
        return None
    rounds, path = max(found)
    with fs.open_input_stream(path) as f:
        return rounds, f.read()


class Keeper:
    """Runs on the driver's node: stores rank 0's checkpoints and the latest progress."""

    def __init__(self, storage: str, keep: int = 2) -> None:
        self.storage = storage
        self.keep = keep
        self.latest: dict[str, Any] = {}
        self.saved: list[int] = []
        self.written: list[tuple[int, float]] = []
        """(rounds, unix time) of every checkpoint once it was on storage."""

    def save(self, rounds: int, raw: bytes, metrics: dict[str, float]) -> None:
        """Write atomically (temporary name, then rename) and drop all but the newest ``keep``."""
        fs, root = filesystem(checkpoint_dir(self.storage))
        fs.create_dir(root, recursive=True)
        path = f"{root}/model-{rounds:06d}.ubj"
        with fs.open_output_stream(path + ".tmp") as f:
            f.write(raw)
        fs.move(path + ".tmp", path)
        self.saved.append(rounds)
        for old in self.saved[: -self.keep]:
            fs.delete_file(f"{root}/model-{old:06d}.ubj")
        self.saved = self.saved[-self.keep :]
        self.written.append((rounds, time.time()))
        self.progress(rounds, metrics)

    def progress(self, rounds: int, metrics: dict[str, float]) -> None:
        self.latest = {"rounds": rounds, **metrics}

    def get(self) -> dict[str, Any]:
        return self.latest

    def history(self) -> list[tuple[int, float]]:
        return self.written
