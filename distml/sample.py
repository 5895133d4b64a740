"""Exact, reproducible stratified sampling and train/valid/test split over sharded Parquet.

Each row's key is ``hash(seed, id)``; within each stratum the rows with the smallest keys form the
sample (bottom-k), and the split takes the first ranks for train, the next for valid, the rest for
test. The driver never holds rows, only per-stratum thresholds:

1. counts: one pass over the strata columns gives N_h; the allocation gives n_h and split sizes.
2. thresholds: one pass over (strata, id) counts the keys below a narrow band around each expected
   cut and returns the few keys inside it (as in ScaSRS); the k-th smallest key is then exact.
3. select: one pass over the full rows keeps ``(key, file, row) <= threshold``; each shard task
   writes its own part of ``sample/``.

Ties (rows sharing an id share a key) are broken by the row's position in its file, so the order
is total and the sample size exact; for distinct ids the sample is identical for any sharding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from distml import parallel
from distml.allocation import allocate
from distml.config import SamplingConfig
from distml.errors import UserError
from distml.keys import row_ids, sample_keys, stratum_expr
from distml.progress import say
from distml.shards import Dataset, Shard, join, read_shard, write_parquet

SPLITS = ("train", "valid", "test")
U64_MAX = (1 << 64) - 1
ALL = (U64_MAX, 1 << 31, 1 << 62)  # a position after every row: "take the whole stratum"
BAND_Z = 7.0


@dataclass
class Plan:
    """What the sample stage decided: per stratum N_h, n_h, split sizes and the key cuts."""

    population: dict[str, int]
    sizes: dict[str, int]
    split_sizes: dict[str, dict[str, int]]
    cuts: dict[str, list[tuple[int, int, int] | None]] = field(default_factory=dict)
    """Per stratum, the last (key, file, row) of train, of train+valid and of the sample; None
    means no row."""

    def weight(self, stratum: str) -> float:
        return self.population[stratum] / self.sizes[stratum] if self.sizes[stratum] else 0.0


@dataclass(frozen=True)
class Spec:
    """The plain inputs every shard task needs."""

    strata: tuple[str, ...]
    id_column: str | None
    seed: int
    row_filter: pl.Expr | None = None


def _frame(shard: Shard, spec: Spec, columns: Sequence[str] | None) -> pl.DataFrame:
    df = read_shard(shard, columns)
    df = df.with_columns(
        stratum_expr(spec.strata),
        pl.Series("_key", sample_keys(row_ids(df, spec.id_column), spec.seed)),
        pl.lit(shard.file_index, dtype=pl.Int64).alias("_file"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + shard.row_offset).alias("_row"),
    )
    if spec.row_filter is not None:
        df = df.filter(spec.row_filter)
    return df


def _needed(spec: Spec, extra: Sequence[str] = ()) -> list[str]:
    cols = list(spec.strata) + ([spec.id_column] if spec.id_column else []) + list(extra)
    return list(dict.fromkeys(cols))


# -- pass 1: counts ---------------------------------------------------------------------------


def _count(shard: Shard, spec: Spec, filter_cols: tuple[str, ...]) -> tuple[dict[str, int], int]:
    cols = list(dict.fromkeys([*spec.strata, *filter_cols])) or _needed(spec) or None
    df = read_shard(shard, cols)
    if spec.row_filter is not None:
        df = df.filter(spec.row_filter)
    vc = df.select(stratum_expr(spec.strata)).group_by("stratum").len()
    return dict(zip(vc["stratum"].to_list(), vc["len"].to_list(), strict=True)), shard.num_rows


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    for k, v in b.items():
        a[k] = a.get(k, 0) + v
    return a


# -- pass 2: exact cut keys -------------------------------------------------------------------


def _band(rank: int, n_pop: int, z: float) -> tuple[int, int]:
    """Key range that holds the rank-th smallest of n_pop uniform keys with overwhelming odds."""
    sd = math.sqrt(rank * (1 - rank / n_pop)) + 1
    lo = max(0.0, (rank - z * sd) / n_pop)
    hi = min(1.0, (rank + z * sd) / n_pop)
    return int(lo * U64_MAX) if lo > 0 else 0, U64_MAX if hi >= 1 else int(hi * U64_MAX)


@dataclass
class BandState:
    below: dict[int, int] = field(default_factory=dict)
    inside: list[pl.DataFrame] = field(default_factory=list)


def _band_task(
    shard: Shard, spec: Spec, bands: pl.DataFrame, filter_cols: tuple[str, ...]
) -> tuple[BandState, int]:
    df = _frame(shard, spec, _needed(spec, filter_cols)).select("stratum", "_key", "_file", "_row")
    j = df.join(bands, on="stratum", how="inner")
    below = j.filter(pl.col("_key") < pl.col("lo")).group_by("band").len()
    inside = j.filter((pl.col("_key") >= pl.col("lo")) & (pl.col("_key") <= pl.col("hi")))
    state = BandState(
        dict(zip(below["band"].to_list(), below["len"].to_list(), strict=True)),
        [inside.select("band", "_key", "_file", "_row")],
    )
    return state, shard.num_rows


def _merge_bands(a: BandState, b: BandState) -> BandState:
    _add_counts(a.below, b.below)  # type: ignore[arg-type]
    a.inside.extend(x for x in b.inside if x.height)
    if len(a.inside) > 64:
        a.inside = [pl.concat(a.inside)]
    return a


def _find_cuts(
    ds: Dataset, spec: Spec, plan: Plan, filter_cols: tuple[str, ...], num_cpus: float, stats
) -> None:
    """Fill ``plan.cuts`` with the exact (key, file, row) at each stratum's split and sample ranks."""
    wanted: dict[int, tuple[str, int, int]] = {}  # band id -> (stratum, cut index, rank)
    for s, n_pop in plan.population.items():
        sz = plan.split_sizes[s]
        ranks = [sz["train"], sz["train"] + sz["valid"], plan.sizes[s]]
        cuts: list[tuple[int, int, int] | None] = []
        for i, r in enumerate(ranks):
            if r <= 0:
                cuts.append(None)
            elif r >= n_pop:
                cuts.append(ALL)
            else:
                cuts.append(None)
                wanted[len(wanted)] = (s, i, r)
        plan.cuts[s] = cuts
    z = BAND_Z
    while wanted:
        ids = sorted(wanted)
        bounds = [_band(wanted[b][2], plan.population[wanted[b][0]], z) for b in ids]
        bands = pl.DataFrame(
            {
                "band": ids,
                "stratum": [wanted[b][0] for b in ids],
                "lo": pl.Series([lo for lo, _ in bounds], dtype=pl.UInt64),
                "hi": pl.Series([hi for _, hi in bounds], dtype=pl.UInt64),
            },
            schema_overrides={"band": pl.Int64},
        )
        state = parallel.map_merge(
            _band_task,
            ds.shards,
            _merge_bands,
            BandState(),
            args=(spec, bands, filter_cols),
            label="sample: cut keys",
            num_cpus=num_cpus,
            stats=stats,
        )
        inside = (
            pl.concat(state.inside)
            if state.inside
            else pl.DataFrame(
                schema={"band": pl.Int64, "_key": pl.UInt64, "_file": pl.Int64, "_row": pl.Int64}
            )
        )
        missed: dict[int, tuple[str, int, int]] = {}
        ordered = inside.sort("band", "_key", "_file", "_row")
        for (band_id,), group in ordered.group_by("band", maintain_order=True):
            s, i, r = wanted[band_id]
            k = r - state.below.get(band_id, 0)
            if 1 <= k <= group.height:
                row = group.row(k - 1, named=True)
                plan.cuts[s][i] = (int(row["_key"]), int(row["_file"]), int(row["_row"]))
        for b in ids:
            s, i, r = wanted[b]
            if plan.cuts[s][i] is None:
                missed[b] = wanted[b]
        wanted = missed
        z *= 4  # a miss has odds ~1e-12; widen and look again for those cuts only


# -- pass 3: select ---------------------------------------------------------------------------


def _le(cut: tuple[int, int, int] | None) -> pl.Expr:
    if cut is None:
        return pl.lit(False)
    k, f, r = cut
    key, fil, row = pl.col("_key"), pl.col("_file"), pl.col("_row")
    kk = pl.lit(k, dtype=pl.UInt64)
    return (key < kk) | ((key == kk) & ((fil < f) | ((fil == f) & (row <= r))))


def _select_task(
    shard: Shard, spec: Spec, plan: Plan, out: str, columns: tuple[str, ...]
) -> tuple[dict[str, dict[str, int]], int]:
    df = _frame(shard, spec, list(columns))
    present = df.get_column("stratum").unique().to_list()
    cases_split = []
    cases_in = []
    for s in present:
        c_train, c_valid, c_all = plan.cuts[s]
        is_s = pl.col("stratum") == s
        cases_in.append(is_s & _le(c_all))
        cases_split.append((is_s & _le(c_train), is_s & _le(c_valid)))
    if not present:
        return {}, shard.num_rows
    selected = pl.any_horizontal(cases_in)
    train = pl.any_horizontal([a for a, _ in cases_split])
    valid = pl.any_horizontal([b for _, b in cases_split])
    weights = pl.DataFrame(
        {"stratum": present, "weight": [plan.weight(s) for s in present]},
        schema_overrides={"weight": pl.Float64},
    )
    picked = (
        df.filter(selected)
        .with_columns(
            pl.when(train)
            .then(pl.lit("train"))
            .when(valid)
            .then(pl.lit("valid"))
            .otherwise(pl.lit("test"))
            .alias("split")
        )
        .join(weights, on="stratum", how="left")
        .drop("_key", "_file", "_row")
    )
    if picked.height:
        write_parquet(picked, join(out, f"part-{shard.index:05d}.parquet"))
    counts: dict[str, dict[str, int]] = {}
    for s, split, n in picked.group_by("stratum", "split").len().iter_rows():
        counts.setdefault(s, {})[split] = n
    return counts, shard.num_rows


def _merge_split_counts(a: dict, b: dict) -> dict:
    for s, d in b.items():
        for split, n in d.items():
            a.setdefault(s, {}).setdefault(split, 0)
            a[s][split] += n
    return a


# -- the stage --------------------------------------------------------------------------------


def target_size(cfg: SamplingConfig, n_pop: int, where: str) -> int:
    if cfg.size is not None:
        if cfg.size > n_pop:
            raise UserError(
                f"sampling.size={cfg.size:,} is larger than the population: {where} has "
                f"{n_pop:,} usable rows. Use a smaller sampling.size, or set sampling.size=null "
                "sampling.fraction=1.0 to take every row."
            )
        return cfg.size
    assert cfg.fraction is not None
    return max(1, round(cfg.fraction * n_pop))


def make_plan(cfg: SamplingConfig, population: dict[str, int], where: str) -> Plan:
    n_pop = sum(population.values())
    if n_pop == 0:
        raise UserError(f"{where} has no usable rows to sample. Check data.path and data.label.")
    total = target_size(cfg, n_pop, where)
    floor = {s: cfg.min_per_stratum for s in population}
    sizes = allocate(total, population, population, floor)
    n_valid = round(total * cfg.split.valid)
    n_test = round(total * cfg.split.test)
    test = allocate(n_test, sizes, sizes)
    valid = allocate(n_valid, sizes, {s: sizes[s] - test[s] for s in sizes})
    split_sizes = {
        s: {"train": sizes[s] - valid[s] - test[s], "valid": valid[s], "test": test[s]}
        for s in sizes
    }
    return Plan(population, sizes, split_sizes)


def check_columns(ds: Dataset, strata: Sequence[str], label: str, id_column: str | None) -> None:
    cols = set(ds.columns)
    available = ", ".join(ds.columns)
    if label not in cols:
        raise UserError(
            f"The label column '{label}' (data.label) is not in the data at data.path '{ds.uri}' "
            f"(first file {ds.files[0]}). Available columns: {available}. Set data.label to one of them."
        )
    for c in strata:
        if c not in cols:
            raise UserError(
                f"The stratum column '{c}' (sampling.strata) is not in the data at data.path "
                f"'{ds.uri}'. Available columns: {available}. Fix sampling.strata."
            )
    if id_column is not None and id_column not in cols:
        raise UserError(
            f"The id column '{id_column}' (data.id_column) is not in the data at data.path "
            f"'{ds.uri}'. Available columns: {available}. Set data.id_column to a unique id column, "
            "or data.id_column=null to derive a stable id from each row's content."
        )


def run_sample(
    ds: Dataset,
    cfg: SamplingConfig,
    *,
    label: str,
    id_column: str | None,
    seed: int,
    out: str,
    row_filter: pl.Expr | None = None,
    filter_cols: tuple[str, ...] = (),
    num_cpus: float = 1.0,
    stats: parallel.MapStats | None = None,
) -> dict:
    """Draw the sample into ``out`` (Parquet parts) and return the sampling report."""
    strata = tuple(cfg.strata) if cfg.strata is not None else (label,)
    check_columns(ds, strata, label, id_column)
    spec = Spec(strata, id_column, seed, row_filter)
    population = parallel.map_merge(
        _count,
        ds.shards,
        _add_counts,
        {},
        args=(spec, filter_cols),
        label="sample: count strata",
        num_cpus=num_cpus,
        stats=stats,
    )
    plan = make_plan(cfg, population, f"data.path '{ds.uri}'")
    say(
        "sample",
        f"{sum(plan.sizes.values()):,} of {sum(population.values()):,} rows from {len(population)} strata",
    )
    _find_cuts(ds, spec, plan, filter_cols, num_cpus, stats)
    columns = tuple(dict.fromkeys([*ds.columns]))
    counts = parallel.map_merge(
        _select_task,
        ds.shards,
        _merge_split_counts,
        {},
        args=(spec, plan, out, columns),
        label="sample: select rows",
        num_cpus=num_cpus,
        stats=stats,
    )
    for s in plan.sizes:
        got = counts.get(s, {})
        for split in SPLITS:
            if got.get(split, 0) != plan.split_sizes[s][split]:
                raise AssertionError(
                    f"stratum {s!r} {split}: selected {got.get(split, 0)}, planned "
                    f"{plan.split_sizes[s][split]}"
                )
    return {
        "seed": seed,
        "strata_columns": list(strata),
        "population_rows": sum(population.values()),
        "sample_rows": sum(plan.sizes.values()),
        "split_rows": {sp: sum(plan.split_sizes[s][sp] for s in plan.sizes) for sp in SPLITS},
        "strata": {
            s: {
                "population": plan.population[s],
                "sample": plan.sizes[s],
                "weight": plan.weight(s),
                **plan.split_sizes[s],
            }
            for s in sorted(plan.sizes)
        },
    }


def write_report(report: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
