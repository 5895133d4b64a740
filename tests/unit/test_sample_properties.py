"""Sampler properties over random populations and shardings (in-process, no Ray)."""

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distml import parallel
from distml.config import SamplingConfig
from distml.sample import make_plan, run_sample
from distml.shards import plan


def _write(df: pl.DataFrame, root, files: int) -> str:
    root.mkdir(parents=True)
    n = df.height
    for i in range(files):
        part = df[i * n // files : (i + 1) * n // files]
        if part.height:
            pq.write_table(
                part.to_arrow(), root / f"p{i:03d}.parquet", row_group_size=max(1, n // 9)
            )
    return str(root)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.integers(1, 300), min_size=1, max_size=6),
    st.floats(0.01, 1.0),
    st.integers(0, 3),
    st.integers(0, 1000),
    st.sampled_from([(1, 7), (7, 64), (1, 64)]),
)
def test_sample_exact_and_identical_across_shardings(
    tmp_path_factory, sizes, frac, floor, seed, layouts
):
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(len(labels) * 3)[: len(labels)]
    df = pl.DataFrame({"id": ids, "label": labels, "x": rng.random(len(labels))}).sample(
        fraction=1.0, shuffle=True, seed=seed
    )
    pop = {str(i): n for i, n in enumerate(sizes)}
    total = max(1, round(frac * df.height))
    if sum(min(floor, n) for n in sizes) > total:
        return
    cfg = SamplingConfig(size=total, min_per_stratum=floor)
    expected = make_plan(cfg, pop, "t")
    results = []
    base = tmp_path_factory.mktemp("s")
    for files in layouts:
        uri = _write(df, base / f"in{files}", files)
        with parallel.in_process():
            run_sample(
                plan(uri, shard_rows=max(1, df.height // 5)),
                cfg,
                label="label",
                id_column="id",
                seed=seed,
                out=str(base / f"out{files}"),
            )
        got = pl.read_parquet(str(base / f"out{files}" / "*.parquet")).sort("id")
        results.append(got)
        assert got.height == total
        counts = dict(got.group_by("stratum").len().iter_rows())
        for s, n in pop.items():
            assert counts.get(s, 0) == expected.sizes[s] >= min(floor, n)
            by_split = dict(got.filter(pl.col("stratum") == s).group_by("split").len().iter_rows())
            for split in ("train", "valid", "test"):
                assert by_split.get(split, 0) == expected.split_sizes[s][split]
    assert results[0].equals(results[1])


def test_inclusion_frequency_is_uniform_within_strata(tmp_path):
    """Over 400 seeds each row's inclusion rate matches n_h/N_h within 4.5 binomial std devs."""
    n_pop, n = 200, 40
    df = pl.DataFrame({"id": np.arange(n_pop) * 7919 % 100_003, "label": [0] * 150 + [1] * 50})
    uri = _write(df, tmp_path / "in", 3)
    ds = plan(uri)
    seeds = 400
    hits = np.zeros(n_pop)
    ids = df["id"].to_numpy()
    order = {v: i for i, v in enumerate(ids)}
    with parallel.in_process():
        for seed in range(seeds):
            out = tmp_path / f"o{seed}"
            run_sample(
                ds, SamplingConfig(size=n), label="label", id_column="id", seed=seed, out=str(out)
            )
            for v in pl.read_parquet(str(out / "*.parquet"))["id"].to_list():
                hits[order[v]] += 1
    for rows, p in ((slice(0, 150), 30 / 150), (slice(150, 200), 10 / 50)):
        rate = hits[rows] / seeds
        bound = 4.5 * np.sqrt(p * (1 - p) / seeds)
        assert np.all(np.abs(rate - p) < bound), (rate.min(), rate.max(), p, bound)
