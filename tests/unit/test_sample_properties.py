"""Sampler properties over random populations and shardings (in-process, no Ray)."""

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distml.cluster import tasks as parallel
from distml.config import SamplingConfig
from distml.data.shards import plan
from distml.errors import UserError
from distml.sampling import first_pass as sampling
from distml.sampling.plan import make_plan
from distml.sampling.stage import SampleJob, draw_sample
from distml.stats.moments import NumericStats


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
    st.sampled_from(["proportional", "equal", "neyman"]),
)
def test_sample_exact_and_identical_across_shardings(
    tmp_path_factory, sizes, frac, floor, seed, allocation
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
    if allocation == "neyman" and max(sizes) < 2:
        return  # no spread in any stratum: a user error (tested below)
    cfg = SamplingConfig(
        size=total,
        min_per_stratum=floor,
        allocation=allocation,
        neyman_column="x" if allocation == "neyman" else None,
    )
    spread = {str(s): NumericStats.of(g.get_column("x")) for (s,), g in df.group_by("label")}
    expected = make_plan(cfg, pop, "t", spread)
    results = []
    base = tmp_path_factory.mktemp("s")
    # with candidates from the counting pass (the usual path), and without them (the band pass
    # finds the cut keys, the select pass reads the rows: the path of samples too large to keep
    # 2x their keys on the driver)
    for files, cap in ((1, None), (7, None), (64, None), (7, 0)):
        uri = _write(df, base / f"in{files}", files) if cap is None else str(base / f"in{files}")
        out = base / f"out{files}-{cap}"
        with parallel.in_process(), pytest.MonkeyPatch.context() as mp:
            if cap is not None:
                mp.setattr(sampling, "CANDIDATE_CAP", cap)
            report = draw_sample(
                plan(uri, shard_rows=max(1, df.height // 5)),
                cfg,
                SampleJob(label="label", id_column="id", seed=seed, out=str(out)),
            )
        assert cap is None or "cut keys" in report["passes"]
        got = pl.read_parquet(str(out / "*.parquet")).sort("id")
        results.append(got)
        assert got.height == total
        counts = dict(got.group_by("stratum").len().iter_rows())
        for s, n in pop.items():
            assert counts.get(s, 0) == expected.sizes[s] >= min(floor, n)
            by_split = dict(got.filter(pl.col("stratum") == s).group_by("split").len().iter_rows())
            for split in ("train", "valid", "test"):
                assert by_split.get(split, 0) == expected.split_sizes[s][split]
    assert all(results[0].equals(r) for r in results[1:])


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
            draw_sample(
                ds,
                SamplingConfig(size=n),
                SampleJob(label="label", id_column="id", seed=seed, out=str(out)),
            )
            for v in pl.read_parquet(str(out / "*.parquet"))["id"].to_list():
                hits[order[v]] += 1
    for rows, p in ((slice(0, 150), 30 / 150), (slice(150, 200), 10 / 50)):
        rate = hits[rows] / seeds
        bound = 4.5 * np.sqrt(p * (1 - p) / seeds)
        assert np.all(np.abs(rate - p) < bound), (rate.min(), rate.max(), p, bound)


def _pop(tmp_path, n_neg=2000, n_pos=1, files=3, **extra) -> str:
    rng = np.random.default_rng(0)
    n = n_neg + n_pos
    df = pl.DataFrame(
        {"id": np.arange(n), "label": [0] * n_neg + [1] * n_pos, "x": rng.normal(size=n), **extra}
    )
    return _write(df.sample(fraction=1.0, shuffle=True, seed=1), tmp_path / "p", files)


def _run(uri, tmp_path, name="o", **cfg):
    with parallel.in_process():
        rep = draw_sample(
            plan(uri),
            SamplingConfig(**cfg),
            SampleJob(label="label", id_column="id", seed=3, out=str(tmp_path / name)),
        )
    return rep, pl.read_parquet(str(tmp_path / name / "*.parquet"))


def test_a_stratum_of_one_row_keeps_its_row(tmp_path):
    rep, df = _run(_pop(tmp_path), tmp_path, size=100)
    assert rep["strata"]["1"]["sample"] == 1 and df.filter(pl.col("label") == 1).height == 1
    assert rep["strata"]["1"]["train"] == 1 and rep["strata"]["1"]["weight"] == 1.0
    assert df.height == 100


def test_bad_sizes_and_fractions_are_config_errors():
    from distml.config import ConfigError

    for kw in (
        {"size": 0},
        {"size": -3},
        {"size": None, "fraction": 0.0},
        {"size": None, "fraction": 1.5},
    ):
        with pytest.raises(ConfigError, match="sampling"):
            SamplingConfig(**kw)
    with pytest.raises(ConfigError, match="sampling.neyman_column"):
        SamplingConfig(allocation="neyman")


def test_constant_neyman_column_is_a_user_error(tmp_path):
    uri = _pop(tmp_path, n_pos=50, c=[7.0] * 2050)
    with pytest.raises(UserError, match="constant within every stratum"):
        _run(uri, tmp_path, size=100, allocation="neyman", neyman_column="c")


def test_unknown_or_ill_typed_stratum_columns_are_user_errors(tmp_path):
    uri = _pop(tmp_path, n_pos=50)
    with pytest.raises(UserError, match="'country' \\(sampling.strata\\) is not in the data"):
        _run(uri, tmp_path, size=100, strata=["label", "country"])
    with pytest.raises(UserError, match="not a date or datetime"):
        _run(uri, tmp_path, size=100, strata=["x:month"])
    with pytest.raises(UserError, match="not understood"):
        _run(uri, tmp_path, size=100, strata=["x:median"])


def test_quantile_and_time_strata_are_exact_and_sharding_independent(tmp_path):
    rng = np.random.default_rng(5)
    n = 3000
    df = pl.DataFrame(
        {
            "id": np.arange(n),
            "label": (rng.random(n) < 0.2).astype(int),
            "amount": rng.lognormal(3, 1, n),
            "ts": pl.datetime_range(
                pl.datetime(2024, 1, 1), pl.datetime(2024, 12, 31), "1d", eager=True
            ).sample(n, with_replacement=True, seed=2),
        }
    )
    a = _write(df, tmp_path / "a", 1)
    b = _write(df.sample(fraction=1.0, shuffle=True, seed=9), tmp_path / "b", 7)
    ra, sa = _run(a, tmp_path, "oa", size=600, strata=["label", "amount:q4", "month"])
    rb, sb = _run(b, tmp_path, "ob", size=600, strata=["label", "amount:q4", "month"])
    assert ra["quantile_edges"] == rb["quantile_edges"] and len(ra["quantile_edges"]["amount"]) == 3
    assert sa.sort("id").equals(sb.sort("id").select(sa.columns))
    assert len(ra["strata"]) == 2 * 4 * 12
    for name, v in ra["strata"].items():
        assert sa.filter(pl.col("stratum") == name).height == v["sample"]


def test_max_memory_sets_the_size(tmp_path):
    uri = _pop(tmp_path, n_pos=100)
    with parallel.in_process():
        rep = draw_sample(
            plan(uri),
            SamplingConfig(size=None, max_memory="14KB"),
            SampleJob(
                label="label", id_column="id", seed=0, out=str(tmp_path / "m"), bytes_per_row=20
            ),
        )
    # 14,000 bytes / (20 bytes per row * 0.7 train share) = 1000 rows
    assert rep["sample_rows"] == 1000


def test_report_compares_sample_and_population_distributions(tmp_path):
    from distml.profile.state import sketch_series

    rng = np.random.default_rng(0)
    n = 20_000
    df = pl.DataFrame(
        {
            "id": np.arange(n),
            "label": (rng.random(n) < 0.1).astype(int),
            "x": rng.normal(size=n),
            "region": rng.choice(["a", "b", "c"], n),
        }
    )
    uri = _write(df, tmp_path / "d", 4)
    ref = {c: sketch_series(df[c]) for c in df.columns}
    with parallel.in_process():
        prop = draw_sample(
            plan(uri),
            SamplingConfig(size=4000),
            SampleJob(
                label="label", id_column="id", seed=0, out=str(tmp_path / "p"), reference=ref
            ),
        )
        equal = draw_sample(
            plan(uri),
            SamplingConfig(size=4000, allocation="equal"),
            SampleJob(
                label="label", id_column="id", seed=0, out=str(tmp_path / "e"), reference=ref
            ),
        )
    assert all(f["psi"] < 0.1 for f in prop["features"].values()) and not prop["warnings"]
    assert (
        sum(prop["features"]["x"]["population"]) == n
        and sum(prop["features"]["x"]["sample"]) == 4000
    )
    # a balanced sample of a 10%-positive population is unrepresentative on the label: flagged
    assert equal["features"]["label"]["psi"] > 0.1
    assert any("'label'" in w for w in equal["warnings"])
