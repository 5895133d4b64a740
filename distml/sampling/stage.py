"""The sample stage: an exact, reproducible stratified sample and train/valid/test split.

Each row's key is ``splitmix64(splitmix64(id) ^ splitmix64(seed))``; within each stratum the rows
with the smallest keys form the sample (bottom-k), and the split takes the first ranks for train,
the next for valid, the rest for test. The driver holds per-stratum counts, cut keys and at most a
few million candidate keys, never the rows:

1. count (``first_pass``): N_h and the candidate keys, usually done by the profile pass already;
2. plan (``plan``): n_h and split sizes; cuts (``cuts``): each stratum's exact cut keys;
3. write (``select``): each task writes its own part of ``sample/``.

Ties (rows sharing an id share a key) are broken by the row's position in its file, so the order
is total and the sample size exact; for distinct ids the sample is identical for any sharding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from distml.artifacts import write_json
from distml.cluster.tasks import MapStats, map_merge
from distml.config import SamplingConfig
from distml.data.columns import SPLITS
from distml.data.reading import read_shard
from distml.data.shards import Dataset, Shard
from distml.errors import UserError
from distml.progress import say
from distml.sampling.cuts import find_cuts
from distml.sampling.first_pass import (
    CountState,
    PassSpec,
    Precounted,
    candidate_bound,
    count_task,
)
from distml.sampling.plan import Plan, check_columns, make_plan, size_note, target_size
from distml.sampling.select import SampleOutput, strategy
from distml.sampling.strata import Term
from distml.stats.compare import comparison, sample_vs_population
from distml.stats.sketches import NumericSketch


@dataclass(frozen=True)
class SampleJob:
    """What the sample stage needs besides the data and ``sampling.*``."""

    label: str
    id_column: str | None
    seed: int
    out: str
    """The sample/ folder."""
    row_filter: pl.Expr | None = None
    """The data contract's acceptance: only accepted rows are sampled."""
    filter_cols: tuple[str, ...] = ()
    """The columns ``row_filter`` reads."""
    reference: dict | None = None
    """The population's per-column sketches (the profile's): quantile-strata edges and the
    population side of the sample-versus-population report."""
    bytes_per_row: int | None = None
    """float32 bytes of a preprocessed row, for ``sampling.max_memory``."""
    row_weight: str | None = None
    """The rows' own weights (data.weight_column), multiplied into the sample's weights."""
    num_cpus: float = 1.0


def _quantile_sketch_task(
    shard: Shard, cols: tuple[str, ...], row_filter, filter_cols
) -> tuple[dict, int]:
    df = read_shard(shard, list(dict.fromkeys([*cols, *filter_cols])))
    if row_filter is not None:
        df = df.filter(row_filter)
    return {c: NumericSketch.of(df.get_column(c)) for c in cols}, shard.num_rows


def _merge_sketches(a: dict, b: dict) -> dict:
    for c, sk in b.items():
        a[c] = a[c].merge(sk) if c in a else sk
    return a


def _reference(
    ds: Dataset, terms: tuple[Term, ...], job: SampleJob, stats: MapStats | None
) -> dict:
    """The population sketches, with a pass for quantile strata the profile did not sketch."""
    reference = dict(job.reference or {})
    need = tuple(
        t.column
        for t in terms
        if t.kind == "quantile" and not isinstance(reference.get(t.column), NumericSketch)
    )
    if need:
        reference |= map_merge(
            _quantile_sketch_task,
            ds.shards,
            _merge_sketches,
            {},
            args=(need, job.row_filter, job.filter_cols),
            label="sample: quantile bins",
            num_cpus=job.num_cpus,
            stats=stats,
        )
    return reference


def _pass_spec(
    ds: Dataset, cfg: SamplingConfig, job: SampleJob, stats
) -> tuple[PassSpec, dict[str, Any]]:
    """The shard tasks' inputs, and the population sketches (with any quantile strata's)."""
    # a run's cfg is RunContext.sampling, its strata filled in for the task
    strata = cfg.strata_of(job.label, regression=False)
    terms = check_columns(ds, strata, job.label, job.id_column, cfg.time_column)
    if cfg.neyman_column is not None and cfg.neyman_column not in ds.columns:
        raise UserError(
            f"The column '{cfg.neyman_column}' (sampling.neyman_column) is not in the data at "
            f"data.path '{ds.uri}'."
        )
    reference = _reference(ds, terms, job, stats)
    edges = {t.column: reference[t.column].edges(t.bins) for t in terms if t.kind == "quantile"}
    compare_cols = [c for c in ds.columns if c != job.id_column] if cfg.compare_features else []
    where = f"data.path '{ds.uri}'"
    expected = target_size(cfg, ds.num_rows, where, job.bytes_per_row)
    spec = PassSpec(
        terms,
        job.id_column,
        job.seed,
        job.row_filter,
        edges,
        cfg.neyman_column,
        comparison(reference, compare_cols, cfg.report_bins),
        candidate_bound(expected, ds.num_rows),
    )
    return spec, reference


def draw_sample(
    ds: Dataset,
    cfg: SamplingConfig,
    job: SampleJob,
    precounted: Precounted | None = None,
    stats: MapStats | None = None,
) -> dict[str, Any]:
    """Draw the sample into ``job.out`` (Parquet parts) and return sampling_report.json's content.

    ``precounted``: pass 1 as the profile pass did it (counts, candidates and their rows spilled),
    used when its candidate bound is the one this run needs.
    """
    spec, reference = _pass_spec(ds, cfg, job, stats)
    t0 = time.perf_counter()
    if precounted is None or precounted.bound != spec.candidate_bound:
        precounted = None
        counted = map_merge(
            count_task,
            ds.shards,
            CountState.merge,
            CountState(),
            args=(spec, job.filter_cols),
            label="sample: count strata",
            num_cpus=job.num_cpus,
            stats=stats,
        )
    else:
        counted = precounted.state  # pass 1 ran inside the profile pass
    where = f"data.path '{ds.uri}'"
    plan = make_plan(cfg, counted.counts, where, counted.neyman, job.bytes_per_row)
    sized = size_note(cfg, sum(plan.population.values()))
    say(
        "sample",
        f"{sum(plan.sizes.values()):,} of {sum(plan.population.values()):,} rows from "
        f"{len(plan.population)} strata ({cfg.allocation} allocation; {sized})",
    )
    seconds = {"count": time.perf_counter() - t0}
    if precounted is not None:
        seconds["count_task_seconds_in_profile"] = precounted.task_seconds
    t0 = time.perf_counter()
    candidates = counted.candidate_frames() if spec.candidate_bound is not None else None
    banded = find_cuts(ds, spec, plan, job.filter_cols, job.num_cpus, stats, candidates)
    way = strategy(plan, spec, candidates, precounted, job.filter_cols)
    seconds["cuts"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    target = SampleOutput(job.out, tuple(ds.columns), job.row_weight)
    counts, hists = way.run(ds, spec, target, job.num_cpus, stats)
    seconds["select"] = time.perf_counter() - t0
    _check_sizes(plan, counts)
    passes = [
        "count: in the profile pass" if precounted is not None else "count",
        *(["cut keys"] if banded or way.name == "select rows" else []),
        way.name,
    ]
    report = _report(plan, cfg, job, spec, counted, hists, reference)
    report["size"] = sized
    report["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    report["passes"] = passes
    return report


def _check_sizes(plan: Plan, counts: dict[str, dict[str, int]]) -> None:
    """The rows written are the rows planned, per stratum and split (an invariant)."""
    for s in plan.sizes:
        got = counts.get(s, {})
        for split in SPLITS:
            if got.get(split, 0) != plan.split_sizes[s][split]:
                raise AssertionError(
                    f"stratum {s!r} {split}: selected {got.get(split, 0)}, planned "
                    f"{plan.split_sizes[s][split]}"
                )


def _report(
    plan: Plan,
    cfg: SamplingConfig,
    job: SampleJob,
    spec: PassSpec,
    counted: CountState,
    hists: dict[str, list[int]],
    reference: dict[str, Any],
) -> dict[str, Any]:
    features, warnings = sample_vs_population(reference, spec.compare, hists, cfg.psi_warning)
    for w in warnings:
        say("sample", f"warning: {w}")
    strata = {
        s: {
            "population": plan.population[s],
            "sample": plan.sizes[s],
            "weight": plan.weight(s),
            **plan.split_sizes[s],
        }
        for s in sorted(plan.sizes)
    }
    if cfg.allocation == "neyman":
        for s, v in strata.items():
            v["neyman_std"] = counted.neyman[s].std if s in counted.neyman else 0.0
    return {
        "seed": job.seed,
        "strata_columns": list(cfg.strata) if cfg.strata is not None else [job.label],
        "allocation": cfg.allocation,
        "min_per_stratum": cfg.min_per_stratum,
        "population_rows": sum(plan.population.values()),
        "sample_rows": sum(plan.sizes.values()),
        "split_rows": {sp: sum(plan.split_sizes[s][sp] for s in plan.sizes) for sp in SPLITS},
        "quantile_edges": spec.edges,
        "strata": strata,
        "features": features,
        "warnings": warnings,
    }


def write_sampling_report(report: dict, path: str) -> None:
    write_json(path, report)
