"""The stages of ``distml run``, each a function over the run's context: it calls its package,
writes its outputs into the run directory and fills its run.json entry.

    profile -> sample -> preprocess -> train -> evaluate -> report
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from distml.artifacts import write_json
from distml.cluster.tasks import map_merge
from distml.data.columns import SPLITS, WEIGHT, row_weight_column
from distml.data.fs import join
from distml.data.reading import read_shard
from distml.data.schema import polars_schema
from distml.data.shards import Dataset, Shard, plan, without_files
from distml.errors import GateFailed, UserError, shell_quoted
from distml.eval.evaluate import evaluate_model
from distml.eval.trained_rows import FILE as TRAINED_ROWS
from distml.eval.trained_rows import write_trained_rows
from distml.model.train import MODEL_FILE, Resources, importance, train_booster
from distml.model.worker import TrainJob
from distml.objective import Stopping, stopping_metric
from distml.pipeline.context import RunContext, Stage
from distml.preprocess.apply import apply_shard, save
from distml.preprocess.fit import fit_preprocessor
from distml.preprocess.kinds import FeaturePlan, feature_kinds, matrix_bytes_per_row
from distml.preprocess.separation import scan
from distml.profile.gates import dataset_gates, gate_summary
from distml.profile.hygiene import left_out
from distml.profile.report import ProfileReport
from distml.profile.report import write as write_profile
from distml.profile.stage import SPILL, run_profile
from distml.progress import say
from distml.report import write_run_report
from distml.sampling.first_pass import add_counts, precount_spec
from distml.sampling.stage import SampleJob, draw_sample, write_sampling_report
from distml.scoring import Model
from distml.trained.reference import add_score_reference, write_reference


def profile(ctx: RunContext, st: Stage) -> None:
    """profile.json, quarantine/, reference.json; the dataset gates (exit 3 when they fail)."""
    s, ds = ctx.settings, ctx.dataset
    label, id_col = s.data.label, s.data.id_column
    pre = precount_spec(
        ds,
        ctx.sampling,
        label=label,
        id_column=id_col,
        seed=s.seed,
        row_filter=ctx.contract.accepted(),
    )
    res = run_profile(
        ds,
        ctx.contract,
        s.profile,
        label=label,
        id_column=id_col,
        out_dir=ctx.run_dir,
        on_bad_file=s.data.on_bad_file,
        classification=ctx.label_values is not None,
        sample_spec=pre,
        num_cpus=ctx.num_cpus,
        stats=st.stats,
    )
    ctx.profile = res
    prof = res.report
    # a file cut into several shards is named once
    bad = [{"path": p, "reason": r} for p, r in ds.bad_files]
    skipped = list({f["path"]: f for f in [*bad, *res.skipped]}.values())
    prof.skipped_files = skipped
    prof.empty_files = list(ds.empty_files)
    plan_ = _feature_rules(ctx, prof)
    prof.schema = {**ds.notes, "types": {c: str(t) for c, t in polars_schema(ds.schema).items()}}
    prof.files_not_parquet = list(ds.not_parquet)
    prof.files_ignored = [{"path": p, "reason": r} for p, r in ds.ignored_files]
    if ctx.target.classes:
        prof.label = {**ctx.target.to_json(), "positive": ctx.target.positive}
    prof.gates = dataset_gates(prof, s.quality, plan_.used, label, ctx.label_values)
    failed = [g for g in prof.gates if not g["passed"]]
    prof.quality_passed = not failed
    write_profile(prof, ctx.out("profile.json"))
    write_reference(ctx.out("reference.json"), ds, res.sketches, prof)
    assert prof.timing is not None
    st.entry["rows"] = prof.rows_in
    st.entry["rows_quarantined"] = prof.rows_quarantined
    st.entry["task_seconds"] = prof.timing["task_seconds"]
    st.entry["duplicates_pass_seconds"] = prof.timing["duplicates_pass_seconds"]
    odd = {
        c: " and ".join(f"{e[k]:,} {k}" for k in ("nan", "infinite") if e.get(k))
        for c, e in prof.columns.items()
        if e.get("nan") or e.get("infinite")
    }
    if odd:
        note = (
            f"values that are not finite numbers in {', '.join(f'{c!r} ({v})' for c, v in odd.items())}: "
            "left out of their moments (profile.json 'nan', 'infinite'), and missing to "
            "preprocessing, which imputes them as it does nulls"
        )
        say("profile", note)
        ctx.record.warn(note)
    if skipped:
        ctx.dataset = without_files(ds, {f["path"] for f in skipped})
        for f in skipped:
            say("profile", f"skipped {f['path']}: {f['reason']}")
    if failed:
        summary = gate_summary(prof.gates)
        if s.quality.on_failure == "stop":
            raise GateFailed(
                f"The data quality gate failed before sampling: {summary} (quality.gates). "
                f"profile.json in {ctx.run_dir} has every statistic; fix the data, change the "
                "gates, or set quality.on_failure=warn to go on."
            )
        ctx.record.warn(f"data quality gate failed: {summary}")
        say("profile", f"WARNING: data quality gate failed: {summary} (quality.on_failure=warn)")


def _feature_rules(ctx: RunContext, prof: ProfileReport) -> FeaturePlan:
    """The feature columns after the profile's rules (distml/profile/hygiene.py), each column
    left out recorded as a decision; profile.json ``features``."""
    s = ctx.settings
    if s.data.features is None:  # an explicit feature list turns the rules off
        ctx.rules_left_out = left_out(
            ctx.features.used, prof.columns, prof.rows_in, set(s.data.include)
        )
        for c, why in ctx.rules_left_out.items():
            ctx.record.decide(
                f"column '{c}'",
                "left out of the features",
                why,
                f"data.include=[{c}] keeps it",
                stage="profile",
            )
    plan_ = ctx.features
    gone = {c: f"left out: {why}" for c, why in ctx.dataset.notes.get("left_out", {}).items()}
    prof.features = {"used": plan_.used, "left_out": {**plan_.left_out, **gone}}
    return plan_


def _kinds(ctx: RunContext) -> dict[str, str]:
    return feature_kinds(
        polars_schema(ctx.dataset.schema), ctx.features.used, ctx.settings.preprocess
    )


def sample(ctx: RunContext, st: Stage) -> None:
    """sample/ and sampling_report.json."""
    s, ds = ctx.settings, ctx.dataset
    assert ctx.profile is not None
    job = SampleJob(
        label=s.data.label,
        id_column=s.data.id_column,
        seed=s.seed,
        out=ctx.out("sample"),
        row_filter=ctx.contract.accepted(),
        filter_cols=ctx.contract.columns,
        reference=ctx.profile.sketches,
        bytes_per_row=matrix_bytes_per_row(_kinds(ctx), ctx.profile.report.columns, s.preprocess),
        row_weight=s.data.weight_column,
        num_cpus=ctx.num_cpus,
    )
    rep = draw_sample(ds, ctx.sampling, job, ctx.profile.precounted, st.stats)
    shutil.rmtree(ctx.out(SPILL), ignore_errors=True)
    write_sampling_report(rep, ctx.out("sampling_report.json"))
    st.entry["rows"] = ds.num_rows
    st.entry["sample_rows"] = rep["sample_rows"]


def preprocess(ctx: RunContext, st: Stage) -> None:
    """preprocessor.json (fitted on train) and features/{train,valid,test}/."""
    s, ds = ctx.settings, ctx.dataset
    unknown = [c for c in s.eval.slices if c not in ds.columns]
    if unknown:
        raise UserError(
            f"The slice columns {unknown} (eval.slices) are not in the data at data.path "
            f"'{ds.uri}'. Available columns: {', '.join(ds.columns)}."
        )
    label, id_col = s.data.label, s.data.id_column
    sds = plan(ctx.out("sample"), s.data.shard_rows, what="sample folder")
    kinds = _kinds(ctx)
    spec = fit_preprocessor(
        sds, kinds, s.preprocess, label, id_col, ctx.num_cpus, st.stats, ctx.target
    )
    _feature_warnings(ctx, sds, kinds, spec, st)
    save(spec, ctx.out("preprocessor.json"))
    rw = row_weight_column(s.data.weight_column)
    keep = tuple(c for c in (id_col, label, WEIGHT, rw) if c)
    st.entry["split_rows"] = map_merge(
        apply_shard,
        sds.shards,
        add_counts,
        {},
        args=(spec, ctx.out("features"), keep),
        label="preprocess: apply",
        num_cpus=ctx.num_cpus,
        stats=st.stats,
    )
    st.entry["rows"] = sds.num_rows
    ctx.spec = spec


def _feature_warnings(
    ctx: RunContext, sds: Dataset, kinds: dict[str, str], spec: dict, st: Stage
) -> None:
    """Warnings about features the model gets as they are: a categorical column whose rare and
    unseen values' slot holds most train rows, and (binary) a column that alone separates the
    label almost perfectly (possible leakage)."""
    cfg = ctx.settings.preprocess
    for c, sp in spec["categorical"].items():
        if sp["rare_share"] > cfg.rare_share_warning:
            fix = shell_quoted(f"++preprocess.columns.{c}={{encode: frequency, min_frequency: 1}}")
            ctx.record.warn(
                f"column '{c}': {sp['distinct_in_train']:,} distinct values in train; the "
                f"values without a code of their own (seen fewer than min_frequency times, or "
                f"beyond max_categories) hold {sp['rare_share']:.0%} of train rows and share one "
                f"code ({sp['encode']} encoding). Consider coding each value by its frequency, "
                f"{fix}, a coarser column, or data.exclude=[{c}]"
            )
            say("preprocess", f"warning: {ctx.record.data['warnings'][-1]}")
    if cfg.leakage_auc is None or ctx.task != "binary":
        return
    raw = {c: k for c, k in kinds.items() if c not in cfg.derived}
    found = scan(sds, raw, ctx.target, cfg.leakage_auc, ctx.num_cpus, st.stats)
    for c, auc in found.items():
        ctx.record.warn(
            f"possible leakage: column '{c}' alone separates the label almost perfectly on the "
            f"train split (single-column ROC AUC {auc:.4f} >= preprocess.leakage_auc="
            f"{cfg.leakage_auc}); if it is known only after the outcome, leave it out with "
            f"data.exclude=[{c}]"
        )
        say("preprocess", f"warning: {ctx.record.data['warnings'][-1]}")
    st.entry["leakage_check"] = {"threshold": cfg.leakage_auc, "flagged": found}


def _params(ctx: RunContext) -> dict:
    """model.params, with num_class from the label's classes and the GPU when asked for."""
    s = ctx.settings
    params = dict(s.model.params)
    if ctx.task == "multiclass":
        params["num_class"] = len(ctx.target.classes)
    if s.cluster.use_gpu:
        params["device"] = "cuda"
    return params


def _rarest_class(ctx: RunContext, valid: Sequence[Shard]) -> int | None:
    """Rows of the rarest class among the valid feature shards (None for a regression)."""
    if ctx.task == "regression":
        return None
    label = ctx.settings.data.label
    counts: dict[int, int] = {}
    for sh in valid:
        for k, n in read_shard(sh, [label]).get_column(label).value_counts().iter_rows():
            counts[int(k)] = counts.get(int(k), 0) + n
    k = max(len(ctx.target.classes), 2)
    return min(counts.get(c, 0) for c in range(k))


def stopping(ctx: RunContext, valid: Sequence[Shard]) -> Stopping:
    """The metric early stopping watches (model.stopping_metric, the valid rows' count of the
    rarest class): decided once a run, recorded in run.json, a warning when the asked one is not
    used."""
    if ctx.stopping is None:
        m = ctx.settings.model
        found = stopping_metric(
            m.params, m.stopping_metric, _rarest_class(ctx, valid), m.ranking_min_positives
        )
        ctx.stopping = found
        if found.asked is not None:
            ctx.record.warn(f"early stopping: {found.reason}")
            say("train", f"warning: early stopping: {found.reason}")
        ctx.record.decide(
            "early stopping",
            f"on valid {found.metric or 'the last eval_metric'}, "
            f"patience {m.early_stopping_rounds} rounds",
            found.reason,
            "model.stopping_metric=<metric> (and model.ranking_min_positives=0 for a ranking "
            "metric on few positives), or model.early_stopping_rounds=null",
            stage="train",
        )
    return ctx.stopping


def train_job(ctx: RunContext, train: Sequence[Shard], valid: Sequence[Shard]) -> TrainJob:
    """The training job of the run's settings on the given feature shards."""
    s = ctx.settings
    assert ctx.spec is not None
    params = _params(ctx)
    metric = None
    if valid and s.model.early_stopping_rounds:
        metric = stopping(ctx, valid).metric
        if metric is not None:
            given = params.get("eval_metric") or []
            given = [given] if isinstance(given, str) else list(given)
            params["eval_metric"] = given if metric in given else [*given, metric]
    return TrainJob(
        train=tuple(train),
        valid=tuple(valid),
        features=tuple(ctx.spec["output_columns"]),
        label=s.data.label,
        weight=WEIGHT if s.model.use_sample_weights else row_weight_column(s.data.weight_column),
        params=params,
        num_boost_round=s.model.num_boost_round,
        early_stopping_rounds=s.model.early_stopping_rounds,
        checkpoint_every=s.model.checkpoint_every,
        batch_rows=s.model.batch_rows,
        nthread=max(1, int(ctx.cpus_per_worker)),
        external_memory=s.model.external_memory,
        stopping_metric=metric,
    )


def resources(ctx: RunContext, num_workers: int) -> Resources:
    c = ctx.settings.cluster
    return Resources(num_workers, ctx.cpus_per_worker, c.use_gpu, c.max_failures)


def train(ctx: RunContext, st: Stage, resume_from: str | None) -> None:
    """model.ubj, feature_importance.json and train/checkpoints/."""
    s = ctx.settings
    assert ctx.spec is not None
    fplan = {
        sp: plan(ctx.out("features", sp), s.data.shard_rows, what=f"features/{sp}")
        for sp in SPLITS[:2]
        if os.path.isdir(ctx.out("features", sp))
    }
    if "train" not in fplan:
        raise UserError("The train split is empty; raise sampling.size or sampling.split.train.")
    # checkpoints of an earlier run in this directory are not this run's (unless resumed)
    if resume_from is None or os.path.abspath(resume_from) != os.path.abspath(ctx.out("train")):
        shutil.rmtree(ctx.out("train"), ignore_errors=True)
    job = train_job(ctx, fplan["train"].shards, fplan["valid"].shards if "valid" in fplan else ())
    res = resources(ctx, s.cluster.num_workers)
    out = s.pipeline.output_uri
    storage = join(out, "train") if out else ctx.out("train")
    booster, info = train_booster(job, res, storage, resume_from)
    booster.save_model(ctx.out(MODEL_FILE))
    write_json(ctx.out("feature_importance.json"), importance(booster, job.features))
    sample = plan(ctx.out("sample"), s.data.shard_rows, what="sample folder")
    st.entry["trained_rows"] = write_trained_rows(
        sample.shards, ctx.spec, s.data.label, ctx.out(TRAINED_ROWS), ctx.num_cpus
    )
    e = st.entry
    e["rows"] = fplan["train"].num_rows
    e["rounds"] = booster.num_boosted_rounds()
    e["best_iteration"] = info.best_iteration
    if ctx.stopping is not None:
        e["stopping_metric"] = ctx.stopping.metric
        e["stopping_reason"] = ctx.stopping.reason
    e["workers"], e["rank_rows"] = info.workers, info.rank_rows
    e["failures"], e["resumed_from_rounds"] = info.failures, info.resumed_from_rounds
    e["cpus_per_worker"], e["nthread"] = res.cpus_per_worker, job.nthread
    e["matrix_seconds"], e["boost_seconds"] = info.matrix_seconds, info.boost_seconds
    if info.failures:  # when each checkpoint was stored, when each restart began
        e["checkpoints_written"] = info.checkpoints_written
        e["restarted_unix"] = info.restarted_unix
    if info.started_from_rounds:
        e["started_from_rounds"] = info.started_from_rounds
    st.nodes |= set(info.nodes)
    ctx.model = Model(bytes(booster.save_raw("ubj")), ctx.task, ctx.spec)


def score_model(ctx: RunContext, model: Model, sample: Dataset, out: str, st: Stage) -> dict:
    """The model scored on the sample's valid and test rows with the run's eval.* settings:
    ``out``/predictions/ and ``out``/metrics.json; metrics.json's content."""
    s = ctx.settings
    metrics = evaluate_model(
        model,
        sample,
        label=s.data.label,
        id_column=s.data.id_column,
        row_weight=row_weight_column(s.data.weight_column),
        cfg=s.eval,
        seed=s.seed,
        out=out,
        num_cpus=ctx.num_cpus,
        stats=st.stats,
    )
    write_json(os.path.join(out, "metrics.json"), metrics)
    return metrics


def evaluate(ctx: RunContext, st: Stage) -> None:
    """predictions/, metrics.json, threshold.json; the score reference in reference.json."""
    s = ctx.settings
    assert ctx.model is not None
    sds = plan(ctx.out("sample"), s.data.shard_rows, what="sample folder")
    metrics = score_model(ctx, ctx.model, sds, ctx.run_dir, st)
    st.entry["rows"] = sum(metrics[sp]["rows"] for sp in ("valid", "test") if sp in metrics)
    if "threshold" in metrics:
        write_json(ctx.out("threshold.json"), metrics["threshold"])
    add_score_reference(ctx.out("reference.json"), ctx.out("predictions"))
    ctx.metrics = metrics


def report(ctx: RunContext, st: Stage) -> None:
    """report.html and plots/."""
    assert ctx.metrics is not None
    write_run_report(ctx.run_dir, ctx.metrics)
