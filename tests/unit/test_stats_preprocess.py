"""Mergeable preprocessing statistics equal single-pass ones; apply is one pure function."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distml.config import PreprocessConfig
from distml.preprocess import FitState, apply, build_spec
from distml.stats import NumericStats

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


def _fit(df: pl.DataFrame, cuts: list[int]) -> dict:
    from distml.preprocess import NULL_CATEGORY

    st_ = FitState()
    points = sorted({0, df.height, *[c % (df.height + 1) for c in cuts]})
    for a, b in zip(points[:-1], points[1:], strict=True):
        part = df[a:b]
        s = FitState(rows=part.height, numeric={"x": NumericStats.of(part["x"])})
        vc = part["c"].fill_null(NULL_CATEGORY).value_counts()
        s.categorical["c"] = dict(zip(vc["c"].to_list(), vc["count"].to_list(), strict=True))
        st_ = st_.merge(s)
    kinds = {"x": "numeric", "c": "categorical", "t": "datetime"}
    return build_spec(st_, kinds, PreprocessConfig(min_frequency=2), "label", "id")


def test_spec_is_independent_of_sharding_and_handles_unseen_categories():
    df = pl.DataFrame(
        {
            "x": [1.0, None, 3.0, 4.0, None, 6.0],
            "c": ["a", "b", "a", None, "b", "z"],
            "t": pl.datetime_range(
                pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 6), "1d", eager=True
            ),
        }
    )
    spec = _fit(df, [])
    assert spec == _fit(df, [1, 4]) == _fit(df, [2, 3, 5])
    assert (
        spec["numeric"]["x"]["impute"] == pytest.approx(3.5) and spec["numeric"]["x"]["indicator"]
    )
    assert spec["categorical"]["c"]["codes"] == {"a": 1, "b": 2}  # 'z' and null seen once: rare
    new = pl.DataFrame({"x": [None], "c": ["never-seen"], "t": [None]}, schema=df.schema)
    out = apply(spec, new)
    assert out.row(0, named=True)["c"] == 0.0  # unseen -> the reserved slot
    assert (
        out.row(0, named=True)["x"] == pytest.approx(3.5)
        and out.row(0, named=True)["x__is_null"] == 1.0
    )
    assert out.columns == spec["output_columns"]
    # a row transformed alone equals the same row transformed within its frame
    assert apply(spec, df[2:3]).row(0) == apply(spec, df).row(2)
