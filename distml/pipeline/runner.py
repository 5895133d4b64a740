"""``distml run``: the stages in order, each recorded in run.json, stopping after
``pipeline.until``; the data stages (profile, sample, preprocess) reused from an earlier run with
the same inputs and config (distml/cache.py)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from distml import cache as data_cache
from distml.cluster.session import check_fits, check_gpus, choose_executor, worker_cpus
from distml.config import RunSettings, SyntheticConfig
from distml.data.columns import MEANING, RESERVED, WEIGHT
from distml.data.schema import polars_schema
from distml.data.shards import Dataset, plan, without_columns
from distml.errors import GateFailed, UserError
from distml.model.train import check_resume
from distml.objective import task_of
from distml.pipeline import stages
from distml.pipeline.context import RunContext, RunRecord
from distml.preprocess.apply import load
from distml.preprocess.kinds import feature_plan
from distml.progress import say
from distml.quality.conform import conform
from distml.quality.contract import build_contract
from distml.quality.infer import infer_text_types
from distml.report import print_summary
from distml.sampling.plan import check_columns, target_size
from distml.synthetic import ensure_synthetic
from distml.target import Target, label_values, resolve

DATA_STAGES = ("profile", "sample", "preprocess")


def _names(ds: Dataset, s: RunSettings) -> tuple[Dataset, RunSettings, list[str]]:
    """Columns named like distml's own (left out when excluded, else an error naming the fix),
    the row weights, and the default id when the data has no 'id' column."""
    d, notes = s.data, []
    exclude = set(d.exclude)
    clashes = []
    for c in [c for c in ds.columns if c in RESERVED]:
        if c == WEIGHT and d.weight_column == WEIGHT:
            continue
        if c in exclude:
            notes.append(f"column '{c}' left out: distml writes {MEANING[c]} (data.exclude)")
            continue
        clashes.append(c)
    if clashes:
        named = " and ".join(f"'{c}' (the name distml gives {MEANING[c]})" for c in clashes)
        hint = (
            " If 'weight' holds row weights (survey or importance weights), set "
            "data.weight_column=weight: training and evaluation use them, and the sample's "
            "weight becomes N_h/n_h times them."
            if WEIGHT in clashes
            else ""
        )
        listed = ",".join([*d.exclude, *clashes])  # with what data.exclude has already
        raise UserError(
            f"The data at data.path '{ds.uri}' has {len(clashes)} column(s) named like those "
            f"distml writes: {named}.{hint} Otherwise rename the columns in the files, or set "
            f"data.exclude=[{listed}] to leave them out (they are then listed in profile.json)."
        )
    ds = without_columns(ds, {c for c in ds.columns if c in RESERVED and c in exclude})
    if d.weight_column is not None:
        ds.require(d.weight_column, "data.weight_column", "Set it to a column of row weights.")
        dt = polars_schema(ds.schema)[d.weight_column]
        if not dt.is_numeric():
            raise UserError(
                f"The row weights '{d.weight_column}' (data.weight_column) are {dt}, not numbers."
            )
    if d.id_column == "id" and "id" not in ds.columns:
        notes.append("no column 'id': each row's id is derived from its content")
        s = replace(s, data=replace(d, id_column=None))
    return ds, s, notes


def plan_dataset(uri: str, s: RunSettings) -> tuple[Dataset, RunSettings, list[str]]:
    """Plan the shards, conform every file's schema and check columns: metadata only. Returns
    the dataset, the settings as the data has them, and notes for run.json."""
    ds = plan(uri, s.data.shard_rows, on_bad_file=s.data.on_bad_file)
    ds, skipped = conform(ds, s.quality, s.data.on_bad_file)
    if not ds.shards:
        raise UserError(
            f"No rows to read at data.path '{uri}': every file is empty or was skipped "
            f"({len(skipped)} skipped)."
        )
    ds = replace(ds, bad_files=tuple((f["path"], f["reason"]) for f in skipped))
    ds.require(s.data.label, "data.label", "Set data.label to one of them.")
    ds, s, notes = _names(ds, s)
    if ds.not_parquet:
        shown = ", ".join(ds.not_parquet[:3]) + (" ..." if len(ds.not_parquet) > 3 else "")
        notes.insert(
            0,
            f"{len(ds.not_parquet)} files under data.path are not Parquet and were not read: "
            f"{shown} (listed in profile.json files_not_parquet)",
        )
    # the label's column is checked for regression too (it must exist either way)
    strata = s.sampling.strata_of(s.data.label, regression=False)
    check_columns(ds, strata, s.data.label, s.data.id_column, s.sampling.time_column)
    feature_plan(polars_schema(ds.schema), s.data)
    if s.sampling.size is not None:
        target_size(s.sampling, ds.num_rows, f"data.path '{ds.uri}'")
    return ds, s, notes


def resolve_target(ds: Dataset, s: RunSettings) -> Target:
    """The label's classes (a pass over the label column for classification)."""
    task = task_of(s.model.params)
    dtype = polars_schema(ds.schema)[s.data.label]
    counts = label_values(ds, s.data.label, s.cluster.task_cpus) if task != "regression" else {}
    target = resolve(
        s.data.label, task, counts, dtype, s.quality.label_values, s.data.positive_label
    )
    k = s.model.params.get("num_class")
    if task == "multiclass" and k is not None and int(k) != len(target.classes):
        raise UserError(
            f"model.params.num_class={k}, but the label '{s.data.label}' has "
            f"{len(target.classes)} classes ({', '.join(map(str, target.classes[:10]))}). Drop "
            "num_class (distml sets it from the data) or list the classes in quality.label_values."
        )
    return target


def _data_stages(ctx: RunContext) -> bool:
    """Profile, sample and preprocess; False when ``pipeline.until`` stops before the end."""
    until = ctx.settings.pipeline.until
    for name in DATA_STAGES:
        with ctx.record.stage(name) as st:
            getattr(stages, name)(ctx, st)
        if until == name:  # stopped before the end, unless preprocess was the last asked for
            return name == DATA_STAGES[-1]
    return True


def cached_data_stages(ctx: RunContext) -> bool:
    """The data stages, or their outputs from an earlier run with the same key (cache.*)."""
    s = ctx.settings
    if not s.cache.enabled or s.pipeline.until in ("profile", "sample"):
        return _data_stages(ctx)
    key = data_cache.data_key(s, ctx.dataset, ctx.target.to_json(), ctx.task)
    dc = data_cache.DataCache(s.cache.dir, key)
    entry = dc.lookup()
    rec = ctx.record
    if entry is not None:
        data_cache.link_outputs(entry, ctx.run_dir)
        for name in DATA_STAGES:
            rec.data["stages"][name] = {
                **entry["stages"][name],
                "cached": True,
                "source": entry["run_dir"],
                "seconds": 0.0,
            }
            say(name, f"reusing the outputs of {entry['run_dir']} (cache key {key})")
        rec.data.setdefault("warnings", []).extend(entry.get("warnings", []))
        rec.data["cache_key"] = key
        rec.save()
        ctx.spec = load(ctx.out("preprocessor.json"))
        return True
    try:
        done = _data_stages(ctx)
        if done:
            stages_ = {n: rec.data["stages"][n] for n in DATA_STAGES}
            dc.store(ctx.run_dir, stages_, rec.data.get("warnings", []))
            rec.data["cache_key"] = key
            rec.save()
        return done
    finally:
        dc.release()


def _executor(s: RunSettings, rec: RunRecord, rows: int, workers: int | None, key: str) -> None:
    """Decide where the run's maps and training run (cluster.executor), once; check GPUs."""
    if "executor" in rec.data:
        return
    rec.data["executor"] = choose_executor(s.cluster, rows, workers, key)
    check_gpus(s.cluster)


def prepare(
    s: RunSettings, run_dir: str, workers: int | None = None, key: str = "cluster.num_workers"
) -> RunContext:
    """The run's context: its directory cleared of earlier part files, the data planned and
    checked (metadata only), the label's classes and the contract. ``workers``: training workers
    per model (default cluster.num_workers, set by the config key ``key``), for the choice of
    executor."""
    os.makedirs(run_dir, exist_ok=True)
    rec = RunRecord(run_dir)
    # Stages write part files; parts left by an earlier run in the same directory would mix in.
    for d in ("quarantine", "sample", "features", "predictions"):
        data_cache.clear(os.path.join(run_dir, d))
    uri = s.data.path
    if uri and s.synthetic != SyntheticConfig():
        # from a preset (experiment=...): the command line's own synthetic.* overrides with a
        # data.path are refused before the run (distml/cli.py)
        rec.warn(
            f"synthetic.* settings are unused: they describe the generated dataset, and "
            f"data.path is '{uri}'"
        )
        say("data", rec.data["warnings"][-1])
    if not uri:
        _executor(s, rec, s.synthetic.rows, workers, key)
        with rec.stage("generate") as st:
            uri, st.entry["cached"] = ensure_synthetic(s.synthetic, s.seed, s.cluster.task_cpus)
            st.entry["rows"] = s.synthetic.rows
    ds, s, notes = plan_dataset(uri, s)
    _executor(s, rec, ds.num_rows, workers, key)
    rec.data["data_path"] = ds.uri
    for n in notes:
        say("data", n)
        rec.warn(n)
    for col, spelled in ds.notes.get("spellings", {}).items():
        rec.decide(
            f"columns {' and '.join(map(repr, spelled))}",
            f"one column '{col}'",
            "names equal after case-folding and normalising spaces and punctuation; "
            f"files per spelling: {spelled}",
            "quality.match_names=exact keeps them apart",
        )
    for col, why in ds.notes.get("left_out", {}).items():
        rec.decide(f"column '{col}'", "left out of the data", why, "fix the files' types")
    ds, said = infer_text_types(ds, s.quality, s.cluster.task_cpus, None, s.data.on_bad_file)
    for col, line in said:
        rec.decide(
            f"type of column '{col}'",
            ds.notes["inferred"][col],
            line,
            f"quality.schema.{col}=string",
        )
    target = resolve_target(ds, s)
    classes = list(target.classes) or None
    contract = build_contract(
        s.quality, polars_schema(ds.schema), s.data.label, classes, s.data.weight_column
    )
    contract = replace(contract, parse_marker=any(sh.marker for sh in ds.shards))
    return RunContext(s, run_dir, rec, ds, contract, target)


def run_pipeline(s: RunSettings, run_dir: str) -> dict[str, Any]:
    """Run the pipeline into ``run_dir`` on the current Ray session; run.json's content."""
    resume_from = check_resume(s.model.resume_from)
    ctx = prepare(s, run_dir)
    s, rec = ctx.settings, ctx.record
    if s.pipeline.until not in DATA_STAGES:
        ctx.cpus_per_worker = worker_cpus(s.cluster, s.cluster.num_workers)
        check_fits(s.cluster.num_workers, ctx.cpus_per_worker, "cluster.num_workers")
    if not cached_data_stages(ctx) or s.pipeline.until == "preprocess":
        return rec.data
    with rec.stage("train") as st:
        stages.train(ctx, st, resume_from)
    if s.pipeline.until == "train":
        return rec.data
    for name in ("evaluate", "report"):
        with rec.stage(name) as st:
            getattr(stages, name)(ctx, st)
    assert ctx.metrics is not None
    print_summary(ctx.metrics, run_dir)
    rec.data["metrics"] = {
        k: {n: v for n, v in ctx.metrics[k].items() if not isinstance(v, dict | list)}
        for k in ("valid", "test")
        if k in ctx.metrics
    }
    rec.save()
    gate = ctx.metrics.get("gate")
    if gate and not gate["passed"]:
        raise GateFailed(
            f"The model gate failed on test: {'; '.join(gate['reasons'])} (eval.gates). "
            f"Outputs are in {run_dir}; metrics.json has every value."
        )
    return rec.data
