"""The pipeline: profile -> sample -> preprocess -> train -> evaluate, with run.json bookkeeping.

Every stage is a map over shards (distml.parallel) except training (Ray Train); all outputs live in
the run directory: run.json, profile.json, quarantine/, sample/, sampling_report.json,
preprocessor.json, features/, model.ubj, feature_importance.json, predictions/, metrics.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from omegaconf import DictConfig

from distml import cache as data_cache
from distml import (
    evaluate,
    generate,
    parallel,
    preprocess,
    profile,
    quality,
    report,
    sample,
    shards,
    sketch,
    train,
)
from distml.config import Settings, to_settings
from distml.errors import GateFailed, UserError
from distml.metrics import BINARY_HEADLINE
from distml.progress import human, say
from distml.runtime import check_gpus, ray_session


class RunRecord:
    """run.json: per stage seconds, rows, rows/s, peak memory and whether it was reused."""

    def __init__(self, run_dir: str, settings: Settings) -> None:
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, "run.json")
        self.data: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "stages": {}}
        self.settings = settings

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        say(name, "start")
        entry: dict[str, Any] = {"rows": 0, "cached": False, "start_unix": round(time.time(), 3)}
        mstats = parallel.MapStats()
        entry["_stats"] = mstats
        t0 = time.perf_counter()
        yield entry
        seconds = time.perf_counter() - t0
        entry["end_unix"] = round(time.time(), 3)
        entry.pop("_stats")
        entry["seconds"] = round(seconds, 3)
        entry["rows_per_s"] = round(entry["rows"] / seconds, 1) if seconds > 0 else None
        entry["peak_rss_bytes"] = max(parallel.peak_rss_bytes(), mstats.peak_rss_bytes)
        nodes = mstats.nodes | set(entry.pop("_nodes", ()))
        if nodes:
            entry["nodes"] = sorted(nodes)
        self.data["stages"][name] = entry
        self.save()
        say(
            name,
            f"done: {human(entry['rows'])} rows in {seconds:.1f} s ({human(entry['rows_per_s'] or 0)} rows/s)",
        )

    def save(self) -> None:
        with open(self.path, "w") as f:
            json.dump(self.data, f, indent=2)


def resolve_data(s: Settings, rec: RunRecord) -> str:
    """The default synthetic dataset's URI: generated on first use, then reused."""
    uri = os.path.abspath(generate.synthetic_path(s.data, s.seed))
    with rec.stage("generate") as st:
        if generate.is_complete(uri):
            st["cached"] = True
            say("generate", f"reusing {uri}")
        else:
            shutil.rmtree(uri, ignore_errors=True)
            generate.generate(s.data, s.seed, uri, num_cpus=s.cluster.task_cpus)
        st["rows"] = s.data.rows
    return uri


def default_strata(s: Settings) -> list[str]:
    """The label for classification; none for regression (a continuous label is no stratum)."""
    return [] if evaluate.task_of(s.model.params) == "regression" else [s.data.label]


def plan_dataset(uri: str, s: Settings) -> shards.Dataset:
    """Plan the shards, conform every file's schema and check columns: metadata only."""
    ds = shards.plan(uri, s.data.shard_rows, on_bad_file=s.data.on_bad_file)
    ds, skipped = quality.conform(ds, s.quality, s.data.on_bad_file)
    if not ds.shards:
        raise UserError(
            f"No rows to read at data.path '{uri}': every file is empty or was skipped "
            f"({len(skipped)} skipped)."
        )
    return check_dataset(replace(ds, bad_files=tuple((f["path"], f["reason"]) for f in skipped)), s)


def ds_skipped(ds: shards.Dataset) -> list[dict[str, str]]:
    return [{"path": p, "reason": r} for p, r in ds.bad_files]


def check_dataset(ds: shards.Dataset, s: Settings) -> shards.Dataset:
    """Column and size checks that need only the Parquet metadata."""
    strata = s.sampling.strata if s.sampling.strata is not None else default_strata(s)
    sample.check_columns(ds, strata, s.data.label, s.data.id_column, s.sampling.time_column)
    preprocess.features_of(
        ds.columns, s.data.label, s.data.id_column, s.data.features, s.data.exclude
    )
    if s.sampling.size is not None:
        sample.target_size(s.sampling, ds.num_rows, f"data.path '{ds.uri}'")
    return ds


def data_stages(
    s: Settings, ds: shards.Dataset, rec: RunRecord, run_dir: str, contract, label_values
) -> dict[str, Any] | None:
    """Profile, sample and preprocess; the fitted preprocessor spec, or None when
    ``pipeline.until`` stops before it."""
    until = s.pipeline.until
    cpus = s.cluster.task_cpus
    out = lambda *p: os.path.join(run_dir, *p)  # noqa: E731
    label, id_col = s.data.label, s.data.id_column
    # the sample stage's counting pass rides on the profile pass when it can
    sampling_cfg = (
        s.sampling
        if s.sampling.strata is not None
        else replace(s.sampling, strata=default_strata(s))
    )
    pre_spec = sample.precount_spec(
        ds,
        sampling_cfg,
        label=label,
        id_column=id_col,
        seed=s.seed,
        row_filter=contract.accepted(),
    )
    with rec.stage("profile") as st:
        prof, reference = profile.run_profile(
            ds,
            contract,
            label=label,
            id_column=id_col,
            out_dir=run_dir,
            num_cpus=cpus,
            stats=st["_stats"],
            duplicates=s.quality.duplicates,
            on_bad_file=s.data.on_bad_file,
            classification=label_values is not None,
            freshness_column=s.quality.freshness_column,
            now=quality.parse_now(s.quality.now),
            top_k=s.quality.top_k,
            sample_spec=pre_spec,
        )
        precounted = prof.pop("_sample", None)
        # a file cut into several shards is named once
        skipped = list(
            {f["path"]: f for f in [*ds_skipped(ds), *prof.pop("_skipped", [])]}.values()
        )
        prof["skipped_files"] = skipped
        prof["empty_files"] = list(ds.empty_files)
        feats = preprocess.features_of(ds.columns, label, id_col, s.data.features, s.data.exclude)
        prof["gates"] = quality.check_gates(prof, s.quality, feats, label, label_values)
        failed = [g for g in prof["gates"] if not g["passed"]]
        prof["quality_passed"] = not failed
        profile.write(prof, out("profile.json"))
        write_reference(out("reference.json"), ds, reference, prof)
        st["rows"] = prof["rows_in"]
        st["rows_quarantined"] = prof["rows_quarantined"]
        if skipped:
            ds = shards.without_files(ds, {f["path"] for f in skipped})
            for f in skipped:
                say("profile", f"skipped {f['path']}: {f['reason']}")
    if failed:
        summary = quality.gate_summary(prof["gates"])
        if s.quality.on_failure == "stop":
            raise GateFailed(
                f"The data quality gate failed before sampling: {summary} (quality.gates). "
                f"profile.json in {run_dir} has every statistic; fix the data, change the "
                "gates, or set quality.on_failure=warn to go on."
            )
        rec.data.setdefault("warnings", []).append(f"data quality gate failed: {summary}")
        rec.save()
        say("profile", f"WARNING: data quality gate failed: {summary} (quality.on_failure=warn)")
    if until == "profile":
        return None

    kinds = preprocess.feature_kinds(shards.polars_schema(ds.schema), feats, s.preprocess)
    with rec.stage("sample") as st:
        srep = sample.run_sample(
            ds,
            sampling_cfg,
            label=label,
            id_column=id_col,
            seed=s.seed,
            out=out("sample"),
            row_filter=contract.accepted(),
            filter_cols=contract.columns,
            num_cpus=cpus,
            stats=st["_stats"],
            reference=reference,
            bytes_per_row=matrix_bytes_per_row(kinds, prof, s),
            precounted=precounted,
        )
        shutil.rmtree(out("_sample_spill"), ignore_errors=True)
        sample.write_report(srep, out("sampling_report.json"))
        st["rows"] = ds.num_rows
        st["sample_rows"] = srep["sample_rows"]
    if until == "sample":
        return None

    with rec.stage("preprocess") as st:
        sds = shards.plan(out("sample"), s.data.shard_rows, what="sample folder")
        spec = preprocess.fit(sds, kinds, s.preprocess, label, id_col, cpus, st["_stats"])
        preprocess.save(spec, out("preprocessor.json"))
        keep = tuple(c for c in (id_col, label, "weight") if c)
        unknown = [c for c in s.eval.slices if c not in ds.columns]
        if unknown:
            raise UserError(
                f"The slice columns {unknown} (eval.slices) are not in the data at data.path "
                f"'{ds.uri}'. Available columns: {', '.join(ds.columns)}."
            )
        split_rows = parallel.map_merge(
            preprocess.apply_shard,
            sds.shards,
            sample._add_counts,
            {},
            args=(spec, out("features"), keep, tuple(s.eval.slices)),
            label="preprocess: apply",
            num_cpus=cpus,
            stats=st["_stats"],
        )
        st["rows"] = sds.num_rows
        st["split_rows"] = split_rows
    return spec


def cached_data_stages(
    s: Settings, ds: shards.Dataset, rec: RunRecord, run_dir: str, contract, label_values
) -> dict[str, Any] | None:
    """The data stages, or their outputs from an earlier run with the same key (cache.dir)."""
    if not s.cache.enabled or s.pipeline.until in ("profile", "sample"):
        return data_stages(s, ds, rec, run_dir, contract, label_values)
    key = data_cache.data_key(s, ds, label_values, evaluate.task_of(s.model.params))
    dc = data_cache.DataCache(s.cache.dir, key)
    entry = dc.lookup()
    if entry is not None:
        data_cache.link_outputs(entry, run_dir)
        for name in data_cache.STAGES:
            rec.data["stages"][name] = {
                **entry["stages"][name],
                "cached": True,
                "source": entry["run_dir"],
                "seconds": 0.0,
            }
            say(name, f"reusing the outputs of {entry['run_dir']} (cache key {key})")
        if entry.get("warnings"):
            rec.data.setdefault("warnings", []).extend(entry["warnings"])
        rec.data["cache_key"] = key
        rec.save()
        return preprocess.load(os.path.join(run_dir, "preprocessor.json"))
    try:
        spec = data_stages(s, ds, rec, run_dir, contract, label_values)
        if spec is not None:
            dc.store(
                run_dir,
                {n: rec.data["stages"][n] for n in data_cache.STAGES},
                rec.data.get("warnings", []),
            )
            rec.data["cache_key"] = key
            rec.save()
        return spec
    finally:
        dc.release()


def run_pipeline(s: Settings, run_dir: str) -> dict[str, Any]:
    os.makedirs(run_dir, exist_ok=True)
    rec = RunRecord(run_dir, s)
    until = s.pipeline.until
    cpus = s.cluster.task_cpus
    out = lambda *p: os.path.join(run_dir, *p)  # noqa: E731
    # Stages write part files; parts left by an earlier run in the same directory would mix in.
    for d in ("quarantine", "sample", "features", "predictions"):
        data_cache.clear(out(d))
    # A user's dataset is planned and checked (and its errors reported) before Ray starts.
    resume_from = train.check_resume(s.model.resume_from)
    ds = plan_dataset(s.data.path, s) if s.data.path else None
    with ray_session(s.cluster):
        check_gpus(s.cluster)
        if ds is None:
            ds = plan_dataset(resolve_data(s, rec), s)
        rec.data["data_path"] = ds.uri
        label, id_col = s.data.label, s.data.id_column
        label_values = quality.expected_labels(s.quality, s.model.params)
        contract = quality.build_contract(
            s.quality, shards.polars_schema(ds.schema), label, label_values
        )
        contract = replace(contract, parse_marker=any(sh.marker for sh in ds.shards))

        spec = cached_data_stages(s, ds, rec, run_dir, contract, label_values)
        if spec is None or until == "preprocess":
            return rec.data

        features = spec["output_columns"]
        fplan = {
            sp: shards.plan(out("features", sp), s.data.shard_rows, what=f"features/{sp}")
            for sp in ("train", "valid", "test")
            if os.path.isdir(out("features", sp))
        }
        if "train" not in fplan:
            raise UserError(
                "The train split is empty; raise sampling.size or sampling.split.train."
            )
        with rec.stage("train") as st:
            # checkpoints of an earlier run in this directory are not this run's (unless resumed)
            if resume_from is None or os.path.abspath(resume_from) != os.path.abspath(out("train")):
                shutil.rmtree(out("train"), ignore_errors=True)
            job = train.TrainJob(
                train=fplan["train"].shards,
                valid=fplan["valid"].shards if "valid" in fplan else (),
                features=tuple(features),
                label=label,
                weight="weight" if s.model.use_sample_weights else None,
                params={**s.model.params, **({"device": "cuda"} if s.cluster.use_gpu else {})},
                num_boost_round=s.model.num_boost_round,
                early_stopping_rounds=s.model.early_stopping_rounds,
                checkpoint_every=s.model.checkpoint_every,
                batch_rows=s.model.batch_rows,
                nthread=max(1, int(s.cluster.cpus_per_worker)),
                external_memory=s.model.external_memory,
            )
            booster, info = train.fit(
                job,
                num_workers=s.cluster.num_workers,
                cpus_per_worker=s.cluster.cpus_per_worker,
                use_gpu=s.cluster.use_gpu,
                storage=shards.join(s.pipeline.output_uri, "train")
                if s.pipeline.output_uri
                else out("train"),
                max_failures=s.cluster.max_failures,
                resume_from=resume_from,
            )
            booster.save_model(out(train.MODEL_FILE))
            with open(out("feature_importance.json"), "w") as f:
                json.dump(train.importance(booster), f, indent=2)
            st["rows"] = fplan["train"].num_rows
            st["rounds"] = booster.num_boosted_rounds()
            st["best_iteration"] = info.get("best_iteration")
            for k in ("workers", "rank_rows", "failures", "resumed_from_rounds"):
                st[k] = info[k]
            if info["failures"]:  # when each checkpoint was stored, when each restart began
                st["checkpoints_written"] = info["checkpoints_written"]
                st["restarted_unix"] = info["restarted_unix"]
            st["_nodes"] = info["nodes"]
            if info["started_from_rounds"]:
                st["started_from_rounds"] = info["started_from_rounds"]
        if until == "train":
            return rec.data

        with rec.stage("evaluate") as st:
            metrics = evaluate.evaluate(
                booster,
                fplan,
                features,
                label=label,
                id_column=id_col,
                params=s.model.params,
                cfg=s.eval,
                seed=s.seed,
                pred_dir=out("predictions"),
                weighted=True,
                num_cpus=cpus,
                stats=st["_stats"],
            )
            st["rows"] = sum(fplan[sp].num_rows for sp in ("valid", "test") if sp in fplan)
            with open(out("metrics.json"), "w") as f:
                json.dump(metrics, f, indent=2)
            if "threshold" in metrics:
                with open(out("threshold.json"), "w") as f:
                    json.dump(metrics["threshold"], f, indent=2)
            add_score_reference(out("reference.json"), out("predictions"))
        with rec.stage("report") as st:
            report.write_report(run_dir, metrics)
        print_summary(metrics, run_dir)
        rec.data["metrics"] = {k: _headline(metrics[k]) for k in ("valid", "test") if k in metrics}
        rec.save()
        gate = metrics.get("gate")
        if gate and not gate["passed"]:
            raise GateFailed(
                f"The model gate failed on test: {'; '.join(gate['reasons'])} (eval.gates). "
                f"Outputs are in {run_dir}; metrics.json has every value."
            )
    return rec.data


HEADLINE = {
    "binary": [*BINARY_HEADLINE, "log_loss"],
    "multiclass": ["rows", "accuracy", "f1_macro", "f1_weighted", "roc_auc_ovr_macro", "log_loss"],
    "regression": ["rows", "rmse", "mae", "r2", "mape"],
}


def _headline(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if not isinstance(v, dict | list)}


def print_summary(metrics: dict[str, Any], run_dir: str) -> None:
    splits = [sp for sp in ("valid", "test") if sp in metrics]
    lines = [f"{'metric':<20}" + "".join(f"{sp:>14}" for sp in splits)]
    for n in HEADLINE[metrics.get("task", "binary")]:
        cells = []
        for sp in splits:
            v = metrics[sp].get(n)
            text = (
                "n/a"
                if v is None
                else (f"{v:,}" if isinstance(v, int) or float(v).is_integer() else f"{v:.4f}")
            )
            cells.append(f"{text:>14}")
        lines.append(f"{n:<20}" + "".join(cells))
    if "threshold" in metrics:
        th = metrics["threshold"]
        lines.append(f"threshold ({th['policy']}, chosen on valid): {th['value']:.6g}")
    if "gate" in metrics:
        lines.append(
            "gate: "
            + (
                "passed"
                if metrics["gate"]["passed"]
                else "FAILED: " + "; ".join(metrics["gate"]["reasons"])
            )
        )
    lines.append(f"report: {os.path.join(run_dir, 'report.html')}")
    print("\n".join(["", f"distml run finished: {run_dir}", *lines]), flush=True)


def matrix_bytes_per_row(kinds: dict[str, str], prof: dict[str, Any], s: Settings) -> int:
    """float32 bytes of one preprocessed row (for sampling.max_memory)."""
    cols = 0
    for c, kind in kinds.items():
        steps = s.preprocess.steps(c)
        col = prof["columns"].get(c, {})
        if kind == "datetime":
            cols += len(s.preprocess.date_parts)
        elif kind == "categorical" and steps["encode"] == "onehot":
            cols += (
                min(int(col.get("distinct") or steps["max_categories"]), steps["max_categories"])
                + 1
            )
        else:
            cols += 1 + (kind == "numeric" and steps["indicator"] and col.get("nulls", 1) > 0)
    return 4 * max(cols, 1)


def write_reference(
    path: str, ds: shards.Dataset, sketches: dict[str, Any], prof: dict[str, Any]
) -> None:
    """reference.json: the training population as monitoring compares new data with it."""
    schema = quality.polars_schema(ds.schema)
    ref = {
        "version": 1,
        "rows": prof["rows_accepted"],
        "schema": {c: quality.family(t) for c, t in schema.items()},
        "label_counts": prof.get("label_counts"),
        "columns": {c: sketch.to_json(sk) for c, sk in sketches.items()},
    }
    with open(path, "w") as f:
        json.dump(ref, f)


def add_score_reference(path: str, pred_dir: str) -> None:
    """The test split's score distribution (the score-drift reference), added to reference.json."""
    import polars as pl

    if not os.path.isfile(path) or not os.path.isdir(pred_dir):
        return
    scores = (
        pl.scan_parquet(os.path.join(pred_dir, "*.parquet"))
        .filter(pl.col("split") == "test")
        .select("score")
        .collect()
        .get_column("score")
    )
    with open(path) as f:
        ref = json.load(f)
    ref["score"] = sketch.to_json(sketch.NumericSketch.of(scores))
    with open(path, "w") as f:
        json.dump(ref, f)


def _run_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


def hydra_run(cfg: DictConfig) -> dict[str, Any]:
    s = to_settings(cfg)
    run_dir = _run_dir()
    try:
        return run_pipeline(s, run_dir)
    finally:
        if s.pipeline.output_uri:
            upload(run_dir, s.pipeline.output_uri)


def upload(run_dir: str, uri: str) -> None:
    """Copy the run directory (following links to cached stage outputs) to ``uri``."""
    import pyarrow.fs as pafs

    fs, root = shards.filesystem(uri)
    t0 = time.perf_counter()
    pafs.copy_files(
        os.path.abspath(run_dir),
        root,
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=fs,
    )
    say("upload", f"copied {run_dir} to {uri} in {time.perf_counter() - t0:.1f} s")


def hydra_generate(cfg: DictConfig) -> dict[str, Any]:
    s = to_settings(cfg)
    uri = s.data.path or os.path.abspath(generate.synthetic_path(s.data, s.seed))
    with ray_session(s.cluster):
        info = generate.generate(s.data, s.seed, uri, num_cpus=s.cluster.task_cpus)
    print(
        f"wrote {s.data.rows:,} rows in {s.data.shards} files to {uri} ({info['seconds']:.1f} s)",
        file=sys.stderr,
    )
    return info
