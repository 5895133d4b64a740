"""Learning curves: nested training sets (exact sizes per stratum, bottom-k by the sampling key,
the same for any sharding), the inverse power law and the recommendation. Expected values come
from independent computations: pure-Python SplitMix64 keys, a seat-by-seat Sainte-Laguë loop,
known curve parameters and hand-made curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from distml.config import CurveConfig
from distml.curve.fit import fit_power_law, recommend
from distml.curve.nested import BAND, assign_bands, cuts, ladder, order_task, sizes_by_stratum
from distml.curve.report import section, summarize, text
from distml.data.columns import SPLIT, STRATUM, WEIGHT
from distml.data.shards import plan

M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """SplitMix64's finalizer (Steele, Lea & Flood 2014), in Python integers."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _key(row_id: int, seed: int) -> int:
    return _splitmix64(_splitmix64(row_id & M64) ^ _splitmix64(seed & M64))


def _sainte_lague_seats(counts: dict[str, int]) -> list[dict[str, int]]:
    """Seat by seat: the next row to the stratum with the largest N_h / (2 s_h + 1) among those
    with rows left, ties to the first stratum by name; the seats after 0, 1, ..., N rows."""
    names = sorted(counts)
    seats = dict.fromkeys(names, 0)
    out = [dict(seats)]
    for _ in range(sum(counts.values())):
        best = max(
            (h for h in names if seats[h] < counts[h]),
            key=lambda h: (counts[h] / (2 * seats[h] + 1), -names.index(h)),
        )
        seats[best] += 1
        out.append(dict(seats))
    return out


def _sample(tmp_path, layout: list[int], seed: int = 0) -> tuple[str, pl.DataFrame]:
    """A sample folder as the sample stage writes it (stratum, split, weight, id, a feature),
    cut into files of the given row counts."""
    rng = np.random.default_rng(seed)
    n = sum(layout)
    df = pl.DataFrame(
        {
            "id": rng.permutation(10 * n)[:n].astype(np.int64),
            "x": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
            STRATUM: rng.choice(["a", "b", "c"], n, p=[0.7, 0.25, 0.05]),
            SPLIT: rng.choice(["train", "valid", "test"], n, p=[0.7, 0.15, 0.15]),
            WEIGHT: np.ones(n),
        }
    )
    root = tmp_path / "sample"
    root.mkdir(parents=True)
    start = 0
    for i, rows in enumerate(layout):
        df[start : start + rows].write_parquet(root / f"part-{i:05d}.parquet")
        start += rows
    return str(root), df


def _training_sets(root: str, sizes: list[int], seed: int) -> list[pl.DataFrame]:
    """Each size's rows: the order pass, the cuts and the band pass over every shard."""
    from distml.data.reading import read_shard

    ds = plan(root, shard_rows=10_000_000)
    holdout = str(Path(root).parent / "holdout")
    order = pl.concat([order_task(sh, "id", seed, holdout)[0] for sh in ds.shards])
    c = cuts(order, sizes)
    banded = pl.concat(
        [assign_bands(sh, read_shard(sh), cuts=c, id_column="id", seed=seed) for sh in ds.shards]
    )
    return [banded.filter(pl.col(BAND) <= b) for b in range(len(sizes))]


@pytest.mark.parametrize("layout", [[3000], [1000, 700, 1300], [250] * 12])
def test_nested_sets_are_the_smallest_keys_per_stratum_with_exact_sizes(tmp_path, layout):
    seed, sizes = 7, [50, 120, 400, 1111, 2000]
    root, df = _sample(tmp_path, layout)
    sets = _training_sets(root, sizes, seed)
    train = df.filter(pl.col(SPLIT) == "train")
    counts = {h: train.filter(pl.col(STRATUM) == h).height for h in ("a", "b", "c")}
    keys = {int(i): _key(int(i), seed) for i in train["id"]}
    seats = _sainte_lague_seats(counts)
    for m, got in zip(sizes, sets, strict=True):
        want_sizes = seats[m]
        assert got.height == m
        for h, m_h in want_sizes.items():
            ids = set(got.filter(pl.col(STRATUM) == h)["id"].to_list())
            pool = sorted(train.filter(pl.col(STRATUM) == h)["id"].to_list(), key=keys.get)
            assert ids == set(pool[:m_h]), (m, h)
    for small, big in zip(sets, sets[1:], strict=False):  # nested
        assert set(small["id"].to_list()) <= set(big["id"].to_list())
    assert set(sets[0]["id"]) - set(train["id"]) == set()  # train rows only
    # the valid and test rows, where every size is scored: exactly the sample's, every column
    holdout = pl.read_parquet(tmp_path / "holdout" / "*.parquet")
    rest = df.filter(pl.col(SPLIT) != "train")
    assert holdout.sort("id").equals(rest.sort("id"))


def test_any_sharding_gives_the_same_sets(tmp_path):
    sizes = [30, 300, 900]
    a = _training_sets(_sample(tmp_path / "one", [2000])[0], sizes, 3)
    b = _training_sets(_sample(tmp_path / "many", [100] * 20)[0], sizes, 3)
    for x, y in zip(a, b, strict=True):
        assert sorted(x["id"].to_list()) == sorted(y["id"].to_list())


def test_sizes_match_seat_by_seat_sainte_lague_and_never_shrink():
    rng = np.random.default_rng(1)
    for _ in range(20):
        counts = {f"s{i}": int(rng.integers(1, 400)) for i in range(int(rng.integers(1, 6)))}
        total = sum(counts.values())
        prev = dict.fromkeys(counts, 0)
        want = _sainte_lague_seats(counts)
        for m in range(total + 1):
            got = sizes_by_stratum(counts, m)
            assert got == want[m]
            assert all(got[h] >= prev[h] for h in counts)  # house monotone
            prev = got


def _hamilton(counts: dict[str, int], m: int) -> dict[str, int]:
    """Largest-remainder rounding of the proportional quotas."""
    total = sum(counts.values())
    q = {h: m * n / total for h, n in counts.items()}
    seats = {h: int(v) for h, v in q.items()}
    for h in sorted(q, key=lambda h: q[h] - seats[h], reverse=True)[: m - sum(seats.values())]:
        seats[h] += 1
    return seats


def test_largest_remainder_would_drop_a_row_where_sainte_lague_does_not():
    # The Alabama paradox: with strata of 6, 6 and 2 rows, largest remainder gives the small
    # stratum 2 rows of 10 but 1 row of 11, so a nested set would lose a row.
    counts = {"a": 6, "b": 6, "c": 2}
    assert _hamilton(counts, 10)["c"] == 2 and _hamilton(counts, 11)["c"] == 1
    for m in range(14):
        small, big = sizes_by_stratum(counts, m), sizes_by_stratum(counts, m + 1)
        assert all(small[h] <= big[h] for h in counts)


def test_ladder_is_geometric_distinct_and_ends_at_the_largest():
    assert ladder(1_000_000, 6, 10_000) == [10_000, 25_119, 63_096, 158_489, 398_107, 1_000_000]
    assert ladder(50_000, 4, 1000) == [1000, 3684, 13572, 50000]
    assert ladder(500, 6, 1000) == [500]


@pytest.mark.parametrize("lower", [False, True])
def test_power_law_recovers_known_parameters(lower):
    rng = np.random.default_rng(5)
    a, b, c = (0.85, 3.0, 0.45) if not lower else (0.20, 5.0, 0.35)
    n = np.geomspace(1e3, 1e6, 8)
    sign = 1.0 if lower else -1.0
    y = a + sign * b * n**-c + rng.normal(0, 1e-4, n.size)
    law = fit_power_law(n, y, lower_is_better=lower, sigma=np.full(n.size, 1e-4))
    assert law is not None
    assert law.a == pytest.approx(a, abs=3e-3)
    assert law.c == pytest.approx(c, abs=0.03)
    assert abs(law.a - a) < 4 * law.plateau_stderr
    # extrapolation to 10x the largest size, within 4 standard errors of the truth
    truth = a + sign * b * 1e7**-c
    assert abs(law(1e7) - truth) < max(4 * law.stderr(1e7), 1e-4)


def test_a_plateau_outside_the_metric_or_on_a_bound_is_not_trusted():
    # average precision rising linearly in log n: no power law, and the free plateau would be >1
    n = np.geomspace(1e3, 1e5, 6)
    y = 0.3 + 0.05 * np.log10(n)
    law = fit_power_law(n, y, lower_is_better=False, a_range=(0.0, 1.0))
    assert law is not None and law.a <= 1.0
    assert law.problems(y)  # on a bound, or less certain than the measured spread
    # a clean power law is trusted
    good = 0.8 - 2.0 * n**-0.5
    law = fit_power_law(n, good, False, np.full(n.size, 1e-4), (0.0, 1.0))
    assert law is not None and law.problems(good) == []


def test_power_law_needs_four_points():
    assert fit_power_law(np.array([1e3, 1e4, 1e5]), np.array([0.5, 0.6, 0.65]), False) is None


def test_recommend_on_hand_made_curves():
    sizes = [1000, 2000, 4000, 8000, 16000]
    # flat from 4000 on (higher is better)
    assert recommend(sizes, [0.70, 0.78, 0.801, 0.803, 0.804], 0.005, False)[0] == 4000
    # flat everywhere: the smallest
    assert recommend(sizes, [0.80, 0.80, 0.80, 0.80, 0.80], 0.005, False)[0] == 1000
    # the largest size is best by a margin: the largest
    size, why = recommend(sizes, [0.5, 0.6, 0.7, 0.75, 0.8], 0.005, False)
    assert size == 16000 and why.startswith("every smaller size is worse")
    # RMSE, lower is better: 8000 is within 0.01 of 16000's
    assert recommend(sizes, [2.0, 1.5, 1.2, 1.109, 1.1], 0.01, True)[0] == 8000
    # the measured curve looks flat, but the plateau is far: more rows help
    size, why = recommend(sizes, [0.80, 0.801, 0.802, 0.803, 0.804], 0.005, False, plateau=0.9)
    assert size == 16000 and "not flattened" in why
    # a smaller size that scores better than the largest is "no worse", and says so
    size, why = recommend(sizes, [0.9, 0.7, 0.7, 0.7, 0.7], 0.005, False)
    assert size == 1000 and "no worse than the largest size's 0.7 by more than 0.005" in why
    # a plateau close to the largest: the first size within tolerance of both
    assert recommend(sizes, [0.7, 0.79, 0.8, 0.803, 0.804], 0.005, False, plateau=0.806)[0] == 8000
    # the order of the points does not matter
    assert recommend(sizes[::-1], [0.804, 0.803, 0.801, 0.78, 0.70], 0.005, False)[0] == 4000


def _points(values: list[float], half: float | None, test_rows: int = 3000) -> list[dict]:
    sizes = [1000, 2000, 4000, 8000, 16000]
    return [
        {
            "train_rows": n,
            "rows_by_stratum": {"0": n},
            "metrics": {
                "test": {
                    "rows": test_rows,
                    "average_precision": v,
                    "intervals": {"average_precision": [v - half, v + half]} if half else {},
                }
            },
            **dict.fromkeys(("rank_rows", "train_seconds", "wall_seconds", "score_seconds"), 1.0),
            "rounds": 10,
            "best_iteration": 9,
            "model": "m",
        }
        for n, v in zip(sizes, values, strict=True)
    ]


def test_no_recommendation_when_the_intervals_are_wider_than_the_tolerance():
    """The issue's case: intervals of +-0.0125 against a tolerance of 0.005 cannot tell sizes
    apart, so there is no size, and the reason says what would make one possible."""
    values = [0.020, 0.026, 0.029, 0.030, 0.031]
    cfg = CurveConfig(tolerance=0.005)
    c = summarize(_points(values, 0.0125), "binary", cfg, {"0": 16000}, 10**6)
    r = c["recommendation"]
    assert r["train_rows"] is None and r["largest_train_rows"] == 16000
    # (0.0125 / 0.005)^2 = 6.25 times the 3,000 test rows
    assert "18,750 test rows" in r["reason"] and "curve.tolerance (at least 0.0125)" in r["reason"]
    assert "no recommendation" in text(c, "/x")
    # no intervals: no way to know
    c = summarize(_points(values, None), "binary", cfg, {"0": 16000}, 10**6)
    assert (
        c["recommendation"]["train_rows"] is None
        and "eval.bootstrap" in c["recommendation"]["reason"]
    )


def test_tight_intervals_still_recommend_and_an_untrusted_fit_shows_no_plateau():
    values = [0.70, 0.78, 0.801, 0.803, 0.804]
    c = summarize(_points(values, 0.002), "binary", CurveConfig(tolerance=0.005), {"0": 1}, 10**6)
    assert c["recommendation"]["train_rows"] == 4000  # as recommend() on the same curve
    # rising linearly in log n: a plateau outside [0, 1] or on a bound is not trusted
    n = np.geomspace(1e3, 1.6e4, 5)
    line = list(0.3 + 0.05 * np.log10(n))
    c = summarize(_points(line, 0.001), "binary", CurveConfig(tolerance=0.5), {"0": 1}, 10**6)
    assert c["fit"] is not None and c["fit"]["trusted"] is False and c["fit"]["plateau"] is None
    assert c["extrapolated"] == [] and c["fit"]["not_trusted_because"]
    assert "(fitted, +/-" not in text(c, "/x")  # no extrapolated rows
    html = section(c, b"png")
    assert "not trusted, so no plateau or extrapolation is shown" in html
