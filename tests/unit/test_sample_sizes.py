"""Sample and split sizes per stratum against an independent computation.

The expected sizes are computed here with numpy (Hamilton's largest-remainder method over the
population counts and standard deviations that Polars computes directly from the rows), never
with distml's own allocation, and compared with the rows the sampler actually wrote.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distml.cluster import tasks as parallel
from distml.config import SamplingConfig, SplitConfig
from distml.data.shards import plan
from distml.sampling.stage import SampleJob, draw_sample
from distml.stats.allocation import allocate


def hamilton(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Largest remainder: the floor of each quota, then one more each by largest remainder (ties:
    larger weight, then name). Quotas are exact fractions, so equal remainders tie exactly."""
    names = sorted(weights)
    w = [Fraction(weights[n]) for n in names]
    quota = [total * x / sum(w) for x in w]
    base = np.array([q.numerator // q.denominator for q in quota], dtype=np.int64)
    order = sorted(range(len(names)), key=lambda i: (-(quota[i] - base[i]), -w[i], names[i]))
    base[order[: total - int(base.sum())]] += 1
    return dict(zip(names, base.tolist(), strict=True))


def _population(seed: int = 0, n: int = 24_000) -> pl.DataFrame:
    """Label x region strata of unequal sizes whose column ``x`` spreads differently."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < 0.12).astype(np.int64)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.5, 0.25, 0.15, 0.1])
    spread = {"north": 1.0, "south": 3.0, "east": 0.5, "west": 6.0}
    x = rng.normal(size=n) * np.array([spread[r] for r in region]) * (1 + 2 * label)
    ids = rng.permutation(10 * n)[:n]
    return pl.DataFrame({"id": ids, "label": label, "region": region, "x": x})


def _write(df: pl.DataFrame, root, files: int) -> str:
    root.mkdir(parents=True)
    n = df.height
    for i in range(files):
        part = df[i * n // files : (i + 1) * n // files]
        pq.write_table(part.to_arrow(), root / f"p{i:02d}.parquet", row_group_size=1_500)
    return str(root)


def _expected(
    df: pl.DataFrame, total: int, split: tuple[float, float, float], neyman: bool
) -> dict[str, dict[str, int]]:
    """Per stratum 'label|region': sample size and train/valid/test sizes."""
    g = df.group_by("label", "region").agg(pl.len().alias("n"), pl.col("x").std(ddof=1).alias("s"))
    names = [f"{a}|{b}" for a, b in zip(g["label"], g["region"], strict=True)]
    pop = dict(zip(names, g["n"].to_list(), strict=True))
    std = dict(zip(names, g["s"].to_list(), strict=True))
    weights = {k: pop[k] * std[k] if neyman else pop[k] for k in pop}
    sizes = hamilton(total, weights)
    assert all(sizes[k] <= pop[k] for k in pop)  # no cap binds in these populations
    test = hamilton(round(total * split[2]), sizes)
    valid = hamilton(round(total * split[1]), sizes)
    return {
        k: {
            "sample": sizes[k],
            "train": sizes[k] - valid[k] - test[k],
            "valid": valid[k],
            "test": test[k],
            "population": pop[k],
        }
        for k in pop
    }


@pytest.mark.parametrize(
    ("allocation", "split"),
    [
        ("proportional", (0.7, 0.1, 0.2)),
        ("proportional", (0.5, 0.3, 0.2)),
        ("neyman", (0.7, 0.1, 0.2)),
        ("neyman", (0.5, 0.3, 0.2)),
    ],
)
def test_sizes_per_stratum_and_split_match_numpy(tmp_path, allocation, split):
    df = _population()
    uri = _write(df, tmp_path / "in", 5)
    total = 3_000
    cfg = SamplingConfig(
        size=total,
        strata=["label", "region"],
        min_per_stratum=0,
        allocation=allocation,
        neyman_column="x" if allocation == "neyman" else None,
        split=SplitConfig(*split),
    )
    with parallel.in_process():
        report = draw_sample(
            plan(uri, shard_rows=4_000),
            cfg,
            SampleJob(label="label", id_column="id", seed=4, out=str(tmp_path / "out")),
        )
    want = _expected(df, total, split, allocation == "neyman")
    got = pl.read_parquet(tmp_path / "out" / "*.parquet")
    assert got.height == total
    # what was written, per stratum and split
    written = {(s, sp): n for s, sp, n in got.group_by("stratum", "split").len().iter_rows()}
    for s, w in want.items():
        for sp in ("train", "valid", "test"):
            assert written.get((s, sp), 0) == w[sp], (s, sp, written.get((s, sp), 0), w)
        rows = got.filter(pl.col("stratum") == s)
        assert rows.height == w["sample"]
        assert rows["weight"].unique().to_list() == [pytest.approx(w["population"] / w["sample"])]
        # the stratum's rows are the stratum's values
        label, region = s.split("|")
        assert (rows["label"] == int(label)).all() and (rows["region"] == region).all()
        # and what the report says
        assert {k: report["strata"][s][k] for k in w} == w
    for i, sp in enumerate(("train", "valid", "test")):
        assert got.filter(pl.col("split") == sp).height == round(total * split[i])
        assert report["split_rows"][sp] == round(total * split[i])


def test_neyman_allocation_with_a_capped_stratum_by_hand():
    # weights N_h * S_h: a = 10 * 100, b = c = 1000 * 1 -> a third each, but a has only 10 rows:
    # it gives all of them and the other 90 go half and half.
    pop = {"a": 10, "b": 1000, "c": 1000}
    assert allocate(100, {"a": 1000.0, "b": 1000.0, "c": 1000.0}, pop) == {
        "a": 10,
        "b": 45,
        "c": 45,
    }


def test_neyman_plan_uses_the_spread_of_each_stratum(tmp_path):
    """Two strata of equal size whose spreads differ 1:3 get a quarter and three quarters."""
    rng = np.random.default_rng(1)
    n = 4_000
    label = np.repeat([0, 1], n // 2)
    x = rng.normal(size=n) * np.where(label == 1, 3.0, 1.0)
    df = pl.DataFrame({"id": np.arange(n), "label": label, "x": x})
    uri = _write(df, tmp_path / "in", 2)
    with parallel.in_process():
        rep = draw_sample(
            plan(uri),
            SamplingConfig(size=400, allocation="neyman", neyman_column="x", min_per_stratum=0),
            SampleJob(label="label", id_column="id", seed=0, out=str(tmp_path / "o")),
        )
    s = [np.std(x[label == k], ddof=1) for k in (0, 1)]
    want = hamilton(400, {"0": (n // 2) * s[0], "1": (n // 2) * s[1]})
    assert {k: rep["strata"][k]["sample"] for k in ("0", "1")} == want
    assert 80 <= want["0"] <= 120  # about a quarter: the plan really follows S_h
    for k in ("0", "1"):
        assert rep["strata"][k]["neyman_std"] == pytest.approx(s[int(k)], rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(1, 5_000), min_size=1),
    st.floats(0.0, 1.0),
)
def test_proportional_allocation_is_hamiltons_method(pop, frac):
    total = round(frac * sum(pop.values()))
    assert allocate(total, pop, pop) == hamilton(total, pop)


def test_content_ids_give_the_same_exact_sample_for_any_layout(tmp_path):
    """data.id_column=null: each row's key is a hash of its content, so the sample does not
    depend on files or shards, and its sizes are exact."""
    df = _population(seed=2, n=6_000).drop("id")
    samples = []
    for files, shuffled in ((1, False), (7, True)):
        src = df.sample(fraction=1.0, shuffle=True, seed=3) if shuffled else df
        uri = _write(src, tmp_path / f"in{files}", files)
        with parallel.in_process():
            draw_sample(
                plan(uri, shard_rows=1_000),
                SamplingConfig(size=900, strata=["label"]),
                SampleJob(label="label", id_column=None, seed=8, out=str(tmp_path / f"o{files}")),
            )
        got = pl.read_parquet(tmp_path / f"o{files}" / "*.parquet")
        assert got.height == 900
        samples.append(got.sort("x"))
    assert samples[0].equals(samples[1])
    want = hamilton(
        900, dict(df.group_by("label").len().select(pl.col("label").cast(str), "len").iter_rows())
    )
    assert dict(samples[0].group_by("stratum").len().iter_rows()) == want
