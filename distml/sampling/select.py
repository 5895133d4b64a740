"""Writing the chosen rows: one strategy per way of finding them, behind one interface.

Each strategy is a map over shards (or groups of shards) whose tasks write their own part of
``sample/`` with the rows' split, stratum and weight, and return per-stratum split counts and
histograms for the sample-versus-population report:

- ``FromSpill``: every chosen row is a candidate the profile pass spilled: read only those files;
- ``FetchChosen``: every chosen row is known by file and position: fetch just those rows;
- ``ScanSelect``: read (strata, id), keep ``(key, file, row) <= cut``, then fetch those rows.

``strategy`` picks the cheapest that applies (as scikit-learn's splitters share one template).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from distml.cluster.tasks import MapStats, cluster_cpus, map_merge
from distml.data.columns import ROW_WEIGHT, SPLIT, STRATUM, WEIGHT, row_weight_column
from distml.data.fs import join, read_ipc, write_parquet
from distml.data.reading import scan_shard
from distml.data.shards import Dataset, Shard
from distml.sampling.first_pass import PassSpec, Precounted, keyed, spill_part
from distml.sampling.plan import Cut, Plan
from distml.stats.compare import histogram, top_and_other
from distml.stats.sketches import CategorySketch

Selected = tuple[dict[str, dict[str, int]], dict[str, list[int]]]
"""Per stratum the rows written to each split, and per compared column its sample histogram."""


@dataclass(frozen=True)
class SampleOutput:
    """Where the sample goes, which columns it keeps, and the rows' own weights (multiplied into
    the sample's weights)."""

    out: str
    columns: tuple[str, ...]
    row_weight: str | None = None


class Selection(ABC):
    """A way to write the chosen rows; ``name`` is what sampling_report.json's ``passes`` says."""

    name: str

    @abstractmethod
    def run(
        self,
        ds: Dataset,
        spec: PassSpec,
        target: SampleOutput,
        num_cpus: float,
        stats: MapStats | None,
    ) -> Selected: ...


def merge_selected(a: Selected, b: Selected) -> Selected:
    for s, d in b[0].items():
        for split, n in d.items():
            a[0].setdefault(s, {}).setdefault(split, 0)
            a[0][s][split] += n
    for c, h in b[1].items():
        a[1][c] = [x + y for x, y in zip(a[1][c], h, strict=True)] if c in a[1] else list(h)
    return a


def _sample_hists(picked: pl.DataFrame, compare: dict[str, tuple[str, list]]) -> dict[str, list]:
    out = {}
    for c, (kind, ref) in compare.items():
        col = picked.get_column(c)
        if kind == "num":
            out[c] = histogram(col, ref)
        else:
            out[c] = top_and_other(CategorySketch.of(col).counts, ref)
    return out


def _emit(shard: Shard, picked: pl.DataFrame, spec: PassSpec, out: str) -> Selected:
    """Write a part of the sample; return its per-stratum split counts and histograms."""
    write_parquet(picked, join(out, f"part-{shard.index:05d}.parquet"))
    counts: dict[str, dict[str, int]] = {}
    for s, split, n in picked.group_by(STRATUM, SPLIT).len().iter_rows():
        counts.setdefault(s, {})[split] = n
    return counts, _sample_hists(picked, spec.compare)


def upto(cut: Cut | None, place: str = "_file") -> pl.Expr:
    """(_key, ``place``, _row) <= cut in that order, for the rows of one stratum (None: no row).
    ``place`` orders ties on the key: the file (the sample) or the shard (the curve's sets)."""
    if cut is None:
        return pl.lit(False)
    k, f, r = pl.lit(cut[0], dtype=pl.UInt64), cut[1], cut[2]
    key, pos, row = pl.col("_key"), pl.col(place), pl.col("_row")
    return (key < k) | ((key == k) & ((pos < f) | ((pos == f) & (row <= r))))


def pick(g: pl.DataFrame, plan: Plan, s: str, keep: Sequence[str]) -> pl.DataFrame:
    """The rows of stratum ``s`` among ``g`` (with _key, _file, _row) that the sample takes:
    ``keep`` columns, with their stratum, split and weight."""
    c0, c1, c2 = plan.cuts[s]
    return g.filter(upto(c2)).select(
        *keep,
        pl.lit(s, dtype=pl.String).alias(STRATUM),
        pl.when(upto(c0))
        .then(pl.lit("train"))
        .when(upto(c1))
        .then(pl.lit("valid"))
        .otherwise(pl.lit("test"))
        .alias(SPLIT),
        pl.lit(plan.weight(s), dtype=pl.Float64).alias(WEIGHT),
    )


def _gather(
    shard: Shard, rows: pl.DataFrame, chosen: pl.DataFrame, target: SampleOutput
) -> pl.DataFrame:
    """The chosen rows with their split, stratum and weight. ``rows`` are in row order and hold
    every chosen row (and maybe others: rows that share a chosen row's id), so each chosen row is
    found by binary search on its position."""
    chosen = chosen.sort("_row")
    at = rows.get_column("_row").to_numpy()
    want = chosen.get_column("_row").to_numpy()
    pos = np.searchsorted(at, want)
    if len(want) and (len(at) == 0 or not np.array_equal(at[np.minimum(pos, len(at) - 1)], want)):
        raise AssertionError(f"the rows read from shard {shard.key} miss chosen rows")
    picked = rows[pos].select(target.columns)
    if target.row_weight == WEIGHT:  # the data's own column named weight
        picked = picked.rename({WEIGHT: ROW_WEIGHT})
    picked = picked.hstack(chosen.select(STRATUM, SPLIT, WEIGHT))
    rw = row_weight_column(target.row_weight)
    if rw is not None:
        picked = picked.with_columns(pl.col(WEIGHT) * pl.col(rw).cast(pl.Float64))
    return picked


def _rows_with_ids(shard: Shard, id_column: str, ids: pl.Series) -> pl.DataFrame:
    """The shard's rows whose id is among ``ids``, in row order (Polars decodes the other
    columns only for the rows that pass the filter)."""
    return (
        scan_shard(shard, None, row_index="_row")
        .filter(pl.col(id_column).is_in(ids.implode()))
        .collect()
        .with_columns(pl.col("_row").cast(pl.Int64))
    )


def chosen_from_candidates(
    plan: Plan, candidates: dict[str, pl.DataFrame] | None, spec: PassSpec
) -> pl.DataFrame | None:
    """The selected rows with their split, if the candidates hold every one of them."""
    if candidates is None or spec.id_column is None:
        return None
    parts = []
    for s, n in plan.sizes.items():
        if n == 0:
            continue
        g = candidates.get(s)
        if g is None or "_id" not in g.columns:
            return None
        picked = pick(g, plan, s, ["_file", "_row", "_id"])
        if picked.height != n:
            return None  # a cut lies above the candidate bound (e.g. a whole stratum is taken)
        parts.append(picked)
    return pl.concat(parts) if parts else None


def _by_shard(ds: Dataset, chosen: pl.DataFrame) -> list[tuple[Shard, pl.DataFrame]]:
    by_file = chosen.partition_by("_file", as_dict=True, include_key=False)
    per_file = Counter(sh.file_index for sh in ds.shards)
    items = []
    for sh in ds.shards:
        part = by_file.get((sh.file_index,))
        if part is not None and per_file[sh.file_index] > 1:  # a row group of a larger file
            lo, hi = sh.row_offset, sh.row_offset + sh.num_rows
            part = part.filter((pl.col("_row") >= lo) & (pl.col("_row") < hi))
        if part is not None and part.height:
            items.append((sh, part))
    return items


def _groups(items: list, n: int) -> list[list]:
    """Consecutive items in ``n`` groups at most (one task and one output part each)."""
    size = max(1, math.ceil(len(items) / max(1, n)))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _spill_task(
    group: list[tuple[Shard, pl.DataFrame]], spec: PassSpec, target: SampleOutput, spill: str
) -> tuple[Selected, int]:
    """Write the chosen rows of a group of shards (one part) from the candidate rows the profile
    pass spilled; the group's first shard names the part."""
    parts = [_gather(sh, read_ipc(spill_part(spill, sh)), chosen, target) for sh, chosen in group]
    state = _emit(group[0][0], pl.concat(parts), spec, target.out)
    return state, sum(sh.num_rows for sh, _ in group)


def _fetch_task(
    group: list[tuple[Shard, pl.DataFrame]], spec: PassSpec, target: SampleOutput
) -> tuple[Selected, int]:
    """Read only the chosen rows of a group of shards and write them as one part."""
    assert spec.id_column is not None
    parts = [
        _gather(sh, _rows_with_ids(sh, spec.id_column, chosen.get_column("_id")), chosen, target)
        for sh, chosen in group
    ]
    state = _emit(group[0][0], pl.concat(parts), spec, target.out)
    return state, sum(sh.num_rows for sh, _ in group)


def _select_task(
    shard: Shard, spec: PassSpec, plan: Plan, target: SampleOutput, filter_cols: tuple[str, ...]
) -> tuple[Selected, int]:
    """Pick the shard's sample rows and write them with split, stratum and weight.

    Two phases: the (strata, id) columns decide which rows are taken; then only those rows are
    read in full (Polars decodes the other columns just for rows whose id passes the filter).
    """
    top = max((c[2][0] for c in plan.cuts.values() if c[2] is not None), default=None)
    if top is None:
        return ({}, {}), shard.num_rows
    keys = keyed(shard, spec, spec.needed(filter_cols), top)
    parts = [
        pick(g, plan, str(name), ["_row"])
        for (name,), g in keys.partition_by(STRATUM, as_dict=True).items()
        if name in plan.cuts
    ]
    chosen = pl.concat(parts) if parts else None
    if chosen is None or chosen.height == 0:
        return ({}, {}), shard.num_rows
    if spec.id_column is None:
        rows = keyed(shard, spec, None)
    else:
        taken = keys.filter(pl.col("_row").is_in(chosen.get_column("_row").implode()))
        rows = _rows_with_ids(shard, spec.id_column, taken.get_column(spec.id_column))
    picked = _gather(shard, rows, chosen, target)
    return _emit(shard, picked, spec, target.out), shard.num_rows


@dataclass
class FromSpill(Selection):
    """Every chosen row is a candidate whose full row the profile pass spilled."""

    chosen: pl.DataFrame
    precounted: Precounted
    name = "write spilled candidates"

    def run(self, ds, spec, target, num_cpus, stats) -> Selected:
        return map_merge(
            _spill_task,
            _groups(_by_shard(ds, self.chosen), 4 * cluster_cpus()),
            merge_selected,
            ({}, {}),
            args=(spec, target, self.precounted.spill),
            label="sample: write rows",
            num_cpus=num_cpus,
            stats=stats,
        )


@dataclass
class FetchChosen(Selection):
    """Every chosen row is known by file and position: fetch just those rows."""

    chosen: pl.DataFrame
    name = "fetch chosen rows"

    def run(self, ds, spec, target, num_cpus, stats) -> Selected:
        return map_merge(
            _fetch_task,
            _groups(_by_shard(ds, self.chosen), 4 * cluster_cpus()),
            merge_selected,
            ({}, {}),
            args=(spec, target),
            label="sample: fetch rows",
            num_cpus=num_cpus,
            stats=stats,
        )


@dataclass
class ScanSelect(Selection):
    """A pass over every shard keeps the rows at or below their stratum's cuts."""

    plan: Plan
    filter_cols: tuple[str, ...]
    name = "select rows"

    def run(self, ds, spec, target, num_cpus, stats) -> Selected:
        return map_merge(
            _select_task,
            ds.shards,
            merge_selected,
            ({}, {}),
            args=(spec, self.plan, target, self.filter_cols),
            label="sample: select rows",
            num_cpus=num_cpus,
            stats=stats,
        )


def strategy(
    plan: Plan,
    spec: PassSpec,
    candidates: dict[str, pl.DataFrame] | None,
    precounted: Precounted | None,
    filter_cols: tuple[str, ...],
) -> Selection:
    """The cheapest way to write the chosen rows that applies."""
    chosen = chosen_from_candidates(plan, candidates, spec)
    if chosen is not None and precounted is not None:
        return FromSpill(chosen, precounted)
    if chosen is not None:
        return FetchChosen(chosen)
    return ScanSelect(plan, filter_cols)
