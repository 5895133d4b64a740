"""The rules that keep messy data from silently making a worse model, each against a hand-worked
case or an independent computation: columns left out of the features (distml/profile/hygiene.py),
the single-column AUC behind the leakage warning (distml/preprocess/separation.py), header
matching across files (distml/ingest/plan.py), delimiter sniffing, moments and scaling at any
finite magnitude, and quantiles inside a column's range."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from distml.config import IngestConfig, PreprocessConfig
from distml.data.columns import normalized
from distml.data.text import TextStats
from distml.errors import UserError
from distml.ingest.plan import plan_columns
from distml.ingest.readers import sniff_delimiter
from distml.preprocess.apply import apply
from distml.preprocess.fit import fit_frame
from distml.preprocess.separation import column_auc
from distml.profile.hygiene import left_out
from distml.stats.moments import NumericStats, numeric_stats
from distml.stats.sketches import NumericSketch, bucket_index


def _col(t: str, n: int, distinct: int, nulls: int = 0, **more) -> dict:
    return {"type": t, "nulls": nulls, "distinct": distinct, **more}


def test_columns_left_out_by_each_rule_and_kept_by_the_others():
    rows = 10_000
    cols = {
        "empty": _col("double", rows, 0, nulls=rows),
        "constant": _col("int64", rows, 1, min=7, max=7, std=0.0, top=[[7, rows]]),
        "constant_with_nulls": _col("int64", rows, 1, nulls=30, min=7, max=7, std=0.0),
        "txn": _col("string", rows, 9_990, text={"with_whitespace": 0.0, "mean_length": 12}),
        "note": _col("string", rows, 6_000, text={"with_whitespace": 0.9, "mean_length": 40}),
        "city": _col("string", rows, 300, text={"with_whitespace": 0.2, "mean_length": 8}),
        "seq": _col("int64", rows, 9_700, min=1_000, max=10_999),
        "amount_cents": _col("int64", rows, 9_800, min=5, max=9_000_000),
        "hash": _col("uint64", rows, 9_999, min=3, max=2.0**62),
        "customer_id": _col("int64", rows, 9_950, min=0, max=10**9),
        "sorted_key": _col("int64", rows, 9_990, min=0, max=10**9, ascending_in_every_shard=True),
        "few": _col("string", 500, 500, nulls=rows - 500),  # near-unique, but 500 values
        # a file sorted by a feature: ascending alone is no identifier
        "amount_micro": _col("int64", rows, 9_990, min=5, max=10**9, ascending_in_every_shard=True),
        "order_number": _col("int64", rows, 9_990, min=0, max=10**9),
        "ref_no": _col("int64", rows, 9_990, min=0, max=10**9),
        "account_id": _col("double", rows, 9_990, min=1.0, max=10**9, integral=True),
        "huge": _col("double", rows, 9_999, min=-1e200, max=1e200, integral=True),
        "price": _col("double", rows, 9_999, min=0.5, max=10**9, integral=False),
    }
    got = left_out(list(cols), cols, rows, keep=set())
    assert set(got) == {
        *("empty", "constant", "txn", "note", "seq", "hash", "customer_id", "sorted_key"),
        *("order_number", "ref_no", "account_id"),
    }
    assert got["empty"].startswith("all null") and got["constant"].startswith("constant")
    assert got["note"].startswith("free text") and got["txn"].startswith("identifier-like")
    assert "a sequence" in got["seq"] and "hash-like" in got["hash"]
    assert "named like an id" in got["customer_id"] and "ascending" in got["sorted_key"]
    assert left_out(list(cols), cols, rows, keep={"txn", "seq"}).keys() == got.keys() - {
        "txn",
        "seq",
    }


def test_the_distinct_share_threshold_is_near_unique():
    for distinct, out in ((9_499, False), (9_500, True)):
        cols = {
            "s": _col("string", 10_000, distinct, text={"with_whitespace": 0.0, "mean_length": 9})
        }
        assert ("s" in left_out(["s"], cols, 10_000, set())) is out, distinct


def _hist(keys: list[str], y: np.ndarray) -> dict[str, list[int]]:
    h: dict[str, list[int]] = {}
    for k, v in zip(keys, y, strict=True):
        h.setdefault(k, [0, 0])[int(v)] += 1
    return h


def test_single_column_auc_equals_sklearn_on_the_bucketed_values():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 3000)
    x = rng.normal(size=3000) + y * 0.8
    x[:200] = np.nan  # nulls in a bucket of their own
    b = bucket_index(np.nan_to_num(x))
    keys = [str(k) if not np.isnan(v) else "\u2205" for k, v in zip(b, x, strict=True)]
    got = column_auc(_hist(keys, y), "numeric")
    # independent: sklearn's AUC of the bucket order, nulls at either end, either direction
    order = np.argsort(np.unique(b))
    rank = dict(zip(np.unique(b), order, strict=True))
    score = np.array([rank[k] for k in b], dtype=float)
    best = 0.0
    for null_at in (-1.0, len(order) + 1.0):
        s = np.where(np.isnan(x), null_at, score)
        a = roc_auc_score(y, s)
        best = max(best, a, 1 - a)
    assert got == pytest.approx(best, abs=1e-12)
    # a column that is the label: separates perfectly
    assert column_auc(_hist([str(v) for v in y], y), "categorical") == 1.0
    # positives have high values and most nulls are positives: only the null bucket at the
    # high end with the values ascending separates them (hand-worked: 0.96)
    h = {"\u2205": [1, 9], str(bucket_index(np.array([1.0]))[0]): [10, 0]}
    h[str(bucket_index(np.array([2.0]))[0])] = [0, 10]
    # bins in that order: (10 neg) (10 pos) (1 neg, 9 pos): AUC = (10*10 + 9*(11 - 0.5)) / 209
    assert column_auc(h, "numeric") == pytest.approx((100 + 9 * 10.5) / (11 * 19))


def test_headers_equal_after_normalising_are_one_column_spelled_as_most_files_do():
    def record(i: int, cols: list[str]) -> dict:
        st = TextStats.of(pl.Series(["1", "2"]))
        return {"index": i, "path": f"f{i}.csv", "columns": cols, "types": {c: st for c in cols}}

    assert normalized("Customer Age ") == normalized("customer_age") == normalized("CUSTOMER-AGE")
    assert normalized("customerAge") != normalized("customer_age")
    recs = [
        record(0, ["Customer Age", "x"]),
        record(1, ["customer_age", "X"]),
        record(2, ["customer_age"]),
    ]
    plan = plan_columns(recs, IngestConfig())
    assert plan.schema.names == ["customer_age", "x"]
    assert plan.spellings["customer_age"] == {"Customer Age": 1, "customer_age": 2}
    assert plan.renames[0] == {"Customer Age": "customer_age", "x": "x"}
    assert plan.renames[1] == {"customer_age": "customer_age", "X": "x"}
    assert plan_columns(recs, IngestConfig(match_names="exact")).schema.names == [
        "Customer Age",
        "x",
        "customer_age",
        "X",
    ]
    with pytest.raises(UserError, match="'a_b' and 'A B'"):
        plan_columns([record(0, ["a_b", "A B"])], IngestConfig())


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a;b;c\n1,5;2,5;x\n3,0;4;y\n", ";"),  # decimal commas: ',' splits unevenly
        ("a;b;c\n1,5;2,5;x\n3,0;4,1;y\n9,1;1,2;z\n", ";"),  # ',' splits 3 of 4 records alike
        ("a\tb\n1\t2\n", "\t"),
        ('a|b\n"x|y"|2\n3|4\n', "|"),  # a quoted delimiter is not one
        ("only\n1\n2\n", None),
    ],
)
def test_the_delimiter_that_splits_every_record_alike(sample, delimiter):
    assert sniff_delimiter(sample) == delimiter


def test_moments_at_any_finite_magnitude_equal_numpy_on_scaled_values():
    rng = np.random.default_rng(1)
    for scale in (1e-300, 1.0, 1e200, 1e300):
        x = rng.normal(2, 1, 10_001) * scale
        s = pl.Series("x", x)
        want_mean, want_std = np.mean(x / scale) * scale, np.std(x / scale, ddof=1) * scale
        for got in (NumericStats.of(s), numeric_stats(s.to_frame(), ["x"])["x"]):
            assert math.isfinite(got.std) and got.std == pytest.approx(want_std, rel=1e-9)
            assert got.mean == pytest.approx(want_mean, rel=1e-9)
        merged = NumericStats.of(s[:17]).merge(NumericStats.of(s[17:]))
        assert merged.std == pytest.approx(want_std, rel=1e-9)
    # mixed magnitudes merge: the larger scale wins
    a, b = NumericStats.of(pl.Series([1.0, 2.0])), NumericStats.of(pl.Series([1e300, -1e300]))
    both = np.array([1.0, 2.0, 1e300, -1e300])
    assert a.merge(b).std == pytest.approx(np.std(both / 1e300, ddof=1) * 1e300, rel=1e-12)
    # a constant: its mean is the value and its spread 0, whatever the rounding
    c = NumericStats.of(pl.Series([3.3] * 1000))
    assert c.mean == 3.3 and c.std == 0.0


def test_quantiles_stay_inside_the_column_range():
    s = pl.Series([3.3] * 50)
    sk = NumericSketch.of(s)
    assert sk.quantiles([0.5])[0] != 3.3  # the bucket's upper boundary
    assert sk.quantiles([0.01, 0.5, 0.99], 3.3, 3.3) == [3.3, 3.3, 3.3]


def test_huge_and_tiny_columns_reach_the_model_as_distinct_finite_float32():
    rng = np.random.default_rng(2)
    n = 2000
    df = pl.DataFrame(
        {
            "huge": rng.normal(size=n) * 1e200 + 3e200,
            "tiny": rng.normal(size=n) * 1e-200,
            "flat": np.full(n, 3.3),
            "label": rng.integers(0, 2, n),
        }
    )
    kinds = {"huge": "numeric", "tiny": "numeric", "flat": "numeric"}
    cfg = PreprocessConfig(columns={"flat": {"scale": "standard"}})
    spec = fit_frame(df, kinds, cfg, "label", None)
    out = apply(spec, df)
    for c in ("huge", "tiny"):
        x = out[c].to_numpy()
        assert x.dtype == np.float32 and np.isfinite(x).all()
        # a power of two keeps every value's order, and the values stay apart
        assert np.all(np.diff(x[np.argsort(df[c].to_numpy())]) >= 0)
        assert np.unique(x).size > 0.99 * n
    assert (out["flat"] == 0).all()
    assert spec["numeric"]["flat"]["median"] == 3.3


def test_json_artifacts_are_standard_json(tmp_path):
    import json

    from distml.artifacts import write_json

    path = tmp_path / "a.json"
    write_json(
        str(path), {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.float32(2)}
    )

    def no(c: str) -> None:
        raise ValueError(c)

    assert json.loads(path.read_text(), parse_constant=no) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": 2.0,
    }
