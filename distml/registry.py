"""The models directory: promoted versions, the ``current`` alias and the history of its moves.

    <models_dir>/v0001, v0002, ...   model bundles: model.ubj, preprocessor.json, threshold.json,
                                     metrics.json, reference.json, profile.json, config.yaml,
                                     trained_rows.parquet and model.json (where it came from)
    <models_dir>/current -> vNNNN    the model in use (``distml serve`` follows it)
    <models_dir>/history.jsonl       one JSON line per move or refused move

Every move of ``current`` (``distml retrain``, ``distml promote``, ``distml rollback``) holds an
exclusive lock (``fcntl.flock`` on ``<models_dir>/.lock``, released by the OS if the process dies)
and is a compare-and-swap: it names the version it expects ``current`` to be (the one a
retraining was compared against, or the one the command saw when it started). When another move
came first, the move is refused with one paragraph and the refusal is written to the history: two
promotions at the same moment never lose one silently. The link itself is replaced atomically
(``os.replace`` of a new symlink), so a reader sees the old model or the new one, never neither.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distml.artifacts import dumps, write_json
from distml.errors import UserError

BUNDLE = (
    "model.ubj",
    "preprocessor.json",
    "threshold.json",
    "metrics.json",
    "reference.json",
    "profile.json",
    "feature_importance.json",
    "trained_rows.parquet",
)
"""The files of a run that make a model directory (with its config.yaml and model.json)."""

REQUIRED = (
    "model.ubj",
    "preprocessor.json",
    "metrics.json",
    "reference.json",
    "trained_rows.parquet",
)
"""The files without which a promoted model cannot be scored, monitored or compared (and a
binary model's threshold.json)."""

CURRENT = "current"
HISTORY = "history.jsonl"
_VERSION = re.compile(r"v(\d+)")
LOCK_WAIT_S = 120.0

ANY = object()
"""``expected`` for a move that replaces whatever is current (no compare-and-swap)."""


def current_version(root: str) -> str | None:
    """The version ``current`` points at (None when there is none)."""
    link = os.path.join(root, CURRENT)
    return os.readlink(link) if os.path.islink(link) else None


def versions(root: str) -> list[str]:
    """The complete model directories, oldest first."""
    if not os.path.isdir(root):
        return []
    found = [d for d in os.listdir(root) if _VERSION.fullmatch(d)]
    found = [d for d in found if os.path.isfile(os.path.join(root, d, "model.ubj"))]
    return sorted(found, key=lambda d: int(d[1:]))


def history(root: str) -> list[dict[str, Any]]:
    """The moves of ``current`` and refused moves, oldest first."""
    path = os.path.join(root, HISTORY)
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@contextmanager
def _locked(root: str) -> Iterator[None]:
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"Another distml command has held the lock of the models directory "
                        f"'{root}' for {LOCK_WAIT_S:.0f} s (promote, rollback or retrain). Wait "
                        f"for it to finish and run this again; {os.path.join(root, HISTORY)} "
                        "lists what has happened."
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _append(root: str, entry: dict[str, Any]) -> None:
    with open(os.path.join(root, HISTORY), "a") as f:
        f.write(dumps(entry, indent=None) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _entry(action: str, **kw: Any) -> dict[str, Any]:
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "action": action,
        **kw,
        "user": getpass.getuser(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def _point(root: str, version: str) -> None:
    tmp = os.path.join(root, f".{CURRENT}.{os.getpid()}.tmp")
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(version, tmp)
    os.replace(tmp, os.path.join(root, CURRENT))


def _check_expected(root: str, expected: Any, action: str, by: str, what: str, **kw) -> str | None:
    now = current_version(root)
    if expected is ANY or now == expected:
        return now
    _append(
        root,
        _entry(
            "refused",
            refused=action,
            by=by,
            expected=expected,
            found=now,
            reason=f"current moved from {expected} to {now} before this {action}",
            **kw,
        ),
    )
    raise UserError(
        f"Not {what}: {os.path.join(root, CURRENT)} moved from {expected or 'nothing'} to {now} "
        f"while this command ran (another promotion or rollback came first). Nothing was "
        f"changed; the refusal is in {os.path.join(root, HISTORY)}. Run the command again to act "
        "on the new current model."
    )


def promote(
    run_dir: str,
    root: str,
    record: dict[str, Any],
    *,
    expected: Any = ANY,
    by: str = "distml promote",
    reason: str = "",
) -> str:
    """Copy a finished run's model to the next vNNNN under ``root`` and point ``current`` at it,
    if ``current`` is still ``expected``; returns the new model directory.

    Raises UserError when ``current`` moved meanwhile (the refusal is in the history) or the run
    is not finished."""
    root = os.path.abspath(root)
    missing = [f for f in REQUIRED if not os.path.isfile(os.path.join(run_dir, f))]
    if not missing and _task(run_dir) == "binary":
        missing += [f for f in ("threshold.json",) if not os.path.isfile(os.path.join(run_dir, f))]
    if missing:
        raise UserError(
            f"'{run_dir}' is not a finished distml run (or model directory): it lacks "
            f"{', '.join(missing)}, which predict, monitor, serve and the next retrain read. "
            "Promote a run that ended (exit 0, or 3 for a failed gate), or run it again."
        )
    config = next(
        (
            p
            for p in (
                os.path.join(run_dir, ".hydra", "config.yaml"),
                os.path.join(run_dir, "config.yaml"),
            )
            if os.path.isfile(p)
        ),
        None,
    )
    if config is None:
        raise UserError(f"'{run_dir}' has no saved config (.hydra/config.yaml): it is not a run.")
    with _locked(root):
        previous = _check_expected(
            root, expected, "promotion", by, f"promoted ({run_dir})", source_run=run_dir
        )
        taken = [int(d[1:]) for d in os.listdir(root) if _VERSION.fullmatch(d)]
        name = f"v{max(taken, default=0) + 1:04d}"
        target = os.path.join(root, name)
        tmp = os.path.join(root, f".{name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for f in BUNDLE:
            if os.path.isfile(os.path.join(run_dir, f)):
                shutil.copy2(os.path.join(run_dir, f), tmp)
        shutil.copy2(config, os.path.join(tmp, "config.yaml"))
        write_json(os.path.join(tmp, "model.json"), {**record, "version": name})
        os.replace(tmp, target)
        _point(root, name)
        _append(
            root,
            _entry(
                "promote",
                version=name,
                previous=previous,
                by=by,
                reason=reason,
                source_run=os.path.abspath(run_dir),
            ),
        )
    return target


def _task(run_dir: str) -> str | None:
    try:
        with open(os.path.join(run_dir, "metrics.json")) as f:
            return json.load(f).get("task")
    except (OSError, ValueError, AttributeError):
        return None


def rollback_target(root: str, now: str | None) -> str:
    """The version that was current before ``now`` was promoted (from the history; without one,
    the newest older version)."""
    if now is None:
        raise UserError(
            f"'{os.path.join(root, CURRENT)}' does not exist: there is no current model to roll "
            "back from. Set retrain.models_dir to the folder that holds current and v0001, ..."
        )
    for e in reversed(history(root)):
        if e.get("action") == "promote" and e.get("version") == now and e.get("previous"):
            return e["previous"]
    older = (
        [v for v in versions(root) if int(v[1:]) < int(now[1:])] if _VERSION.fullmatch(now) else []
    )
    if not older:
        raise UserError(
            f"Nothing to roll back to: {now} is the first model in '{root}'. Promote another "
            "model with distml promote model_run=<run>."
        )
    return older[-1]


def rollback(root: str, to: str | None = None, *, reason: str = "", by: str = "distml rollback"):
    """Point ``current`` back at ``to`` (default: the model current before the last promotion
    of the current one); returns (from, to). Raises UserError when there is nothing to roll back
    to, ``to`` is not a complete model directory, or current moved meanwhile."""
    root = os.path.abspath(root)
    start = current_version(root)
    target = to or rollback_target(root, start)
    if target == start:
        raise UserError(f"{target} is the current model already in '{root}': nothing to do.")
    if target not in versions(root):
        raise UserError(
            f"'{target}' is not a model directory in '{root}' (with a model.ubj); the versions "
            f"there: {', '.join(versions(root)) or 'none'}. Set to=<one of them>."
        )
    with _locked(root):
        _check_expected(root, start, "rollback", by, f"rolled back to {target}", version=target)
        _point(root, target)
        _append(root, _entry("rollback", version=target, previous=start, by=by, reason=reason))
    return start, target


def run_promote(s: Any, run_dir: str) -> dict[str, Any]:
    """``distml promote model_run=<run> [reason=...]``: a finished run becomes the current model
    by hand (no comparison: the history says who and why)."""
    if not s.model_run:
        raise UserError(
            "Set model_run to the finished run to promote, e.g. `distml promote "
            "model_run=outputs/2026-01-01/12-00-00 reason='reviewed by the risk team'`."
        )
    src = os.path.realpath(s.model_run)
    metrics_path = os.path.join(src, "metrics.json")
    metrics: dict[str, Any] = {}
    if os.path.isfile(metrics_path):
        with open(metrics_path) as f:
            metrics = json.load(f)
    record = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "source_run": src,
        "metrics": {
            k: v for k, v in (metrics.get("test") or {}).items() if not isinstance(v, dict | list)
        },
        "gate": metrics.get("gate"),
        "decision": {"reason": f"promoted by hand: {s.reason or 'no reason given'}"},
    }
    root = s.retrain.models_dir
    before = current_version(root)
    target = promote(src, root, record, expected=before, by="distml promote", reason=s.reason or "")
    name = os.path.basename(target)
    print(f"distml promote: {name} is current (was {before or 'none'}): {target}", flush=True)
    return {"version": name, "previous": before, "model_dir": target}


def run_rollback(s: Any, run_dir: str) -> dict[str, Any]:
    """``distml rollback [to=vNNNN] [reason=...]``: ``current`` back to the model before."""
    gone, now = rollback(s.retrain.models_dir, s.to, reason=s.reason or "")
    root = os.path.abspath(s.retrain.models_dir)
    print(f"distml rollback: {now} is current again (was {gone}) in {root}", flush=True)
    return {"version": now, "previous": gone}
