"""Reuse of the data stages (profile, sample, preprocess) across runs and sweep trials.

The key is a hash of everything those stages read: the data files (path, size, modification
time), the config groups data, quality, profile, sampling and preprocess, the seed, the label's
classes and the task, and distml's version. Nothing is copied:
the index ``<cache.dir>/data-<key>.json`` names the run directory that computed the stages, and a
later run links that run's outputs into its own directory. Trials that start together agree
through a lock file: one computes, the others wait for its index entry (and compute themselves
if it fails).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import time
from typing import Any

from distml import __version__
from distml.artifacts import write_json
from distml.progress import say

# outputs of the data stages, relative to the run directory
LINKED = ("quarantine", "sample", "features")
COPIED = ("profile.json", "sampling_report.json", "preprocessor.json", "reference.json")
STAGES = ("profile", "sample", "preprocess")


def fingerprint(files: list[str], uri: str) -> list[tuple[str, int, int]]:
    from distml.data.fs import filesystem

    fs, _ = filesystem(uri)
    infos = fs.get_file_info(files)
    return [(i.path, int(i.size or 0), int(i.mtime_ns or 0)) for i in infos]


def data_key(settings, ds, target: dict, task: str) -> str:
    """The data stages' cache key for these settings and this planned dataset."""
    parts = {
        "version": __version__,
        "files": fingerprint(list(ds.files), ds.uri),
        "data": dataclasses.asdict(settings.data),
        "quality": dataclasses.asdict(settings.quality),
        "sampling": dataclasses.asdict(settings.sampling),
        "preprocess": dataclasses.asdict(settings.preprocess),
        "seed": settings.seed,
        "profile": dataclasses.asdict(settings.profile),
        "target": target,
        "task": task,
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


class DataCache:
    def __init__(self, directory: str, key: str, wait_s: float = 3600.0) -> None:
        self.dir = directory
        self.key = key
        self.index = os.path.join(directory, f"data-{key}.json")
        self.lock = os.path.join(directory, f"data-{key}.lock")
        self.wait_s = wait_s
        self.owned = False

    def _valid(self) -> dict[str, Any] | None:
        try:
            with open(self.index) as f:
                entry = json.load(f)
        except (OSError, ValueError):
            return None
        src = entry.get("run_dir", "")
        ok = all(os.path.exists(os.path.join(src, p)) for p in ("features", "preprocessor.json"))
        return entry if ok else None

    def lookup(self) -> dict[str, Any] | None:
        """The entry for this key, waiting while another run holds the lock; else take the lock
        (the caller computes the stages and calls ``store``) and return None."""
        os.makedirs(self.dir, exist_ok=True)
        deadline = time.time() + self.wait_s
        announced = False
        while True:
            entry = self._valid()
            if entry is not None:
                return entry
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._stale() or time.time() > deadline:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(self.lock)
                    continue
                if not announced:
                    say("cache", f"another run is computing the data stages ({self.key}); waiting")
                    announced = True
                time.sleep(0.5)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
            self.owned = True
            return None

    def _stale(self) -> bool:
        """The lock's owner was a process on this host that no longer runs."""
        try:
            with open(self.lock) as f:
                owner = json.load(f)
        except (OSError, ValueError):
            return False
        if owner.get("host") != socket.gethostname():
            return False
        try:
            os.kill(int(owner["pid"]), 0)
        except ProcessLookupError:
            return True
        except (OSError, KeyError, ValueError):
            return False
        return False

    def store(self, run_dir: str, stages: dict[str, Any], warnings: list[str]) -> None:
        entry = {
            "run_dir": os.path.abspath(run_dir),
            "stages": stages,
            "warnings": warnings,
            "key": self.key,
        }
        tmp = f"{self.index}.{os.getpid()}.tmp"
        write_json(tmp, entry)
        os.replace(tmp, self.index)
        self.release()

    def release(self) -> None:
        if self.owned:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.lock)
            self.owned = False


def clear(path: str) -> None:
    """Remove a stage's output (folder or file), or a link to a cached run's output — never the
    link's target."""
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def link_outputs(entry: dict[str, Any], run_dir: str) -> None:
    """Make the cached stages' outputs appear in ``run_dir``: folders linked, small files copied
    (reference.json is extended by evaluation)."""
    src = entry["run_dir"]
    for name in LINKED:
        target, path = os.path.join(src, name), os.path.join(run_dir, name)
        clear(path)
        if os.path.exists(target):
            os.symlink(target, path)
    for name in COPIED:
        if os.path.exists(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(run_dir, name))
