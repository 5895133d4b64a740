"""The model a replica serves: a run or promoted model directory, its request schema
(the training data's exact types), its row rules, version and fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
import xgboost as xgb

from distml.data.columns import CAST_FAILED
from distml.data.schema import CANONICAL
from distml.errors import UserError
from distml.preprocess.apply import input_columns
from distml.quality.contract import Contract
from distml.trained.run import ModelRun, contract_on, load_run


@dataclass(frozen=True)
class Served:
    """A loaded model, ready for requests."""

    run: ModelRun
    version: str
    """model.json's version (vNNNN) for a promoted model, else the run directory's path."""
    fingerprint: str
    """sha256 of model.ubj, preprocessor.json and threshold.json (first 16 hex digits)."""
    stamp: tuple[str, int]
    """(resolved path, model.ubj's mtime in ns): a change means a new model to load."""
    booster: xgb.Booster
    types: dict[str, pl.DataType]
    """The columns a request may carry (features, rule columns, id) and their training types."""
    required: tuple[str, ...]
    """The columns every row must have (all but the id), unless serve.missing_columns=null."""
    contract: Contract
    timezone: str
    loaded_at: str

    @property
    def log_folder(self) -> str:
        """This model's folder in the request log."""
        return self.version if re.fullmatch(r"v\d+", self.version) else f"run-{self.fingerprint}"

    def info(self) -> dict[str, Any]:
        """GET /model."""
        m = self.run.model
        return {
            "version": self.version,
            "fingerprint": self.fingerprint,
            "path": self.run.path,
            "task": m.task,
            "threshold": m.threshold,
            "label": self.run.settings.data.label,
            "classes": [str(c) for c in m.target.classes] or None,
            "id_column": self.run.id_column,
            "features": {c: str(t) for c, t in self.types.items() if c != self.run.id_column},
            "rules": [r.name for r in self.contract.rules],
            "loaded_at": self.loaded_at,
        }


_EXACT = {
    str(t): t
    for t in (
        *(pl.Int8(), pl.Int16(), pl.Int32(), pl.Int64()),
        *(pl.UInt8(), pl.UInt16(), pl.UInt32(), pl.UInt64()),
        *(pl.Float32(), pl.Float64(), pl.String(), pl.Boolean(), pl.Date()),
    )
}


def _training_types(path: str) -> dict[str, pl.DataType]:
    """The training data's exact column types (profile.json), where distml can name them: a
    float32 column is read as float32, as ``distml predict`` reads it from a float32 file."""
    p = os.path.join(path, "profile.json")
    if not os.path.isfile(p):
        return {}
    with open(p) as f:
        types = (json.load(f).get("schema") or {}).get("types") or {}
    out: dict[str, pl.DataType] = {}
    for c, text in types.items():
        if text in _EXACT:
            out[c] = _EXACT[text]
        elif m := re.fullmatch(
            r"Datetime\(time_unit='(\w+)', time_zone=(?:'([^']+)'|None)\)", text
        ):
            out[c] = pl.Datetime(m[1], m[2] or "UTC")  # type: ignore[arg-type]
    return out


def stamp_of(path: str) -> tuple[str, int]:
    real = os.path.realpath(path)
    try:
        return real, os.stat(os.path.join(real, "model.ubj")).st_mtime_ns
    except OSError:
        return real, -1


def load_served(path: str | None, threads: int = 1) -> Served:
    """The model at ``path`` (a run or model directory) with its contract and request schema.

    Raises UserError when the directory is not a finished run or has no reference.json."""
    stamp = stamp_of(path) if path else ("", -1)
    run = load_run(path)
    ref_schema = run.reference.get("schema")
    if not ref_schema:
        raise UserError(
            f"The model_run '{run.path}' has no reference.json with the training schema (written "
            "by distml run's profile stage since this version): retrain it to serve it."
        )
    d = run.settings.data
    exact = _training_types(run.path)
    schema = {
        c: exact.get(c) or CANONICAL[f]
        for c, f in ref_schema.items()
        if f in CANONICAL and c not in (d.label, d.weight_column)  # neither is read to score
    }
    contract = contract_on(run, schema, parse_marker=True)
    wanted = [*input_columns(run.model.spec), *contract.columns]
    if run.id_column:
        wanted.insert(0, run.id_column)
    unknown = [c for c in wanted if c != CAST_FAILED and c not in schema]
    if unknown:
        raise UserError(
            f"The model_run '{run.path}' uses the columns {unknown}, whose types are not in its "
            "reference.json: retrain it with this version to serve it."
        )
    types = {c: schema[c] for c in dict.fromkeys(wanted) if c != CAST_FAILED}
    try:
        booster = run.model.booster()
    except xgb.core.XGBoostError as exc:
        raise UserError(
            f"The model_run '{run.path}' has a model.ubj that XGBoost cannot read "
            f"({str(exc).splitlines()[0]}): point model_run at a finished run or promoted model."
        ) from None
    h = hashlib.sha256(run.model.raw)
    for f in ("preprocessor.json", "threshold.json"):
        p = os.path.join(run.path, f)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                h.update(fh.read())
    meta = os.path.join(run.path, "model.json")
    version = run.path
    if os.path.isfile(meta):
        with open(meta) as f:
            version = json.load(f).get("version", version)
    booster.set_param({"nthread": threads})
    return Served(
        run=run,
        version=version,
        fingerprint=h.hexdigest()[:16],
        stamp=stamp,
        booster=booster,
        types=types,
        required=tuple(c for c in types if c != run.id_column),
        contract=contract,
        timezone=run.settings.quality.timezone,
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
