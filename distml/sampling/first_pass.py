"""Pass 1 over the population: rows per stratum, Neyman moments, and candidate keys.

Each row's key is ``sample_keys(row_id, seed)``. Besides the counts N_h, the pass keeps every
accepted row whose key lies below ~2x the sampling fraction (the candidates, kept apart by stratum
in the shard tasks): they settle each stratum's exact k-th smallest key without another pass
whenever the allocation is close to proportional. The profile pass runs this on the shard it
already holds (``first_pass``) and spills the candidates' full rows, so the sample stage need
not read the population again; ``count_task`` is the stage's own pass when the profile could not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from distml.config import SamplingConfig
from distml.data.columns import STRATUM
from distml.data.fs import join, write_ipc
from distml.data.reading import scan_shard
from distml.data.schema import polars_schema
from distml.data.shards import Dataset, Shard
from distml.sampling.plan import check_columns, target_size
from distml.sampling.strata import Term, stratum_counts, with_stratum
from distml.stats.keys import row_ids, sample_keys
from distml.stats.moments import NumericStats

U64_MAX = (1 << 64) - 1
CANDIDATE_CAP = 8_000_000  # keys kept by pass 1 at most (about 24 bytes each on the driver)


@dataclass(frozen=True)
class PassSpec:
    """The plain inputs every sampling shard task needs."""

    terms: tuple[Term, ...]
    id_column: str | None
    seed: int
    row_filter: pl.Expr | None = None
    """The data contract's acceptance: only accepted rows are sampled."""
    edges: dict[str, list[float]] = field(default_factory=dict)
    """Quantile-bin edges of the numeric strata columns."""
    neyman_column: str | None = None
    compare: dict[str, tuple[str, list]] = field(default_factory=dict)
    """Columns whose sample distribution is histogrammed: ('num', edges) or ('cat', values)."""
    candidate_bound: int | None = None
    """Pass 1 also returns every key below this bound (exact cuts without a band pass)."""

    @property
    def strata(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.column for t in self.terms))

    def needed(self, extra: Sequence[str] = ()) -> list[str] | None:
        """The columns a pass over (strata, id) reads; None (every column) for content ids."""
        if self.id_column is None:
            return None
        return list(dict.fromkeys([*self.strata, self.id_column, *extra]))


def keyed(
    shard: Shard, spec: PassSpec, columns: Sequence[str] | None, top: int | None = None
) -> pl.DataFrame:
    """The shard's accepted rows with stratum, key, file and row position (only keys <= top).

    Keys are computed with numpy (a splitmix64 expression in Polars re-evaluates its shared
    subexpressions and runs many times slower)."""
    df = scan_shard(shard, columns, row_index="_row").collect()
    keys = sample_keys(row_ids(df.drop("_row"), spec.id_column), spec.seed)
    df = df.with_columns(pl.Series("_key", keys))
    if top is not None:
        df = df.filter(pl.Series(keys <= np.uint64(top)))
    if spec.row_filter is not None:
        df = df.filter(spec.row_filter)
    df = with_stratum(df, spec.terms, spec.edges)
    return df.with_columns(
        pl.lit(shard.file_index, dtype=pl.Int64).alias("_file"), pl.col("_row").cast(pl.Int64)
    )


def add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Add ``b``'s counts into ``a`` (and return it)."""
    for k, v in b.items():
        a[k] = a.get(k, 0) + v
    return a


@dataclass
class CountState:
    """Pass 1's mergeable state."""

    counts: dict[str, int] = field(default_factory=dict)
    neyman: dict[str, NumericStats] = field(default_factory=dict)
    candidates: dict[str, list[pl.DataFrame]] = field(default_factory=dict)
    """Per stratum, every (key, file, row[, id]) with key <= PassSpec.candidate_bound (kept apart
    by stratum in the shard tasks, so the driver never groups millions of rows by name)."""

    def merge(self, o: CountState) -> CountState:
        add_counts(self.counts, o.counts)
        for k, v in o.neyman.items():
            self.neyman[k] = self.neyman[k].merge(v) if k in self.neyman else v
        for s, parts in o.candidates.items():
            mine = self.candidates.setdefault(s, [])
            mine.extend(c for c in parts if c.height)
            if len(mine) > 64:
                self.candidates[s] = [pl.concat(mine)]
        return self

    def candidate_frames(self) -> dict[str, pl.DataFrame]:
        return {s: pl.concat(parts) for s, parts in self.candidates.items() if parts}


@dataclass
class Precounted:
    """Pass 1 as the profile pass did it: its state, candidate bound and spill folder."""

    state: CountState
    bound: int
    spill: str
    task_seconds: float = 0.0
    """What pass 1 added to the profile pass's tasks (summed over shards)."""


def _by_stratum(cand: pl.DataFrame) -> dict[str, list[pl.DataFrame]]:
    """A shard's candidates (with a ``stratum`` column) split by stratum."""
    return {
        str(name): [part.drop(STRATUM)]
        for (name,), part in cand.partition_by(STRATUM, as_dict=True).items()
    }


def count_task(
    shard: Shard, spec: PassSpec, filter_cols: tuple[str, ...]
) -> tuple[CountState, int]:
    """The sample stage's own pass 1 over one shard (strata, id and the contract's columns)."""
    extra = [spec.neyman_column] if spec.neyman_column else []
    df = scan_shard(shard, spec.needed([*filter_cols, *extra])).collect()
    return first_pass(shard, df, spec), shard.num_rows


def first_pass(
    shard: Shard,
    df: pl.DataFrame,
    spec: PassSpec,
    *,
    mixed: np.ndarray | None = None,
    ok: pl.Series | None = None,
    spill: str | None = None,
) -> CountState:
    """Pass 1 on one shard's rows: per-stratum counts (and Neyman moments), and the candidates:
    every accepted row whose key is <= ``spec.candidate_bound``.

    The profile pass calls it on the shard it holds in memory, with ``spill``: the candidates'
    full rows are written there too, so the sample stage reads no population file again when the
    candidates settle every cut. ``mixed`` (``splitmix64`` of the row ids) and ``ok``
    (``spec.row_filter`` of each row) are passed when the caller has them already."""
    keys = sample_keys(row_ids(df, spec.id_column) if mixed is None else mixed, spec.seed, mixed)
    if ok is None:
        ok = (
            df.with_columns(spec.row_filter.fill_null(False).alias("_ok")).get_column("_ok")
            if spec.row_filter is not None
            else pl.Series("_ok", np.ones(df.height, dtype=bool))
        )
    strata = list(spec.strata)
    if strata:
        st = CountState(stratum_counts(df.select(strata).filter(ok), spec.terms, spec.edges))
    else:  # no strata (e.g. regression): one stratum of every accepted row
        n = int(ok.sum())
        st = CountState({"all": n} if n else {})
    if spec.neyman_column:
        part = with_stratum(
            df.select(*strata, spec.neyman_column).filter(ok), spec.terms, spec.edges
        )
        for (name,), g in part.group_by(STRATUM):
            st.neyman[str(name)] = NumericStats.of(g.get_column(spec.neyman_column))
    if spec.candidate_bound is None:
        return st
    idx = np.flatnonzero(ok.to_numpy() & (keys <= np.uint64(spec.candidate_bound)))
    rows = df[idx].with_columns(pl.Series("_row", idx + shard.row_offset, dtype=pl.Int64))
    ident = [pl.col(spec.id_column).alias("_id")] if spec.id_column is not None else []
    cand = rows.select(*strata, "_row", *ident).with_columns(
        pl.Series("_key", keys[idx], dtype=pl.UInt64),
        pl.lit(shard.file_index, dtype=pl.Int64).alias("_file"),
    )
    st.candidates = _by_stratum(
        with_stratum(cand, spec.terms, spec.edges).select(
            STRATUM, "_key", "_file", "_row", *(["_id"] if ident else [])
        )
    )
    if spill is not None and rows.height:  # read back once, soon: no compression
        write_ipc(rows, spill_part(spill, shard))
    return st


def spill_part(spill: str, shard: Shard) -> str:
    """Where a shard's candidate rows are spilled."""
    return join(spill, f"part-{shard.index:05d}.arrow")


def precount_spec(
    ds: Dataset,
    cfg: SamplingConfig,
    *,
    label: str,
    id_column: str | None,
    seed: int,
    row_filter: pl.Expr | None,
) -> PassSpec | None:
    """The pass-1 inputs when the profile pass can do pass 1 too; None when it cannot (quantile
    strata need the profile's sketches first, Neyman allocation per-stratum moments, a sample sized
    by memory the profile's column statistics, a content-derived id every column)."""
    if id_column is None or cfg.allocation == "neyman" or cfg.max_memory is not None:
        return None
    # a run's cfg is RunContext.sampling, its strata filled in for the task
    strata = cfg.strata_of(label, regression=False)
    terms = check_columns(ds, strata, label, id_column, cfg.time_column)
    if any(t.kind == "quantile" for t in terms):
        return None
    expected = target_size(cfg, ds.num_rows, f"data.path '{ds.uri}'")
    bound = candidate_bound(expected, ds.num_rows)
    if bound is None:
        return None
    assert id_column in polars_schema(ds.schema)
    return PassSpec(terms, id_column, seed, row_filter, candidate_bound=bound)


def candidate_bound(expected: int, population: int) -> int | None:
    """Keys below ~2x the sampling fraction: enough for every stratum's cut unless its
    allocation departs from proportional (min_per_stratum, equal, neyman) or it is tiny."""
    if 2 * expected > CANDIDATE_CAP:
        return None
    frac = min(1.0, 2.0 * expected / max(population, 1) + 64.0 / max(population, 1))
    return U64_MAX if frac >= 1 else int(frac * U64_MAX)
