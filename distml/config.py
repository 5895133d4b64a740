"""Typed config schemas: the Hydra config tree in conf/ is composed on top of these dataclasses.

A misspelt key or a wrong type fails when the config is composed; value checks live in each
dataclass's ``__post_init__`` and run when the driver converts the composed config to objects
(``to_settings``). Workers only ever receive these plain, picklable dataclasses.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from distml.errors import UserError

STAGES = ("profile", "sample", "preprocess", "train", "evaluate")


class ConfigError(UserError, ValueError):
    """A config value is out of range; the message quotes the key and the value."""


def _as(cls: type, value: Any, key: str) -> Any:
    """A dict from the config (or an instance) as ``cls``, naming the key of an unknown field.

    Dicts of dataclasses are typed ``dict[str, Any]`` in the schema because Hydra cannot add a
    new entry to a ``Dict[str, Dataclass]`` from the command line; they are checked here."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(
            f"The '{key}' entry must be a mapping of {cls.__name__} fields. Got {value!r}."
        )
    known = {f.name for f in fields(cls)}
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ConfigError(
            f"The '{key}' entry has unknown keys {unknown}; allowed: {', '.join(sorted(known))}."
        )
    return cls(**value)


def _check(ok: bool, key: str, expected: str, got: Any) -> None:
    if not ok:
        raise ConfigError(
            f"The '{key}' parameter must be {expected}. Got {got!r}. "
            f"Fix it in your config or on the command line ({key}=...)."
        )


@dataclass
class DataConfig:
    path: str | None = None
    """Folder or glob of Parquet files, local or a pyarrow filesystem URI (s3://, gs://, file://).
    null: the synthetic dataset described by rows/shards/positive_rate, generated on first use
    under ``cache_dir`` and reused afterwards."""
    label: str = "label"
    """The target column."""
    id_column: str | None = "id"
    """Unique row id; null derives a stable id from each row's content."""
    features: list[str] | None = None
    """Model input columns; null: every column except label, id and ``exclude``."""
    exclude: list[str] = field(default_factory=list)
    """Columns never used as features."""
    shard_rows: int = 2_000_000
    """Target rows per shard: larger files are cut at row-group boundaries."""
    # synthetic generator
    rows: int = 1_000_000
    """Generator: number of rows."""
    shards: int = 16
    """Generator: number of Parquet files (one Ray task each)."""
    positive_rate: float = 0.02
    """Generator: share of rows with label 1 (down to 0.0003)."""
    row_group_rows: int = 250_000
    """Generator: rows per Parquet row group."""
    drift: float = 0.0
    """Generator: how far the data moves from the reference distribution (0: none, 1: strong)."""
    cache_dir: str = "data"
    """Generator: where the default synthetic dataset lives (relative to the launch directory)."""
    on_bad_file: str = "error"
    """error: a file that cannot be read (or does not match the schema) stops the run, named;
    skip: leave it out, name it in profile.json and go on."""

    def __post_init__(self) -> None:
        _check(self.rows > 0, "data.rows", "a positive int", self.rows)
        _check(self.shards > 0, "data.shards", "a positive int", self.shards)
        _check(0 < self.positive_rate < 1, "data.positive_rate", "in (0, 1)", self.positive_rate)
        _check(self.shard_rows > 0, "data.shard_rows", "a positive int", self.shard_rows)
        _check(
            self.row_group_rows > 0, "data.row_group_rows", "a positive int", self.row_group_rows
        )
        _check(bool(self.label), "data.label", "a column name", self.label)
        _check(self.drift >= 0, "data.drift", "a magnitude >= 0", self.drift)
        _check(
            self.on_bad_file in ("error", "skip"),
            "data.on_bad_file",
            "one of error, skip",
            self.on_bad_file,
        )


@dataclass
class SplitConfig:
    train: float = 0.7
    valid: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        for name in ("train", "valid", "test"):
            v = getattr(self, name)
            _check(0 <= v <= 1, f"sampling.split.{name}", "a fraction in [0, 1]", v)
        total = self.train + self.valid + self.test
        _check(abs(total - 1) < 1e-9, "sampling.split", "fractions that sum to 1", total)
        _check(self.train > 0, "sampling.split.train", "positive", self.train)


@dataclass
class SamplingConfig:
    size: int | None = 200_000
    """Exact sample size (rows); set null to use ``fraction``."""
    fraction: float | None = None
    """Sample this share of the population (in (0, 1]); used when ``size`` is null."""
    strata: list[str] | None = None
    """Columns whose value combinations form the strata; null: the label."""
    min_per_stratum: int = 1
    """Every stratum present gets at least this many rows (or all of its rows)."""
    split: SplitConfig = field(default_factory=SplitConfig)
    """Train/valid/test fractions, stratified like the sample."""
    allocation: str = "proportional"
    """proportional (n_h ~ N_h), equal, or neyman (n_h ~ N_h * S_h of ``neyman_column``)."""
    neyman_column: str | None = None
    """The numeric column whose per-stratum standard deviation drives Neyman allocation."""
    max_memory: str | None = None
    """With size and fraction null: the largest sample whose float32 training matrix fits this
    many bytes (e.g. 4GiB)."""
    time_column: str | None = None
    """The datetime column that bare 'day'/'week'/'month' strata bucket (null: the first one)."""
    compare_features: bool = True
    """Compare each column's sample distribution with the population's (PSI, KS)."""
    report_bins: int = 10
    """Quantile bins per numeric feature in that comparison."""
    psi_warning: float = 0.1
    """Warn when a feature's PSI between sample and population exceeds this."""

    def __post_init__(self) -> None:
        if self.size is not None:
            _check(self.size > 0, "sampling.size", "a positive int or null", self.size)
        if self.fraction is not None:
            _check(0 < self.fraction <= 1, "sampling.fraction", "in (0, 1] or null", self.fraction)
        _check(
            self.size is not None or self.fraction is not None or self.max_memory is not None,
            "sampling.size",
            "set (or sampling.fraction, or sampling.max_memory)",
            None,
        )
        _check(
            self.allocation in ("proportional", "equal", "neyman"),
            "sampling.allocation",
            "one of proportional, equal, neyman",
            self.allocation,
        )
        _check(
            self.allocation != "neyman" or bool(self.neyman_column),
            "sampling.neyman_column",
            "set when sampling.allocation=neyman",
            self.neyman_column,
        )
        _check(self.report_bins >= 2, "sampling.report_bins", "an int >= 2", self.report_bins)
        _check(
            self.min_per_stratum >= 0,
            "sampling.min_per_stratum",
            "an int >= 0",
            self.min_per_stratum,
        )


IMPUTE = ("mean", "median", "mode", "constant", "none")
CLIP = ("none", "quantile", "iqr")
SCALE = ("none", "standard", "minmax", "robust")
ENCODE = ("ordinal", "onehot", "frequency")
DATE_PARTS = ("year", "month", "day", "weekday", "hour", "minute", "day_of_year", "epoch_days")


@dataclass
class ColumnSteps:
    """Per-column overrides of the preprocess defaults (null: use the default)."""

    impute: str | None = None
    fill_value: float | None = None
    indicator: bool | None = None
    clip: str | None = None
    log: bool | None = None
    scale: str | None = None
    encode: str | None = None
    min_frequency: int | None = None
    max_categories: int | None = None


@dataclass
class PreprocessConfig:
    """Steps fitted on the train split with full-pass statistics (preprocessor.json).

    Numeric columns: clip -> log -> impute -> scale (each fitted on the previous step's output),
    plus a null indicator. Categorical: ordinal, one-hot or frequency codes with a slot for rare
    and unseen values. Datetimes: date parts. ``derived`` adds features from row expressions."""

    impute: str = "mean"
    """mean | median | mode | constant (fill_value) | none (XGBoost handles the missing value)."""
    fill_value: float = 0.0
    null_indicators: bool = True
    """Add ``<col>__is_null`` for numeric columns that had nulls in train."""
    clip: str = "none"
    """none | quantile (at clip_quantiles) | iqr (Q1 - k*IQR, Q3 + k*IQR with k = iqr_factor)."""
    clip_quantiles: list[float] = field(default_factory=lambda: [0.001, 0.999])
    iqr_factor: float = 1.5
    log: bool = False
    """sign(x) * log1p(|x|) after clipping."""
    scale: str = "none"
    """none | standard (mean, std) | minmax | robust (median, IQR)."""
    encode: str = "ordinal"
    """ordinal (1..K by frequency, 0 = rare/unseen) | onehot (<col>__<value>, <col>__other) |
    frequency (the value's share of train rows; rare/unseen share one slot)."""
    min_frequency: int = 5
    """Categories seen fewer times in train go to the rare/unseen slot."""
    max_categories: int = 1000
    """At most this many categories get their own code (most frequent first)."""
    date_parts: list[str] = field(
        default_factory=lambda: ["month", "weekday", "hour", "day_of_year"]
    )
    """Parts extracted from datetime columns."""
    columns: dict[str, Any] = field(default_factory=dict)
    """Per-column overrides, e.g. {amount: {clip: iqr, log: true, impute: median}}."""
    derived: dict[str, str] = field(default_factory=dict)
    """New features as row expressions over raw columns, e.g. {per_item: 'amount / (1 + n_items)'}."""

    def __post_init__(self) -> None:
        self.columns = {
            k: _as(ColumnSteps, v, f"preprocess.columns.{k}") for k, v in self.columns.items()
        }
        bad = [p for p in self.date_parts if p not in DATE_PARTS]
        _check(not bad, "preprocess.date_parts", f"a list from {list(DATE_PARTS)}", bad)
        for key, prefix in [
            ("", "preprocess"),
            *[(c, f"preprocess.columns.{c}") for c in self.columns],
        ]:
            src = self.columns[key] if key else self
            for name, allowed in (
                ("impute", IMPUTE),
                ("clip", CLIP),
                ("scale", SCALE),
                ("encode", ENCODE),
            ):
                v = getattr(src, name)
                if v is not None:
                    _check(v in allowed, f"{prefix}.{name}", f"one of {', '.join(allowed)}", v)
            mf = src.min_frequency
            if mf is not None:
                _check(mf >= 1, f"{prefix}.min_frequency", "an int >= 1", mf)
            mc = src.max_categories
            if mc is not None:
                _check(mc >= 1, f"{prefix}.max_categories", "an int >= 1", mc)
        lo_hi = self.clip_quantiles
        _check(
            len(lo_hi) == 2 and 0 <= lo_hi[0] < lo_hi[1] <= 1,
            "preprocess.clip_quantiles",
            "two quantiles [low, high] with 0 <= low < high <= 1",
            lo_hi,
        )
        _check(self.iqr_factor > 0, "preprocess.iqr_factor", "positive", self.iqr_factor)

    def steps(self, column: str) -> dict[str, Any]:
        """The resolved steps of one column (defaults with its overrides)."""
        o = self.columns.get(column, ColumnSteps())
        pick = lambda name, default: default if getattr(o, name) is None else getattr(o, name)  # noqa: E731
        return {
            "impute": pick("impute", self.impute),
            "fill_value": pick("fill_value", self.fill_value),
            "indicator": pick("indicator", self.null_indicators),
            "clip": pick("clip", self.clip),
            "log": pick("log", self.log),
            "scale": pick("scale", self.scale),
            "encode": pick("encode", self.encode),
            "min_frequency": pick("min_frequency", self.min_frequency),
            "max_categories": pick("max_categories", self.max_categories),
        }


@dataclass
class ModelConfig:
    params: dict[str, Any] = field(
        default_factory=lambda: {
            "objective": "binary:logistic",
            "eval_metric": ["logloss", "aucpr"],
            "tree_method": "hist",
            "max_depth": 6,
            "eta": 0.1,
            "max_bin": 256,
        }
    )
    """Passed to ``xgboost.train`` as given (nthread is set from cluster.cpus_per_worker)."""
    num_boost_round: int = 300
    early_stopping_rounds: int | None = 20
    """Stop when the last eval metric on valid has not improved for this many rounds."""
    checkpoint_every: int = 50
    """Report a checkpoint every N rounds (rank 0 writes it)."""
    batch_rows: int = 262_144
    """Rows per batch streamed into the QuantileDMatrix."""
    use_sample_weights: bool = False
    """Train with the sample's inverse-probability weights (column ``weight``)."""
    external_memory: bool = False
    """Build each worker's matrix as an ExtMemQuantileDMatrix cached on local disk (shares larger
    than memory)."""
    resume_from: str | None = None
    """A stopped run's directory: training continues from its newest checkpoint."""

    def __post_init__(self) -> None:
        _check(
            self.num_boost_round > 0,
            "model.num_boost_round",
            "a positive int",
            self.num_boost_round,
        )
        if self.early_stopping_rounds is not None:
            _check(
                self.early_stopping_rounds > 0,
                "model.early_stopping_rounds",
                "a positive int or null",
                self.early_stopping_rounds,
            )
        _check(
            self.checkpoint_every > 0,
            "model.checkpoint_every",
            "a positive int",
            self.checkpoint_every,
        )


@dataclass
class ClusterConfig:
    address: str | None = None
    """null: start a local single-node Ray; else a Ray address such as 'auto' or ray://host:10001."""
    num_workers: int = 2
    """Training workers (Ray Train)."""
    cpus_per_worker: float = 1
    """CPUs reserved by each training worker; XGBoost uses max(1, int(this)) threads."""
    num_cpus: int | None = None
    """CPUs of the local Ray started when address is null (null: all)."""
    task_cpus: float = 1.0
    """CPUs reserved by each shard task."""
    max_failures: int = 1
    """Training restarts from the newest checkpoint after a worker or node failure, this often."""
    use_gpu: bool = False
    """Train on one GPU per worker (XGBoost device=cuda); the cluster must have them."""

    def __post_init__(self) -> None:
        _check(self.num_workers > 0, "cluster.num_workers", "a positive int", self.num_workers)
        _check(
            self.cpus_per_worker > 0,
            "cluster.cpus_per_worker",
            "a positive number",
            self.cpus_per_worker,
        )
        _check(self.task_cpus > 0, "cluster.task_cpus", "positive", self.task_cpus)


@dataclass
class ThresholdConfig:
    policy: str = "max_f1"
    """fixed | max_f1 | min_recall; chosen on valid, applied to test."""
    value: float = 0.5
    """The threshold for policy=fixed."""
    min_recall: float = 0.9
    """For policy=min_recall: the highest-precision threshold whose valid recall >= this."""

    def __post_init__(self) -> None:
        _check(
            self.policy in ("fixed", "max_f1", "min_recall"),
            "eval.threshold.policy",
            "one of fixed, max_f1, min_recall",
            self.policy,
        )
        _check(0 <= self.value <= 1, "eval.threshold.value", "in [0, 1]", self.value)
        _check(0 < self.min_recall <= 1, "eval.threshold.min_recall", "in (0, 1]", self.min_recall)


@dataclass
class EvalConfig:
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    beta: float = 1.0
    """F-beta's beta (beta > 1 weighs recall more)."""
    bins: int | None = None
    """null: exact metrics (one histogram entry per distinct score). An int: scores are rounded
    down to this many bins for bounded memory; the AUC's worst-case error is written beside it."""
    bootstrap: int = 200
    """Poisson-bootstrap replicates for the test split's 95% intervals (0: none)."""
    slices: list[str] = field(default_factory=list)
    """Raw columns whose values get their own test metrics."""
    min_slice_size: int = 100
    """Slices with fewer test rows are listed but not scored."""
    gates: list[str] = field(default_factory=list)
    """Rules on test metrics, e.g. ['recall>=0.9', 'roc_auc>=0.8']; a failure exits non-zero."""

    def __post_init__(self) -> None:
        _check(self.beta > 0, "eval.beta", "positive", self.beta)
        if self.bins is not None:
            _check(self.bins >= 10, "eval.bins", "an int >= 10 or null", self.bins)
        _check(self.bootstrap >= 0, "eval.bootstrap", "an int >= 0", self.bootstrap)
        _check(self.min_slice_size >= 1, "eval.min_slice_size", "an int >= 1", self.min_slice_size)
        from distml.metrics import parse_gate

        for g in self.gates:
            parse_gate(g)


TYPE_FAMILIES = ("int", "float", "numeric", "string", "bool", "datetime", "date", "any")
COERCIONS = ("widen", "parse")


@dataclass
class RuleConfig:
    """One row rule; a row that breaks it goes to quarantine/ with the rule's name.

    Checks on ``column`` pass for null values except ``not_null``; an ``expr`` passes where it is
    true or null."""

    column: str | None = None
    not_null: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[Any] | None = None
    """The values the column may take."""
    pattern: str | None = None
    """A regular expression the (string) value must contain; anchor it with ^...$ for a full match."""
    expr: str | None = None
    """A row expression that must hold, e.g. 'amount >= 0 and n_items < 1000' (distml/expr.py)."""


@dataclass
class GateConfig:
    """Dataset gates, checked on the merged profile before sampling."""

    min_rows: int = 1
    """Accepted rows at least."""
    max_null_rate: dict[str, float] = field(default_factory=dict)
    """Column (or '*' for every column) -> largest allowed share of nulls."""
    allow_all_null: bool = False
    """false: a feature column without a single value fails the gate."""
    max_duplicate_rate: float | None = None
    """Largest share of rows that exactly repeat an earlier row."""
    max_duplicate_id_rate: float | None = None
    """Largest share of rows whose id (data.id_column) repeats an earlier row's."""
    min_label_count: int | None = 1
    """Classification: every expected label value has at least this many accepted rows."""
    max_quarantine_rate: float | None = None
    """Largest share of rows that break a row rule."""
    max_age: str | None = None
    """The newest timestamp of quality.freshness_column is at most this old, e.g. '36h', '7d'."""


@dataclass
class QualityConfig:
    schema: dict[str, str] = field(default_factory=dict)
    """Expected columns and their types (int, float, numeric, string, bool, datetime, date, any);
    empty: the first readable file's schema is the reference."""
    allow_extra_columns: bool = True
    """Columns beyond the reference are ignored (false: a file with extra columns is bad)."""
    coerce: list[str] = field(default_factory=lambda: ["widen"])
    """Allowed type differences between files: widen (int32->int64, float32->float64, int->float,
    an all-null column), parse (strings parsed as the expected type; rows that do not parse are
    quarantined)."""
    label_values: list[Any] | None = None
    """Allowed label values (others are quarantined); null: 0/1 for binary objectives,
    0..num_class-1 for multiclass, any for regression."""
    rules: dict[str, Any] = field(default_factory=dict)
    """Row rules by name; a null label always breaks the built-in rule not_null(<label>)."""
    gates: GateConfig = field(default_factory=GateConfig)
    on_failure: str = "stop"
    """stop: a failed gate ends the run before sampling (exit 3); warn: record it and go on."""
    duplicates: bool = True
    """Count exact duplicate rows and ids (a second, hash-partitioned pass over small files)."""
    freshness_column: str | None = None
    """The timestamp column for freshness (null: the first datetime column)."""
    now: str | None = None
    """The reference time for freshness (ISO 8601; null: the clock)."""
    top_k: int = 10
    """Most frequent values reported per column."""

    def __post_init__(self) -> None:
        _check(
            self.on_failure in ("stop", "warn"),
            "quality.on_failure",
            "one of stop, warn",
            self.on_failure,
        )
        bad = [c for c in self.coerce if c not in COERCIONS]
        _check(not bad, "quality.coerce", f"a list from {list(COERCIONS)}", self.coerce)
        for col, t in self.schema.items():
            _check(
                t in TYPE_FAMILIES, f"quality.schema.{col}", f"one of {', '.join(TYPE_FAMILIES)}", t
            )
        self.rules = {k: _as(RuleConfig, v, f"quality.rules.{k}") for k, v in self.rules.items()}
        for name, r in self.rules.items():
            checks = [
                r.not_null,
                r.min is not None,
                r.max is not None,
                r.allowed is not None,
                r.pattern is not None,
            ]
            _check(
                any(checks) or r.expr is not None,
                f"quality.rules.{name}",
                "a rule with at least one of not_null, min, max, allowed, pattern, expr",
                r,
            )
            _check(
                not any(checks) or r.column is not None,
                f"quality.rules.{name}.column",
                "set for not_null, min, max, allowed and pattern checks",
                r.column,
            )
        g = self.gates
        for key in ("max_duplicate_rate", "max_duplicate_id_rate", "max_quarantine_rate"):
            v = getattr(g, key)
            if v is not None:
                _check(0 <= v <= 1, f"quality.gates.{key}", "a share in [0, 1] or null", v)
        for col, v in g.max_null_rate.items():
            _check(0 <= v <= 1, f"quality.gates.max_null_rate.{col}", "a share in [0, 1]", v)
        _check(self.top_k >= 1, "quality.top_k", "an int >= 1", self.top_k)
        if g.max_age is not None:
            from distml.quality import parse_duration

            parse_duration(g.max_age, "quality.gates.max_age")
        if self.now is not None:
            from distml.quality import parse_now

            parse_now(self.now)


@dataclass
class MonitorConfig:
    psi_warn: float = 0.1
    """A feature, the score or the label with PSI at or above this: status warn."""
    psi_drift: float = 0.25
    """... at or above this: status drift."""
    bins: int = 10
    """Reference-quantile bins per numeric feature and for the score."""
    top_categories: int = 20
    """Categories compared one by one (the rest share one bin)."""
    score_bins: int = 10000
    """Scores are rounded into this many bins for the live metrics (bounded memory)."""

    def __post_init__(self) -> None:
        _check(
            0 < self.psi_warn <= self.psi_drift,
            "monitor.psi_warn",
            "in (0, monitor.psi_drift]",
            self.psi_warn,
        )
        _check(self.bins >= 2, "monitor.bins", "an int >= 2", self.bins)


@dataclass
class RetrainConfig:
    models_dir: str = "models"
    """Promoted models live in <models_dir>/v0001, v0002, ... with a 'current' link to the best."""
    metric: str | None = None
    """Compared on the candidate's test split (null: average_precision for binary, f1_macro for
    multiclass, rmse for regression)."""
    tolerance: float = 0.0
    """The candidate may be this much worse and still be promoted."""

    def __post_init__(self) -> None:
        _check(self.tolerance >= 0, "retrain.tolerance", ">= 0", self.tolerance)


@dataclass
class PipelineConfig:
    until: str | None = None
    """Stop after this stage: profile, sample, preprocess, train or evaluate."""
    output_uri: str | None = None
    """Copy the run directory here when the run ends (s3://, gs://, file:// or a path); the
    training checkpoints go there as the run goes, so a lost driver can resume from them."""

    def __post_init__(self) -> None:
        if self.until is not None:
            _check(
                self.until in STAGES,
                "pipeline.until",
                f"one of {', '.join(STAGES)} or null",
                self.until,
            )


@dataclass
class CacheConfig:
    enabled: bool = True
    """Reuse the data stages (profile, sample, preprocess) of an earlier run with the same inputs
    and config; sweep trials compute them once."""
    dir: str = ".distml-cache"
    """The cache index (small JSON files naming the run that holds the outputs)."""


@dataclass
class SweepConfig:
    metric: str = "valid.average_precision"
    """<split>.<metric> from run.json's metrics ranking the trials of `distml run -m`."""
    direction: str = "maximize"
    """maximize | minimize"""
    max_concurrent: int = 4
    """Trials running at once on the Ray cluster."""
    trial_cpus: float = 0.0
    """CPUs reserved by each trial's driver task (its stages reserve their own)."""

    def __post_init__(self) -> None:
        _check(
            self.direction in ("maximize", "minimize"),
            "sweep.direction",
            "maximize or minimize",
            self.direction,
        )
        _check(
            self.metric.count(".") == 1,
            "sweep.metric",
            "<split>.<metric>, e.g. valid.roc_auc",
            self.metric,
        )
        _check(
            self.max_concurrent > 0, "sweep.max_concurrent", "a positive int", self.max_concurrent
        )


@dataclass
class Settings:
    """The whole run's settings (the composed Hydra config minus Hydra's own node)."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    model_run: str | None = None
    """predict / monitor / retrain: the training run or model directory to use."""
    cache: CacheConfig = field(default_factory=CacheConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


def register_configs() -> None:
    """Register the root schema that conf/config.yaml starts from (``defaults: [distml_schema]``).

    Every group file merges onto its typed node, so unknown keys and wrong types fail at compose time.
    """
    # Hydra loads plugins from the hydra_plugins namespace package: distml's sweep launcher
    # (hydra/launcher=distml_ray) lives in distml/plugins/, added here before Hydra scans.
    plugins = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plugins")
    if plugins not in sys.path:
        sys.path.append(plugins)
    cs = ConfigStore.instance()
    cs.store(name="distml_schema", node=Settings)


def to_settings(cfg: DictConfig) -> Settings:
    """Convert a composed config into plain dataclasses, running every ``__post_init__`` check."""
    node = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    try:
        obj = OmegaConf.to_object(node)
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf wraps errors raised in __post_init__
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, ConfigError):
            raise cause from None
        raise ConfigError(f"The config could not be read: {exc}") from None
    assert isinstance(obj, Settings)
    return obj
