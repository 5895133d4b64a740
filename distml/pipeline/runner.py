"""``distml run``: the stages in order, each recorded in run.json, stopping after
``pipeline.until``; the data stages (profile, sample, preprocess) reused from an earlier run with
the same inputs and config (distml/cache.py)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from distml import cache as data_cache
from distml.cluster.session import check_gpus
from distml.config import RunSettings
from distml.data.shards import Dataset, plan, polars_schema
from distml.errors import GateFailed, UserError
from distml.model.train import check_resume
from distml.objective import expected_labels
from distml.pipeline import stages
from distml.pipeline.context import RunContext, RunRecord
from distml.preprocess.apply import load
from distml.preprocess.kinds import features_of
from distml.progress import say
from distml.quality.conform import conform
from distml.quality.contract import build_contract
from distml.report import print_summary
from distml.sampling.plan import check_columns, target_size
from distml.synthetic import ensure

DATA_STAGES = ("profile", "sample", "preprocess")


def plan_dataset(uri: str, s: RunSettings) -> Dataset:
    """Plan the shards, conform every file's schema and check columns: metadata only."""
    ds = plan(uri, s.data.shard_rows, on_bad_file=s.data.on_bad_file)
    ds, skipped = conform(ds, s.quality, s.data.on_bad_file)
    if not ds.shards:
        raise UserError(
            f"No rows to read at data.path '{uri}': every file is empty or was skipped "
            f"({len(skipped)} skipped)."
        )
    ds = replace(ds, bad_files=tuple((f["path"], f["reason"]) for f in skipped))
    strata = s.sampling.strata if s.sampling.strata is not None else [s.data.label]
    check_columns(ds, strata, s.data.label, s.data.id_column, s.sampling.time_column)
    features_of(ds.columns, s.data.label, s.data.id_column, s.data.features, s.data.exclude)
    if s.sampling.size is not None:
        target_size(s.sampling, ds.num_rows, f"data.path '{ds.uri}'")
    return ds


def _data_stages(ctx: RunContext) -> bool:
    """Profile, sample and preprocess; False when ``pipeline.until`` stops before the end."""
    until = ctx.settings.pipeline.until
    for name in DATA_STAGES:
        with ctx.record.stage(name) as st:
            getattr(stages, name)(ctx, st)
        if until == name:
            return False
    return True


def _cached_data_stages(ctx: RunContext) -> bool:
    """The data stages, or their outputs from an earlier run with the same key (cache.*)."""
    s = ctx.settings
    if not s.cache.enabled or s.pipeline.until in ("profile", "sample"):
        return _data_stages(ctx)
    key = data_cache.data_key(s, ctx.dataset, ctx.label_values, ctx.task)
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


def run_pipeline(s: RunSettings, run_dir: str) -> dict[str, Any]:
    """Run the pipeline into ``run_dir`` on the current Ray session; run.json's content."""
    os.makedirs(run_dir, exist_ok=True)
    rec = RunRecord(run_dir)
    # Stages write part files; parts left by an earlier run in the same directory would mix in.
    for d in ("quarantine", "sample", "features", "predictions"):
        data_cache.clear(os.path.join(run_dir, d))
    resume_from = check_resume(s.model.resume_from)
    check_gpus(s.cluster)
    if s.data.path:
        ds = plan_dataset(s.data.path, s)
    else:
        with rec.stage("generate") as st:
            uri, st.entry["cached"] = ensure(s.synthetic, s.seed, s.cluster.task_cpus)
            st.entry["rows"] = s.synthetic.rows
        ds = plan_dataset(uri, s)
    rec.data["data_path"] = ds.uri
    label_values = expected_labels(s.quality.label_values, s.model.params)
    contract = build_contract(s.quality, polars_schema(ds.schema), s.data.label, label_values)
    contract = replace(contract, parse_marker=any(sh.marker for sh in ds.shards))
    ctx = RunContext(s, run_dir, rec, ds, contract, label_values)
    if not _cached_data_stages(ctx) or s.pipeline.until == "preprocess":
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
