"""Each stratum's exact cut keys: the (key, file, row) of its last train, valid and sample row.

Candidates from pass 1 settle a cut when they reach its rank (the r-th smallest key by
partition, ties on the key ordered by file and row). Cuts beyond them are found by a band pass
over (strata, id): it counts the keys below a narrow band around each expected cut and returns
only the keys inside it, which pins the exact r-th smallest key (as in ScaSRS, Meng 2013); a
band that misses (odds ~1e-12) is widened and looked up again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from distml.cluster.tasks import MapStats, map_merge
from distml.data.columns import STRATUM
from distml.data.shards import Dataset, Shard
from distml.sampling.first_pass import U64_MAX, PassSpec, add_counts, keyed
from distml.sampling.plan import Cut, Plan

ALL: Cut = (U64_MAX, 1 << 31, 1 << 62)  # a position after every row: "take the whole stratum"
BAND_Z = 7.0


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

    def merge(self, o: BandState) -> BandState:
        add_counts(self.below, o.below)  # type: ignore[arg-type]
        self.inside.extend(x for x in o.inside if x.height)
        if len(self.inside) > 64:
            self.inside = [pl.concat(self.inside)]
        return self


def band_task(
    shard: Shard, spec: PassSpec, bands: pl.DataFrame, filter_cols: tuple[str, ...]
) -> tuple[BandState, int]:
    """One shard's keys below each band (counted) and inside it (returned)."""
    df = keyed(shard, spec, spec.needed(filter_cols)).select(STRATUM, "_key", "_file", "_row")
    j = df.join(bands, on=STRATUM, how="inner")
    below = j.filter(pl.col("_key") < pl.col("lo")).group_by("band").len()
    inside = j.filter((pl.col("_key") >= pl.col("lo")) & (pl.col("_key") <= pl.col("hi")))
    state = BandState(
        dict(zip(below["band"].to_list(), below["len"].to_list(), strict=True)),
        [inside.select("band", "_key", "_file", "_row")],
    )
    return state, shard.num_rows


def kth(g: pl.DataFrame, r: int) -> Cut:
    """The r-th smallest (key, file, row) of ``g`` (1-based), in linear time: the r-th key by
    partition, then the ties on it (rows sharing an id) in (file, row) order."""
    keys = g.get_column("_key").to_numpy()
    v = np.partition(keys, r - 1)[r - 1]
    below = int(np.count_nonzero(keys < v))
    tied = g.filter(pl.col("_key") == v).sort("_file", "_row")
    return int(v), int(tied.item(r - 1 - below, "_file")), int(tied.item(r - 1 - below, "_row"))


def _wanted(plan: Plan) -> dict[int, tuple[str, int, int]]:
    """Fill the cuts that need no search (empty, whole stratum); the others by band id."""
    wanted: dict[int, tuple[str, int, int]] = {}  # band id -> (stratum, cut index, rank)
    for s, n_pop in plan.population.items():
        sz = plan.split_sizes[s]
        ranks = [sz["train"], sz["train"] + sz["valid"], plan.sizes[s]]
        cuts: list[Cut | None] = []
        for i, r in enumerate(ranks):
            if r <= 0:
                cuts.append(None)
            elif r >= n_pop:
                cuts.append(ALL)
            else:
                cuts.append(None)
                wanted[len(wanted)] = (s, i, r)
        plan.cuts[s] = cuts
    return wanted


def find_cuts(
    ds: Dataset,
    spec: PassSpec,
    plan: Plan,
    filter_cols: tuple[str, ...],
    num_cpus: float,
    stats: MapStats | None,
    candidates: dict[str, pl.DataFrame] | None = None,
) -> bool:
    """Fill ``plan.cuts`` with the exact (key, file, row) at each stratum's split and sample ranks.

    ``candidates`` (every key up to a bound, from pass 1) settle the cuts whose rank they reach;
    the rest are found by the band pass. Returns whether the band pass ran."""
    wanted = _wanted(plan)
    for b in list(wanted) if candidates is not None else []:
        s, i, r = wanted[b]
        g = candidates.get(s)  # type: ignore[union-attr]
        if g is not None and r <= g.height:
            plan.cuts[s][i] = kth(g, r)
            del wanted[b]
    searched = bool(wanted)
    z = BAND_Z
    while wanted:
        ids = sorted(wanted)
        bounds = [_band(wanted[b][2], plan.population[wanted[b][0]], z) for b in ids]
        bands = pl.DataFrame(
            {
                "band": ids,
                STRATUM: [wanted[b][0] for b in ids],
                "lo": pl.Series([lo for lo, _ in bounds], dtype=pl.UInt64),
                "hi": pl.Series([hi for _, hi in bounds], dtype=pl.UInt64),
            },
            schema_overrides={"band": pl.Int64},
        )
        state = map_merge(
            band_task,
            ds.shards,
            BandState.merge,
            BandState(),
            args=(spec, bands, filter_cols),
            label="sample: cut keys",
            num_cpus=num_cpus,
            stats=stats,
        )
        empty = {"band": pl.Int64, "_key": pl.UInt64, "_file": pl.Int64, "_row": pl.Int64}
        inside = pl.concat(state.inside) if state.inside else pl.DataFrame(schema=empty)
        ordered = inside.sort("band", "_key", "_file", "_row")
        for (band_id,), group in ordered.group_by("band", maintain_order=True):
            s, i, r = wanted[band_id]
            k = r - state.below.get(band_id, 0)
            if 1 <= k <= group.height:
                row = group.row(k - 1, named=True)
                plan.cuts[s][i] = (int(row["_key"]), int(row["_file"]), int(row["_row"]))
        wanted = {b: w for b, w in wanted.items() if plan.cuts[w[0]][w[1]] is None}
        z *= 4  # a miss has odds ~1e-12; widen and look again for those cuts only
    return searched
