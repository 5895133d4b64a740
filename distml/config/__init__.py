"""Typed config schemas: the Hydra config tree in conf/ is composed on top of these dataclasses.

One module per config group, named like the group and like the code it configures
(``conf/sampling/`` -> ``distml/config/sampling.py`` -> ``distml/sampling/``). Each default is
written once, here; the YAML files in conf/ only choose group options and override. Every command
has its own root schema and primary config (``conf/<command>.yaml``). A misspelt key or a wrong
type fails when the config is composed; value checks live in each dataclass's ``__post_init__``
and run when the driver converts the composed config to objects (``to_settings``). Workers only
ever receive these plain, picklable dataclasses.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from distml.config.cache import CacheConfig
from distml.config.cluster import ClusterConfig
from distml.config.curve import CurveConfig
from distml.config.data import DataConfig
from distml.config.eval import EvalConfig
from distml.config.ingest import IngestConfig
from distml.config.model import ModelConfig
from distml.config.monitor import MonitorConfig
from distml.config.pipeline import STAGES, PipelineConfig
from distml.config.preprocess import ColumnSteps, PreprocessConfig
from distml.config.profile import ProfileConfig
from distml.config.quality import GateConfig, QualityConfig, RuleConfig
from distml.config.retrain import RetrainConfig
from distml.config.sampling import SamplingConfig, SplitConfig
from distml.config.serve import AutoscalingConfig, ServeConfig
from distml.config.sweep import SweepConfig
from distml.config.synthetic import SyntheticConfig
from distml.errors import ConfigError, UserError

__all__ = [
    "STAGES",
    "AutoscalingConfig",
    "CacheConfig",
    "ClusterConfig",
    "CurveConfig",
    "CurveSettings",
    "ColumnSteps",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "GateConfig",
    "GenerateSettings",
    "IngestConfig",
    "IngestSettings",
    "ModelConfig",
    "MonitorConfig",
    "MonitorSettings",
    "PipelineConfig",
    "PredictSettings",
    "PromoteSettings",
    "PreprocessConfig",
    "ProfileConfig",
    "QualityConfig",
    "RetrainConfig",
    "RetrainSettings",
    "RollbackSettings",
    "RuleConfig",
    "RunSettings",
    "SamplingConfig",
    "ServeConfig",
    "ServeSettings",
    "Settings",
    "SplitConfig",
    "SweepConfig",
    "SyntheticConfig",
    "compose_settings",
    "conf_dir",
    "load_saved",
    "register_configs",
    "renamed_key",
    "to_settings",
]


@dataclass
class RunSettings:
    """``distml run``: the pipeline (conf/run.yaml)."""

    seed: int = 0
    """Sample, split, bootstrap and generator seed."""
    data: DataConfig = field(default_factory=DataConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


Settings = RunSettings
"""The settings of a training run (what a run directory's saved config holds)."""


@dataclass
class RetrainSettings(RunSettings):
    """``distml retrain``: the pipeline on new data, then the promotion decision."""

    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    model_run: str | None = None
    """The current model: a training run or model directory (null: <retrain.models_dir>/current)."""


@dataclass
class CurveSettings(RunSettings):
    """``distml curve``: the pipeline's data stages once, then models on nested training sets."""

    curve: CurveConfig = field(default_factory=CurveConfig)


@dataclass
class PredictSettings:
    """``distml predict``: new data scored with a training run's preprocessor and model.

    Only ``data.path``, ``data.on_bad_file`` and ``data.shard_rows`` are read from ``data``; the
    label, id and features are the training run's."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    model_run: str | None = None
    """The training run or model directory to score with."""


@dataclass
class MonitorSettings(PredictSettings):
    """``distml monitor``: new data against a training run's reference."""

    monitor: MonitorConfig = field(default_factory=MonitorConfig)


@dataclass
class GenerateSettings:
    """``distml generate``: the synthetic dataset alone, written to ``data.path`` (or under
    ``synthetic.cache_dir``)."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


@dataclass
class IngestSettings:
    """``distml ingest``: files or a PostgreSQL table or query into sharded Parquet at ``out``."""

    source: str | None = None
    """Files (a file, folder or glob, local or a pyarrow URI) or postgresql://host:port/db
    (credentials from PGPASSWORD, ~/.pgpass or a libpq service file, never in the URI)."""
    out: str | None = None
    """The Parquet dataset to write (a folder, local or a URI)."""
    ingest: IngestConfig = field(default_factory=IngestConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


@dataclass
class PromoteSettings:
    """``distml promote``: a finished run becomes the current model in retrain.models_dir."""

    model_run: str | None = None
    """The finished run (or model directory) to promote."""
    reason: str | None = None
    """Why, for the history."""
    retrain: RetrainConfig = field(default_factory=RetrainConfig)


@dataclass
class RollbackSettings:
    """``distml rollback``: retrain.models_dir/current back to the model before."""

    to: str | None = None
    """The version to make current (null: the one current before the current one's promotion)."""
    reason: str | None = None
    """Why, for the history."""
    retrain: RetrainConfig = field(default_factory=RetrainConfig)


@dataclass
class ServeSettings:
    """``distml serve``: a training run's contract, preprocessor and model behind HTTP."""

    model_run: str | None = None
    """The training run or model directory to serve; models/current is followed as it moves."""
    serve: ServeConfig = field(default_factory=ServeConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


ROOTS = {
    "run": RunSettings,
    "retrain": RetrainSettings,
    "curve": CurveSettings,
    "predict": PredictSettings,
    "monitor": MonitorSettings,
    "generate": GenerateSettings,
    "ingest": IngestSettings,
    "serve": ServeSettings,
    "promote": PromoteSettings,
    "rollback": RollbackSettings,
}

RENAMED = {
    **{
        f"data.{k}": f"synthetic.{k}"
        for k in ("rows", "shards", "positive_rate", "row_group_rows", "drift", "cache_dir")
    },
    **{f"quality.{k}": f"profile.{k}" for k in ("duplicates", "top_k", "freshness_column", "now")},
}
"""Keys that moved: the old name fails with a message naming the new one."""


def renamed_key(override: str) -> str | None:
    """The new name of an override's key that moved, or None."""
    key = override.lstrip("+~").split("=", 1)[0]
    for old, new in RENAMED.items():
        if key == old or key.startswith(old + "."):
            return new + key[len(old) :]
    return None


def register_configs() -> None:
    """Register each command's root schema (``defaults: [<command>_schema]`` in its primary
    config), so that every group file merges onto its typed node.

    Hydra loads plugins from the ``hydra_plugins`` namespace package: distml's sweep launcher
    (hydra/launcher=distml_ray) lives in distml/plugins/, added to sys.path here."""
    from hydra.core.config_store import ConfigStore

    plugins = str(Path(__file__).resolve().parent.parent / "plugins")
    if plugins not in sys.path:
        sys.path.append(plugins)
    cs = ConfigStore.instance()
    for name, node in ROOTS.items():
        cs.store(name=f"{name}_schema", node=node)


def to_settings(cfg: DictConfig) -> Any:
    """Convert a composed config into plain dataclasses, running every ``__post_init__`` check."""
    node = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    try:
        return OmegaConf.to_object(node)
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf wraps errors raised in __post_init__
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, UserError):
            raise cause from None
        raise ConfigError(f"The config could not be read: {exc}") from None


def compose_settings(cmd: str, overrides: list[str]) -> Any:
    """A command's settings composed from conf/ and overrides outside ``distml <command>`` (a
    RayService's application builder)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose(cmd, overrides=overrides)
    return to_settings(cfg)


def load_saved(path: str) -> RunSettings:
    """A run's saved config (``.hydra/config.yaml``, or a model directory's config.yaml) as
    settings; keys written by older versions are moved to their new names first."""
    saved = OmegaConf.to_container(OmegaConf.load(path)) or {}
    assert isinstance(saved, dict)
    for old, new in RENAMED.items():
        group, key = old.split(".")
        if key in (saved.get(group) or {}):
            new_group, new_key = new.split(".")
            saved.setdefault(new_group, {})[new_key] = saved[group].pop(key)
    # the cache's settings interpolate Hydra's runtime (unresolvable outside a run) and do not
    # matter to a finished run
    known = {f for f in RetrainSettings.__dataclass_fields__} - {"cache"}
    saved = {k: v for k, v in saved.items() if k in known}
    return to_settings(OmegaConf.merge(OmegaConf.structured(RetrainSettings), saved))


def conf_dir() -> str:
    """conf/ next to the package (source checkout, Ray job working dir) or in the current dir."""
    candidates = [
        os.environ.get("DISTML_CONFIG_DIR"),
        str(Path(__file__).resolve().parent.parent.parent / "conf"),
        str(Path.cwd() / "conf"),
    ]
    for c in candidates:
        if c and (Path(c) / "run.yaml").is_file():
            return str(Path(c).resolve())
    raise UserError(
        "Cannot find the config folder conf/ (with run.yaml). Run distml from the project "
        "folder, or set DISTML_CONFIG_DIR to the folder that holds run.yaml."
    )
