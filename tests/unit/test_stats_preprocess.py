"""Mergeable preprocessing statistics equal single-pass ones; apply is one pure function."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distml.config import PreprocessConfig
from distml.preprocess.apply import apply
from distml.preprocess.fit import FitState, build_spec, fit_frame, fit_state
from distml.stats.moments import NumericStats

values = st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=0, max_size=200)


@settings(max_examples=150, deadline=None)
@given(values, st.lists(st.integers(0, 300), max_size=10))
def test_numeric_stats_merge_equals_single_pass(xs, cuts):
    s = pl.Series("x", xs, dtype=pl.Float64)
    points = sorted({0, len(xs), *[c % (len(xs) + 1) for c in cuts]})
    merged = NumericStats()
    for a, b in zip(points[:-1], points[1:], strict=True):
        merged = merged.merge(NumericStats.of(s[a:b]))
    whole = NumericStats.of(s)
    assert merged.count == whole.count and merged.nulls == whole.nulls
    if whole.count:
        arr = np.array([x for x in xs if x is not None])
        assert merged.mean == pytest.approx(arr.mean(), rel=1e-9, abs=1e-9)
        if whole.count > 1:
            assert merged.std == pytest.approx(arr.std(ddof=1), rel=1e-9, abs=1e-6)
        assert merged.min == arr.min() and merged.max == arr.max()


def _fit(df: pl.DataFrame, cuts: list[int], cfg=None) -> dict:
    cfg = cfg or PreprocessConfig(min_frequency=2)
    kinds = {"x": "numeric", "c": "categorical", "t": "datetime"}
    st_ = FitState()
    points = sorted({0, df.height, *[c % (df.height + 1) for c in cuts]})
    for a, b in zip(points[:-1], points[1:], strict=True):
        st_ = st_.merge(fit_state(df[a:b], kinds, cfg, None))
    return build_spec(st_, kinds, cfg, "label", "id")


DF = pl.DataFrame(
    {
        "x": [1.0, None, 3.0, 4.0, None, 6.0],
        "c": ["a", "b", "a", None, "b", "z"],
        "t": pl.datetime_range(pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 6), "1d", eager=True),
    }
)


def test_spec_is_independent_of_sharding_and_handles_unseen_categories():
    spec = _fit(DF, [])
    assert spec == _fit(DF, [1, 4]) == _fit(DF, [2, 3, 5])
    assert (
        spec["numeric"]["x"]["impute"] == pytest.approx(3.5) and spec["numeric"]["x"]["indicator"]
    )
    assert spec["categorical"]["c"]["codes"] == {"a": 1, "b": 2}  # 'z' and null seen once: rare
    new = pl.DataFrame({"x": [None], "c": ["never-seen"], "t": [None]}, schema=DF.schema)
    out = apply(spec, new)
    assert out.row(0, named=True)["c"] == 0.0  # unseen -> the reserved slot
    assert (
        out.row(0, named=True)["x"] == pytest.approx(3.5)
        and out.row(0, named=True)["x__is_null"] == 1.0
    )
    assert out.columns == spec["output_columns"]
    # a row transformed alone equals the same row transformed within its frame
    assert apply(spec, DF[2:3]).row(0) == apply(spec, DF).row(2)


def test_onehot_and_frequency_have_a_slot_for_rare_and_unseen_values():
    new = pl.DataFrame(
        {"x": [2.0, 2.0], "c": ["never-seen", "a"], "t": [None, None]}, schema=DF.schema
    )
    oh = _fit(DF, [3], PreprocessConfig(min_frequency=2, encode="onehot"))
    assert [c for c in oh["output_columns"] if c.startswith("c__")] == ["c__a", "c__b", "c__other"]
    got = apply(oh, new).select("c__a", "c__b", "c__other").rows()
    assert got == [(0.0, 0.0, 1.0), (1.0, 0.0, 0.0)]
    fr = _fit(DF, [3], PreprocessConfig(min_frequency=2, encode="frequency"))
    # rare values (z, null: 2 of 6 rows) and unseen ones share the 'other' frequency
    assert fr["categorical"]["c"]["codes"] == {"a": 2 / 6, "b": 2 / 6}
    assert apply(fr, new)["c"].to_list() == pytest.approx([2 / 6, 2 / 6])


def test_numeric_steps_clip_log_impute_scale_in_order():
    df = pl.DataFrame({"x": [float(v) for v in range(1, 101)] + [None, 1e6]})
    kinds = {"x": "numeric"}
    cfg = PreprocessConfig(
        clip="quantile", clip_quantiles=[0.0, 0.9], log=True, impute="median", scale="minmax"
    )
    spec = fit_frame(df, kinds, cfg, "label", None)
    s = spec["numeric"]["x"]
    lo, hi = s["clip"]
    assert lo == pytest.approx(1.0, rel=0.01) and hi == pytest.approx(91.0, rel=0.01)
    # fitted on the clipped, logged values
    assert s["max"] == pytest.approx(np.log1p(hi)) and s["min"] == pytest.approx(np.log1p(1.0))
    out = apply(spec, pl.DataFrame({"x": [1e6, None, 1.0]}))["x"].to_list()
    assert out[0] == pytest.approx(1.0) and out[2] == pytest.approx(0.0)
    med = (s["impute"] - s["center"]) / s["scale"]
    assert out[1] == pytest.approx(med, rel=1e-6)
    assert spec["quantile_relative_error"] == 0.01


def test_nan_and_infinities_are_missing_to_moments_and_imputed_by_preprocessing():
    from distml.stats.moments import numeric_stats

    vals = [1.5, float("inf"), -2.0, float("nan"), None, float("-inf"), 4.0, 0.25]
    df = pl.DataFrame({"x": vals}, schema={"x": pl.Float64})
    finite = np.array([1.5, -2.0, 4.0, 0.25])
    for got in (NumericStats.of(df["x"]), numeric_stats(df, ["x"])["x"]):
        assert (got.count, got.nulls, got.infinite) == (4, 4, 2)
        assert got.mean == pytest.approx(finite.mean()) and got.std == pytest.approx(
            finite.std(ddof=1)
        )
        assert (got.min, got.max) == (-2.0, 4.0)
    merged = NumericStats.of(df["x"][:3]).merge(NumericStats.of(df["x"][3:]))
    assert (merged.count, merged.nulls, merged.infinite) == (4, 4, 2)
    assert merged.mean == pytest.approx(finite.mean())
    # preprocessing: fitted on the finite values; NaN and +-inf imputed as a null is, and flagged
    cfg = PreprocessConfig(impute="mean", scale="none", null_indicators=True)
    spec = fit_frame(df, {"x": "numeric"}, cfg, "label", None)
    assert spec["numeric"]["x"]["impute"] == pytest.approx(finite.mean())
    new = pl.DataFrame({"x": [float("inf"), float("-inf"), float("nan"), None, 3.0]})
    out = apply(spec, new)
    assert out["x"].to_list() == pytest.approx([finite.mean()] * 4 + [3.0])
    assert out["x__is_null"].to_list() == [1.0, 1.0, 1.0, 1.0, 0.0]
