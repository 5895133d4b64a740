"""Merged per-shard statistics equal one pass over all rows, for random shardings (hypothesis)."""

import math
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distml.cluster import tasks as parallel
from distml.config import ColumnSteps, PreprocessConfig, ProfileConfig, QualityConfig
from distml.data.shards import plan
from distml.preprocess.fit import FitState, build_spec, clip_bounds, fit_frame, fit_state
from distml.profile.stage import run_profile
from distml.profile.state import ProfileJob, ProfileState, profile_frame
from distml.quality.contract import build_contract
from distml.stats.sketches import FrequentItems


def _frame(seed: int, n: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(0, 2, n) * rng.choice([-1, 1], n)
    x[rng.random(n) < 0.1] = np.nan
    df = pl.DataFrame(
        {
            "id": rng.integers(0, max(1, n // 2), n),
            "label": rng.choice([0, 1, 2], n, p=[0.8, 0.15, 0.05]),
            "x": x,
            "k": rng.poisson(3, n).astype(np.int32),
            "s": rng.choice(["a", "b", "c", "d", None], n).tolist(),
            "t": [datetime(2024, 1, 1) + timedelta(hours=int(h)) for h in rng.integers(0, 5000, n)],
        }
    )
    return df.with_columns(pl.col("x").fill_nan(None))


def _job(df: pl.DataFrame) -> ProfileJob:
    cfg = QualityConfig(rules={"small_k": {"column": "k", "max": 6}, "pos": {"expr": "x > -5"}})
    return ProfileJob(
        contract=build_contract(cfg, dict(df.schema), "label", [0, 1]),
        columns=tuple(df.columns),
        label="label",
        id_column="id",
        quarantine=None,
        hashes=None,
        on_bad_file="error",
        classification=True,
    )


def _cuts(n: int, raw: list[int]) -> list[tuple[int, int]]:
    points = sorted({0, n, *[c % (n + 1) for c in raw]})
    return list(zip(points[:-1], points[1:], strict=True))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3000), st.lists(st.integers(0, 10_000), max_size=12))
def test_profile_state_merged_over_shards_equals_one_pass(seed, n, raw_cuts):
    df = _frame(seed, n)
    job = _job(df)
    whole, whole_bad = profile_frame(df, job)
    merged = ProfileState()
    bad_rows = 0
    for a, b in _cuts(n, raw_cuts):
        part, bad = profile_frame(df[a:b], job)
        merged = merged.merge(part)
        bad_rows += bad.height
    assert merged.rows_in == whole.rows_in == n
    assert merged.rows_quarantined == whole.rows_quarantined == bad_rows == whole_bad.height
    assert merged.nulls == whole.nulls and merged.broken == whole.broken
    assert merged.label_counts == whole.label_counts and merged.temporal == whole.temporal
    for c, w in whole.numeric.items():
        m = merged.numeric[c]
        assert (m.count, m.nulls, m.min, m.max) == (w.count, w.nulls, w.min, w.max)
        assert m.mean == pytest.approx(w.mean, rel=1e-9, abs=1e-9)
        assert m.m2 == pytest.approx(w.m2, rel=1e-9, abs=1e-9)
    for c, w in whole.distinct.items():  # HLL registers: max-merge is exact
        assert np.array_equal(merged.distinct[c].registers, w.registers)
    for c, w in whole.frequent.items():  # few distinct values: counts are exact
        assert merged.frequent[c].counts == w.counts and merged.frequent[c].error == 0
    for c, w in whole.sketches.items():
        assert merged.sketches[c] == w
    # the statistics are the true ones
    x = df["x"].drop_nulls().to_numpy()
    if len(x):
        assert merged.numeric["x"].mean == pytest.approx(x.mean(), rel=1e-9, abs=1e-9)
    assert merged.broken["small_k"] == int((df["k"] > 6).sum())
    assert merged.frequent["s"].counts == dict(df["s"].drop_nulls().value_counts().iter_rows())
    for c in ("k", "label"):  # integers: counted by numpy's bincount
        assert merged.frequent[c].counts == dict(df[c].drop_nulls().value_counts().iter_rows())


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=600),
    st.lists(st.integers(0, 600), max_size=10),
    st.integers(2, 20),
)
def test_frequent_items_stay_within_their_stated_error(values, raw_cuts, capacity):
    s = pl.Series("v", values)
    merged = None
    for a, b in _cuts(len(values), raw_cuts):
        part = FrequentItems.of(s[a:b], capacity)
        merged = part if merged is None else merged.merge(part)
    true = dict(s.value_counts().iter_rows())
    assert len(merged.counts) <= capacity
    assert merged.error <= len(values) / (capacity + 1)
    for v, t in true.items():
        est = merged.counts.get(v, 0)
        assert est <= t <= est + merged.error


def test_distinct_estimate_is_within_its_error():
    from distml.stats.sketches import HLL_ERROR, DistinctSketch

    for n in (50, 5_000, 300_000):
        vals = pl.Series(np.random.default_rng(n).permutation(10 * n)[:n])
        est = DistinctSketch.of(vals).estimate()
        assert abs(est - n) <= max(2, 4 * HLL_ERROR * n)


def test_value_counts_of_integers_equal_polars_whatever_their_range():
    """Integer value counts (numpy's bincount for narrow ranges) equal Polars' value_counts,
    including values beyond float64's exact integers, UInt64 above 2^63 and nulls."""
    from distml.profile.state import value_counts
    from distml.stats.moments import numeric_stats

    cases = [
        pl.Series("a", [2**63 - 1] * 3, dtype=pl.Int64),
        pl.Series("a", [2**60 + 200, 2**60 + 300, None], dtype=pl.Int64),
        pl.Series("a", [2**63 + 5, 2**63 + 5, 7], dtype=pl.UInt64),
        pl.Series("a", [-(2**63), 5, 5], dtype=pl.Int64),
        pl.Series("a", [-128, 127, -128, None, 127, 127], dtype=pl.Int8),
        pl.Series("a", [None, None], dtype=pl.Int16),
        pl.Series("a", np.random.default_rng(1).integers(-300, 300, 5000), dtype=pl.Int32),
    ]
    for s in cases:
        got = value_counts(s, numeric_stats(s.to_frame(), ["a"])["a"])
        want = s.value_counts(sort=True)
        assert got.schema == want.schema
        assert dict(got.iter_rows()) == dict(want.iter_rows()), s.to_list()[:5]
        counted = got.filter(pl.col("a").is_not_null())["count"].to_list()
        assert counted == sorted(counted, reverse=True)


def test_hll_registers_keep_each_registers_largest_rank():
    """Register h >> 50 holds the largest 51 - bit_length(h mod 2^50) of its hashes (Python ints
    one by one), including remainders under 2^34, whose top 16 bits are zero, and zero."""
    from distml.stats.sketches import HLL_M, hll_registers

    rng = np.random.default_rng(3)
    rests = [0, 1, 2, 3, 12345, (1 << 33) + 5, (1 << 34) - 1, 1 << 34, (1 << 50) - 1]
    rests += [int(x) for x in rng.integers(0, 1 << 50, 20_000)]
    rests += [int(x) for x in rng.integers(0, 1 << 36, 3_000)]
    regs = [int(x) for x in rng.integers(0, 1 << 14, len(rests))]
    h = np.array([(g << 50) | r for g, r in zip(regs, rests, strict=True)], dtype=np.uint64)
    want = np.zeros(HLL_M, dtype=np.uint8)
    for g, r in zip(regs, rests, strict=True):
        want[g] = max(want[g], 51 - r.bit_length())
    assert np.array_equal(hll_registers(h), want)
    assert not hll_registers(np.empty(0, dtype=np.uint64)).any()


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 1000), st.integers(1, 6), st.integers(50, 800))
def test_duplicate_counts_are_exact_for_any_file_layout(tmp_path_factory, seed, files, rg_rows):
    df = _frame(seed, 3000)
    df = pl.concat([df, df.sample(150, seed=seed)])  # exact copies of rows (and so of ids)
    d = tmp_path_factory.mktemp("dup")
    bounds = np.linspace(0, df.height, files + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        df[a:b].write_parquet(d / f"part-{i}.parquet", row_group_size=rg_rows)
    ds = plan(str(d), shard_rows=rg_rows)
    with parallel.in_process():
        prof = run_profile(
            ds,
            build_contract(QualityConfig(), dict(df.schema), "label", None),
            ProfileConfig(),
            label="label",
            id_column="id",
            out_dir=str(d / "out"),
            classification=False,
        ).report
    dup = prof.duplicates
    assert dup["rows"] == df.height - df.n_unique()
    assert dup["ids"] == df.height - df["id"].n_unique()
    assert prof.rows_in == df.height
    assert not (d / "out" / "_profile_hashes").exists()


CONFIGS = [
    PreprocessConfig(),
    PreprocessConfig(impute="median", scale="robust", clip="iqr", log=True),
    # the mode is exact while a column has at most MODE_CAPACITY distinct values (k, not x)
    PreprocessConfig(
        impute="mode",
        scale="standard",
        clip="quantile",
        encode="onehot",
        columns={"x": ColumnSteps(impute="median")},
    ),
    PreprocessConfig(
        impute="constant",
        fill_value=-1,
        scale="minmax",
        encode="frequency",
        min_frequency=1,
        columns={"k": ColumnSteps(log=True, impute="median")},
        derived={"ratio": "x / (1 + k)"},
    ),
]


def _rounded(obj):
    if isinstance(obj, float):
        return float(f"{obj:.9g}") if math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(5, 2000),
    st.lists(st.integers(0, 2000), max_size=8),
    st.sampled_from(range(len(CONFIGS))),
)
def test_preprocessor_fitted_over_shards_equals_one_pass(seed, n, raw_cuts, which):
    cfg = CONFIGS[which]
    df = _frame(seed, n).drop("t", "id")
    kinds = {"x": "numeric", "k": "numeric", "s": "categorical"}
    if cfg.derived:
        kinds["ratio"] = "numeric"
    parts = [df[a:b] for a, b in _cuts(n, raw_cuts)]

    def merged(bounds):
        out = FitState()
        for p in parts:
            out = out.merge(fit_state(p, kinds, cfg, bounds))
        return out

    state = merged(None)
    bounds = clip_bounds(state, kinds, cfg)
    spec = build_spec(state, kinds, cfg, "label", None, merged(bounds) if bounds else None, bounds)
    assert _rounded(spec) == _rounded(fit_frame(df, kinds, cfg, "label", None))


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.integers(0, 1000),
    st.integers(1, 5),
    st.sampled_from([300, 1000, 2900]),
    st.sampled_from([["label", "s"], []]),
)
def test_pass_one_inside_the_profile_gives_the_same_sample(
    tmp_path_factory, seed, files, size, strata
):
    """The profile pass can do the sample stage's counting pass (and spill the candidate rows):
    the sample is byte-identical to the one the sample stage draws by itself."""
    from distml.config import SamplingConfig
    from distml.sampling.first_pass import precount_spec
    from distml.sampling.stage import SampleJob, draw_sample

    df = _frame(seed, 6000).with_columns(pl.int_range(pl.len()).alias("id"))
    d = tmp_path_factory.mktemp("pre")
    bounds = np.linspace(0, df.height, files + 1).astype(int)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        df[a:b].write_parquet(d / "data" / f"part-{i}.parquet", row_group_size=700, mkdir=True)
    ds = plan(str(d / "data"), shard_rows=1400)
    cfg = SamplingConfig(size=size, strata=strata)
    contract = build_contract(QualityConfig(), dict(df.schema), "label", [0, 1])
    kw = dict(label="label", id_column="id", seed=seed, row_filter=contract.accepted())
    spec = precount_spec(ds, cfg, **kw)
    assert spec is not None
    samples = []
    with parallel.in_process():
        res = run_profile(
            ds,
            contract,
            ProfileConfig(),
            label="label",
            id_column="id",
            out_dir=str(d / "p"),
            sample_spec=spec,
        )
        assert res.precounted is not None and res.precounted.state.counts
        for name, pre in (("a", res.precounted), ("b", None)):
            job = SampleJob(
                out=str(d / name), filter_cols=contract.columns, reference=res.sketches, **kw
            )
            draw_sample(ds, cfg, job, precounted=pre)
            samples.append(pl.read_parquet(d / name / "*.parquet").sort("id"))
    assert samples[0].height == size and samples[0].equals(samples[1])
    assert samples[0]["label"].is_in([0, 1]).all()  # only accepted rows


def _buckets_by_formula(values: list[float]) -> dict[int, int]:
    """Bucket counts straight from the definition, one value at a time (math.log, not numpy)."""
    from collections import Counter

    from distml.stats.sketches import LOG_GAMMA, TINY

    out: Counter = Counter()
    for v in values:
        if abs(v) < TINY:
            out[0] += 1
        else:
            k = math.ceil(math.log(abs(v)) / LOG_GAMMA) + 2000
            out[k if v > 0 else -k] += 1
    return dict(out)


def test_numeric_sketch_buckets_follow_their_definition():
    from distml.stats.sketches import NumericSketch

    rng = np.random.default_rng(3)
    n = 50_000  # > one numpy slice, so the slicing is exercised
    x = rng.standard_normal(n) * 10.0 ** rng.uniform(-14, 30, n)
    x[:6] = [0.0, -0.0, 1e-13, 1.0, -2.5, 1e300]
    sk = NumericSketch.of(pl.Series(x.tolist() + [None]))
    assert sk.counts == _buckets_by_formula(x.tolist()) and sk.nulls == 1


def test_infinite_values_have_their_own_bucket():
    from distml.stats.sketches import NumericSketch

    s = pl.Series([1.0, math.inf, -math.inf, 2.0, None, math.nan])
    sk = NumericSketch.of(s)  # raised ValueError (bincount of a negative id) before
    assert sk.count == 4 and sk.nulls == 2
    assert sk.quantiles([0.0, 1.0]) == [-math.inf, math.inf]
    assert sk.quantiles([0.5])[0] == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("quarantined", [False, True])
def test_profile_sketches_equal_the_columns_counted_directly(quarantined):
    """The profile counts a discrete column's values once for its frequent values, distinct
    count and distribution; each equals the column counted independently."""
    from collections import Counter

    from distml.stats.sketches import DistinctSketch

    df = _frame(11, 4000)
    job = _job(df)
    if not quarantined:  # no rule, every label a class: every row accepted
        everything = build_contract(QualityConfig(), dict(df.schema), "label", [0, 1, 2])
        job = ProfileJob(**{**job.__dict__, "contract": everything})
    st, bad = profile_frame(df, job)
    assert (bad.height > 0) == quarantined
    good = df.filter(job.contract.check(df))  # acceptance itself: test_quality.py
    for c in ("s", "label"):
        values = df[c].to_list()
        assert st.frequent[c].counts == dict(Counter(v for v in values if v is not None))
        assert st.frequent[c].nulls == sum(v is None for v in values)
        whole = DistinctSketch.of(pl.Series(values, dtype=df[c].dtype))
        assert np.array_equal(st.distinct[c].registers, whole.registers)
    counted = Counter("\u2205" if v is None else v for v in good["s"].to_list())
    assert st.sketches["s"].counts == dict(counted)
    assert st.sketches["k"].counts == _buckets_by_formula(good["k"].to_list())


def test_hash_ranges_keep_the_drivers_offsets_bounded_at_many_shards():
    """About a million hashes per range, but at most 2^25 offsets (128 MiB as uint32) held by
    the driver per file kind: 1B rows in 4,000 shards get 1,000 ranges, in 100,000 shards 335."""
    from distml.profile.duplicates import OFFSETS_BUDGET, HashFiles

    assert HashFiles.for_rows("h", 1_000_000_000, 4_000).buckets == 1_000
    assert HashFiles.for_rows("h", 1_000_000_000, 100_000).buckets == 335
    assert HashFiles.for_rows("h", 10_000, 1).buckets == 8  # at least 8
    assert HashFiles.for_rows("h", 10**13, 10).buckets == 4_096  # at most 4,096
    assert 100_000 * HashFiles.for_rows("h", 10**12, 100_000).buckets <= OFFSETS_BUDGET


def test_duplicates_above_the_exact_limit_are_estimated_within_their_error(tmp_path):
    """Above profile.exact_duplicates_max_rows only 1/16 of the hash space is counted; the
    estimate is within its stated 95% error of the true counts (fixed data: deterministic)."""
    rng = np.random.default_rng(5)
    n = 200_000
    base = pl.DataFrame({"id": np.arange(n), "label": rng.integers(0, 2, n), "x": rng.random(n)})
    df = pl.concat([base, base.sample(20_000, seed=1)])  # 20,000 duplicate rows and ids
    for i in range(4):
        df[i * 55_000 : (i + 1) * 55_000].write_parquet(tmp_path / f"part-{i}.parquet")
    true_rows, true_ids = df.height - df.n_unique(), df.height - df["id"].n_unique()
    assert true_rows == true_ids == 20_000
    ds = plan(str(tmp_path))
    contract = build_contract(QualityConfig(), dict(df.schema), "label", None)
    with parallel.in_process():
        dup = run_profile(
            ds,
            contract,
            ProfileConfig(exact_duplicates_max_rows=100_000),
            label="label",
            id_column="id",
            out_dir=str(tmp_path / "out"),
            classification=False,
        ).report.duplicates
    assert dup["exact"] is False and dup["sample_fraction"] == 1 / 16
    assert 0 < dup["rows_error_95"] < 0.2 * true_rows
    assert abs(dup["rows"] - true_rows) <= dup["rows_error_95"]
    assert abs(dup["ids"] - true_ids) <= dup["ids_error_95"]
    assert dup["rows"] != true_rows  # an estimate (an exact count would equal it)


def test_sketches_above_the_exact_limit_count_a_row_hash_share_within_their_rank_error(tmp_path):
    """Above profile.exact_sketch_max_rows the numeric sketches count the rows whose row hash is
    in 1/2^b of the hash space: the same rows for any file layout, about that share of them, and
    quantiles within the stated rank error of numpy's over every row; other statistics stay
    exact."""
    from distml.stats.sketches import ALPHA, GAMMA, from_json, to_json

    rng = np.random.default_rng(11)
    n = 200_000
    df = pl.DataFrame(
        {
            "id": np.arange(n),
            "label": rng.integers(0, 2, n),
            "x": rng.lognormal(0, 1.5, n),
            "k": rng.integers(0, 50_000, n),
            "s": rng.choice(["a", "b", "c"], n),
        }
    )
    # a rule quarantines about 10% of the rows: the sketches count a share of the accepted ones
    rules = QualityConfig(rules={"small_k": {"column": "k", "max": 45_000}})
    contract = build_contract(rules, dict(df.schema), "label", None)
    accepted = df.filter(pl.col("k") <= 45_000)
    n_ok = accepted.height
    assert 0.85 * n < n_ok < 0.95 * n

    def profiled(files: int, shard_rows: int, cfg: ProfileConfig, name: str):
        d = tmp_path / name
        d.mkdir()
        cuts = np.linspace(0, n, files + 1).astype(int)
        for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
            df[a:b].write_parquet(d / f"part-{i}.parquet", row_group_size=7_000)
        with parallel.in_process():
            return run_profile(
                plan(str(d), shard_rows=shard_rows),
                contract,
                cfg,
                label="label",
                id_column="id",
                out_dir=str(d / "out"),
                classification=False,
            )

    share = ProfileConfig(exact_sketch_max_rows=30_000)  # 200k / 30k -> 1/8
    a = profiled(4, 2_000_000, share, "a")
    b = profiled(7, 20_000, share, "b")
    exact = profiled(4, 2_000_000, ProfileConfig(), "exact")
    dist = a.report.distribution
    assert dist["exact"] is False and dist["fraction"] == 1 / 8
    # a share of the accepted rows: binomial(n_ok, 1/8) within 5 standard deviations
    assert abs(dist["rows"] - n_ok / 8) < 5 * math.sqrt(n_ok / 8 * 7 / 8)
    assert a.report.rows_quarantined == n - n_ok
    assert exact.report.distribution == {
        "exact": True,
        "fraction": 1.0,
        "rows": n_ok,
        "method": "every accepted row",
    }
    for c in ("x", "k"):
        assert a.sketches[c] == b.sketches[c]  # the same rows for any layout
        assert a.sketches[c].fraction == 1 / 8 and a.sketches[c].count == dist["rows"]
        assert from_json(to_json(a.sketches[c])) == a.sketches[c]
    assert a.sketches["s"] == exact.sketches["s"]  # category counts: every row
    eps = dist["rank_error_95"]
    assert eps == pytest.approx(math.sqrt(math.log(40) / (2 * dist["rows"])))
    assert a.report.columns["x"]["quantile_rank_error_95"] == pytest.approx(eps)
    x = accepted["x"].to_numpy()
    qs = [0.01, 0.25, 0.5, 0.75, 0.99]
    for q, v in zip(qs, a.sketches["x"].quantiles(qs), strict=True):
        lo, hi = np.quantile(x, max(0.0, q - eps)), np.quantile(x, min(1.0, q + eps))
        assert lo <= v <= hi * GAMMA * (1 + ALPHA), q
    # moments, ranges and distinct counts still count every row
    assert a.report.columns["x"]["mean"] == pytest.approx(df["x"].mean(), rel=1e-12)
    assert a.report.columns["x"]["max"] == df["x"].max()
    k = a.report.columns["k"]
    assert k == exact.report.columns["k"] | {
        "quantiles": k["quantiles"],
        "quantile_rank_error_95": k["quantile_rank_error_95"],
    }


def test_distinct_counts_leave_nulls_out(tmp_path):
    """A null is not a value: the distinct count of a column with nulls is ``n_unique`` of its
    non-null values, from the sketch and in profile.json."""
    from distml.stats.sketches import DistinctSketch

    rng = np.random.default_rng(9)
    for k in (1, 3, 50, 2000):
        values = pl.Series("v", [f"v{i}" for i in rng.integers(0, k, 5000)] + [None] * 700)
        want = values.drop_nulls().n_unique()
        got = DistinctSketch.of(values).estimate()
        assert got == want if k <= 50 else abs(got - want) <= 0.05 * want, (k, got, want)
    df = pl.DataFrame(
        {
            "id": np.arange(5700),
            "label": np.zeros(5700, dtype=np.int64),
            "v": values,
            "few": ["a", None, "b"] * 1900,
        }
    )
    (tmp_path / "d").mkdir()
    df.write_parquet(tmp_path / "d" / "p.parquet")
    contract = build_contract(QualityConfig(), dict(df.schema), "label", [0, 1])
    with parallel.in_process():
        cols = run_profile(
            plan(str(tmp_path / "d")),
            contract,
            ProfileConfig(duplicates=False),
            label="label",
            id_column="id",
            out_dir=str(tmp_path / "run"),
        ).report.columns
    assert cols["few"]["distinct"] == 2
    assert abs(cols["v"]["distinct"] - values.drop_nulls().n_unique()) <= 0.05 * 2000


def test_duplicate_estimates_and_their_errors_on_a_hand_worked_case():
    """40 duplicate rows and 90 duplicate ids seen in 1/16 of the hash space, 10,000 rows: each
    count is scaled by 16 and its 95% half-width is 1.96 * sqrt(n (1 - 1/16)) * 16 (Poisson
    thinning); none seen: the rule of three, 3 * 16."""
    from distml.profile.duplicates import duplicates_report

    f = 1 / 16
    r = duplicates_report((40, 90), f, 10_000, "id")
    assert r["rows"] == 640 and r["ids"] == 1440
    assert r["row_rate"] == 0.064 and r["id_rate"] == 0.144
    assert r["rows_error_95"] == pytest.approx(1.96 * math.sqrt(40 * 15 / 16) * 16)
    assert r["ids_error_95"] == pytest.approx(1.96 * math.sqrt(90 * 15 / 16) * 16)
    assert r["exact"] is False and r["sample_fraction"] == f and r["id_column"] == "id"
    z = duplicates_report((0, 0), f, 10_000, "id")
    assert z["rows"] == z["ids"] == 0 and z["rows_error_95"] == z["ids_error_95"] == 48.0
    e = duplicates_report((40, 90), 1.0, 10_000, "id")
    assert (e["rows"], e["ids"], e["exact"]) == (40, 90, True)
    assert "rows_error_95" not in e and "ids_error_95" not in e
    assert "ids" not in duplicates_report((40, 90), 1.0, 10_000, None)
