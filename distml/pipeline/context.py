"""What every stage of a run sees (``RunContext``) and what each leaves in run.json
(``RunRecord``: seconds, rows, rows/s, peak memory, nodes and whether it was reused)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from distml.artifacts import write_json
from distml.cluster.tasks import MapStats, peak_rss_bytes
from distml.config import RunSettings, SamplingConfig
from distml.data.schema import polars_schema
from distml.data.shards import Dataset
from distml.objective import Stopping, task_of
from distml.preprocess.kinds import FeaturePlan, feature_plan
from distml.profile.stage import ProfileResult
from distml.progress import human, say
from distml.quality.contract import Contract
from distml.scoring import Model
from distml.target import Target


@dataclass
class Stage:
    """One stage's entry in run.json while it runs."""

    entry: dict[str, Any]
    stats: MapStats = field(default_factory=MapStats)
    nodes: set[str] = field(default_factory=set)


class RunRecord:
    """run.json: per stage seconds, rows, rows/s, peak memory and whether it was reused."""

    def __init__(self, run_dir: str) -> None:
        self.path = os.path.join(run_dir, "run.json")
        self.data: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "stages": {}}

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        say(name, "start")
        st = Stage({"rows": 0, "cached": False, "start_unix": round(time.time(), 3)})
        t0 = time.perf_counter()
        yield st
        seconds = time.perf_counter() - t0
        e = st.entry
        e["end_unix"] = round(time.time(), 3)
        e["seconds"] = round(seconds, 3)
        e["rows_per_s"] = round(e["rows"] / seconds, 1) if seconds > 0 else None
        e["peak_rss_bytes"] = max(peak_rss_bytes(), st.stats.peak_rss_bytes)
        if st.stats.nodes | st.nodes:
            e["nodes"] = sorted(st.stats.nodes | st.nodes)
        self.data["stages"][name] = e
        self.save()
        rate = human(e["rows_per_s"] or 0)
        say(name, f"done: {human(e['rows'])} rows in {seconds:.1f} s ({rate} rows/s)")

    def decide(self, what: str, verdict: str, reason: str, undo: str, stage: str = "data") -> None:
        """Record an automatic decision (run.json ``decisions``) and say it in the log: what was
        decided, the verdict, the rule or evidence it rests on, and the key that undoes it."""
        self.data.setdefault("decisions", []).append(
            {"what": what, "verdict": verdict, "reason": reason, "undo": undo}
        )
        self.save()
        say(stage, f"{what}: {verdict} ({reason}; {undo})")

    def warn(self, message: str) -> None:
        self.data.setdefault("warnings", []).append(message)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.data)


@dataclass
class RunContext:
    """The run's settings and planned data, and each finished stage's result."""

    settings: RunSettings
    run_dir: str
    record: RunRecord
    dataset: Dataset
    contract: Contract
    target: Target
    profile: ProfileResult | None = None
    spec: dict[str, Any] | None = None
    """The fitted preprocessor (preprocessor.json)."""
    model: Model | None = None
    metrics: dict[str, Any] | None = None
    rules_left_out: dict[str, str] = field(default_factory=dict)
    """Feature columns the profile's rules left out (distml/profile/hygiene.py), with why."""
    stopping: Stopping | None = None
    """The metric early stopping watches (decided once, on the valid rows)."""
    cpus_per_worker: float = 1.0
    """CPUs each training worker reserves: cluster.cpus_per_worker, or when null what the
    session's cluster has (decided once, before training; the settings are left as given)."""

    def out(self, *parts: str) -> str:
        return os.path.join(self.run_dir, *parts)

    @property
    def label_values(self) -> list[Any] | None:
        """The label's classes (None for regression)."""
        return list(self.target.classes) or None

    @property
    def features(self) -> FeaturePlan:
        """The raw feature columns: the data's, less those the profile's rules left out."""
        plan = feature_plan(polars_schema(self.dataset.schema), self.settings.data)
        gone = self.rules_left_out
        if not gone:
            return plan
        return FeaturePlan([c for c in plan.used if c not in gone], {**plan.left_out, **gone})

    @property
    def num_cpus(self) -> float:
        return self.settings.cluster.task_cpus

    @property
    def task(self) -> str:
        return task_of(self.settings.model.params)

    @property
    def sampling(self) -> SamplingConfig:
        """``sampling.*`` with its default strata filled in: the label for classification,
        none for regression (a continuous label is no stratum)."""
        s = self.settings
        strata = s.sampling.strata_of(s.data.label, regression=self.task == "regression")
        return replace(s.sampling, strata=list(strata))
