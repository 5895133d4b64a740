"""A trained run: what ``distml run`` leaves (or a promoted model directory) and everything that
reads it: loading it, its data contract over new rows, planning new data against its schema, the
scoring job over that data, and the monitoring reference it carries (reference.py).

predict, monitor, retrain, serve and the pipeline read a run through this package only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from typing import Any

from distml.config import RunSettings, load_saved
from distml.data.schema import polars_schema
from distml.data.shards import Dataset, plan
from distml.errors import UserError
from distml.objective import task_of
from distml.preprocess.apply import input_columns, load
from distml.quality.conform import conform
from distml.quality.contract import Contract, build_contract
from distml.scoring import Model, ScoreJob, Summary
from distml.target import default

MODEL_FILES = ("model.ubj", "preprocessor.json")


@dataclass(frozen=True)
class ModelRun:
    """What scoring needs from a training run (or a promoted model directory)."""

    path: str
    settings: RunSettings
    model: Model
    reference: dict[str, Any]

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def id_column(self) -> str | None:
        """The id the run used (None when it derived ids from the rows' content)."""
        return self.model.spec.get("id_column", self.settings.data.id_column)


def _saved_config(path: str, key: str) -> str:
    for p in (os.path.join(path, ".hydra", "config.yaml"), os.path.join(path, "config.yaml")):
        if os.path.isfile(p):
            return p
    raise UserError(f"The {key} '{path}' has no .hydra/config.yaml or config.yaml.")


def _json(path: str) -> dict[str, Any] | None:
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def load_run(path: str | None, key: str = "model_run") -> ModelRun:
    """A training run or promoted model directory: its settings, model, threshold, reference."""
    if not path:
        raise UserError(
            f"Set {key} to a training run directory (outputs/<date>/<time>) or a promoted model "
            f"directory (models/current), e.g. `distml predict {key}=outputs/... data.path=...`."
        )
    path = os.path.realpath(path)
    missing = [f for f in MODEL_FILES if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise UserError(
            f"The {key} '{path}' has no {', '.join(missing)}: point it at a run that finished "
            "training (distml run) or at a promoted model directory."
        )
    settings = load_saved(_saved_config(path, key))
    th = _json(os.path.join(path, "threshold.json"))
    with open(os.path.join(path, "model.ubj"), "rb") as f:
        raw = f.read()
    task = task_of(settings.model.params)
    spec = load(os.path.join(path, "preprocessor.json"))
    if "target" not in spec:  # saved before labels were mapped: 0/1 or 0..k-1
        spec["target"] = default(settings.data.label, task, settings.model.params).to_json()
    model = Model(raw, task, spec, float(th["value"]) if th else None)
    return ModelRun(path, settings, model, _json(os.path.join(path, "reference.json")) or {})


def plan_new_data(run: ModelRun, uri: str | None, on_bad_file: str) -> tuple[Dataset, list]:
    """New data, conformed to the training schema (the label may be absent)."""
    if not uri:
        raise UserError("Set data.path to the Parquet data to score (a folder, glob or URI).")
    s = run.settings
    ds = plan(uri, s.data.shard_rows, on_bad_file=on_bad_file)
    present = set(polars_schema(ds.schema))
    needed = set(input_columns(run.model.spec)) | {c for c in (run.id_column,) if c}
    lacking = sorted(c for c in needed if c not in present)
    if lacking:
        raise UserError(
            f"The data at data.path '{uri}' lacks the columns {lacking} that the model in "
            f"'{run.path}' needs. Available columns: {', '.join(sorted(present))}."
        )
    families = {c: t for c, t in run.reference.get("schema", {}).items() if c in present}
    return conform(ds, replace(s.quality, schema=families), on_bad_file)


def contract_for(run: ModelRun, ds: Dataset) -> Contract:
    """The training run's row rules; those on the label only when the new data has labels."""
    return contract_on(run, polars_schema(ds.schema), any(sh.marker for sh in ds.shards))


def contract_on(run: ModelRun, schema: dict[str, Any], parse_marker: bool) -> Contract:
    """The training run's row rules over rows of this schema (the label's rules only when the
    schema has the label; ``parse_marker``: values that did not parse break the contract)."""
    s = run.settings
    label = s.data.label if s.data.label in schema else None
    cfg = s.quality
    if label is None:
        keep = {
            k: r
            for k, r in cfg.rules.items()
            if r.column != s.data.label and (r.expr is None or s.data.label not in r.expr)
        }
        cfg = replace(cfg, rules=keep)
    values = (list(run.model.target.classes) or None) if label else None
    weights = s.data.weight_column if s.data.weight_column in schema else None
    c = build_contract(cfg, schema, label, values, weights)
    return replace(c, parse_marker=parse_marker)


def score_job(
    run: ModelRun,
    ds: Dataset,
    out: str | None,
    summary: Summary,
    every_column: bool = False,
    on_bad_file: str = "error",
) -> ScoreJob:
    """Scoring new data: the contract's, the preprocessor's, the id's and label's columns (every
    column when the rows are also profiled); a file that cannot be read: ``on_bad_file``."""
    s = run.settings
    contract = contract_for(run, ds)
    label = s.data.label if s.data.label in ds.columns else None
    id_col = run.id_column if run.id_column in ds.columns else None
    needed = list(ds.columns) if every_column else [*input_columns(run.model.spec)]
    columns = [*(x for x in (id_col, label) if x), *needed, *contract.columns]
    return ScoreJob(
        model=run.model,
        columns=tuple(dict.fromkeys(columns)),
        label=label,
        id_column=id_col,
        contract=contract,
        out=out,
        summary=summary,
        on_bad_file=on_bad_file,
    )
