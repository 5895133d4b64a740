"""Small datasets as clients have them, each with the outcome distml must give.

Every case writes a few thousand rows the way some engine or person really writes them (files
that disagree on types, zones, labels that are not 0/1, odd column names, partitioned folders,
stray files, config that means something else) and states the outcome: a result (rows in =
accepted + quarantined, the columns that reach the model, and a check against an independent
computation), or one specific paragraph with exit 2 or 3 and no traceback. Run by
tests/integration/test_corpus.py through the CLI on the test session's Ray.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class Case:
    name: str
    kind: str
    """schema | timezone | label | names | paths | config | messages | messy"""
    make: Callable[[Path], dict[str, Any]]
    """Writes the data under a folder; returns facts: ``path`` (data.path), ``rows`` (rows in
    Parquet files that are read), ``quarantined`` (rows that break a rule)."""
    args: list[str] = field(default_factory=list)
    exit: int = 0
    says: tuple[str, ...] = ()
    features: list[str] | None = None
    """The raw columns that must reach the model (profile.json features.used)."""
    full: bool = False
    """Run every stage (else the run stops after preprocess)."""
    check: Callable[[Path, dict[str, Any]], None] | None = None
    ingest: list[str] | None = None
    """Overrides for ``distml ingest source=<facts['source']> out=...``, run first (None: the
    data is Parquet already)."""
    ingest_exit: int = 0
    ingest_says: tuple[str, ...] = ()
    """Phrases of ingest's one error paragraph (ingest_exit != 0), or of its log."""
    ingest_check: Callable[[Path, dict[str, Any]], None] | None = None
    """Checks the Parquet folder ingest wrote."""


def frame(n: int = 3000, seed: int = 0, pos: float = 0.2) -> pl.DataFrame:
    """id, a 0/1 label with signal in x and k, a float x, an int k and a category c."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < pos).astype(np.int64)
    return pl.DataFrame(
        {
            "id": np.arange(seed * 100_000, seed * 100_000 + n),
            "label": y,
            "x": rng.normal(size=n) + 1.5 * y,
            "k": rng.poisson(3, n) + 2 * y,
            "c": rng.choice(["a", "b", "c"], n),
        }
    )


def write(df: pl.DataFrame | pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(df if isinstance(df, pa.Table) else df.to_arrow(), path)


def parts(df: pl.DataFrame, root: Path, n: int, name: str = "part-{i}.parquet") -> list[Path]:
    out = []
    for i in range(n):
        p = root / name.format(i=i)
        write(df[i * df.height // n : (i + 1) * df.height // n], p)
        out.append(p)
    return out


def _json(run: Path, name: str) -> dict[str, Any]:
    return json.loads((run / name).read_text())


def _ok(rows: int, root: Path, **facts: Any) -> dict[str, Any]:
    return {"path": str(root), "rows": rows, "quarantined": 0, **facts}


FEATS = ["x", "k", "c"]


# -- 1. files that disagree on the schema --------------------------------------------------------


def _int32_first(d: Path) -> dict:
    df = frame()
    write(df[:1000].with_columns(pl.col("k").cast(pl.Int32)), d / "a.parquet")
    write(df[1000:], d / "b.parquet")
    return _ok(df.height, d)


def _int32_last(d: Path) -> dict:
    df = frame()
    write(df[:1000], d / "a.parquet")
    write(df[1000:].with_columns(pl.col("k").cast(pl.Int32)), d / "b.parquet")
    return _ok(df.height, d)


def _null_typed_first(d: Path) -> dict:
    df = frame()
    write(df[:500].with_columns(pl.lit(None).alias("x")), d / "a.parquet")  # x typed null
    write(df[500:], d / "b.parquet")
    return _ok(df.height, d, nulls={"x": 500})


def _empty_first_file(d: Path) -> dict:
    df = frame()
    write(
        df.head(0).select("id", "label").with_columns(pl.col("id").cast(pl.Int8)), d / "a.parquet"
    )
    parts(df, d, 2, "b{i}.parquet")
    return _ok(df.height, d)


def _missing_in_first(d: Path) -> dict:
    df = frame()
    write(df[:800].drop("x"), d / "a.parquet")
    write(df[800:], d / "b.parquet")
    return _ok(df.height, d, nulls={"x": 800}, missing={"x": ["a.parquet"]})


def _decimals(d: Path) -> dict:
    df = frame()
    write(df[:1500].with_columns(pl.col("x").round(4).cast(pl.Decimal(7, 5))), d / "a.parquet")
    write(df[1500:].with_columns(pl.col("x").round(4).cast(pl.Decimal(8, 5))), d / "b.parquet")
    return _ok(df.height, d)


def _list_null_then_ints(d: Path) -> dict:
    df = frame()
    a = df[:1000].to_arrow().append_column("tags", pa.array([[None]] * 1000, pa.list_(pa.null())))
    b = df[1000:].to_arrow().append_column("tags", pa.array([[1, 2]] * 2000, pa.list_(pa.int64())))
    write(a, d / "a.parquet")
    write(b, d / "b.parquet")
    return _ok(df.height, d)


def _string_vs_int(d: Path) -> dict:
    df = frame()
    write(df[:1000], d / "a.parquet")
    write(df[1000:].with_columns(pl.col("k").cast(pl.String)), d / "b.parquet")
    return _ok(df.height, d)


def _string_vs_int_parsed(d: Path) -> dict:
    df = frame()
    write(df[:1000], d / "a.parquet")
    b = df[1000:].with_columns(pl.col("k").cast(pl.String))
    b = b.with_columns(
        pl.when(pl.int_range(pl.len()) < 7).then(pl.lit("seven")).otherwise("k").alias("k")
    )
    write(b, d / "b.parquet")
    return _ok(df.height, d, quarantined=7)


def _dictionary_strings(d: Path) -> dict:
    df = frame()
    a = df[:1500].to_arrow()
    a = a.set_column(a.schema.get_field_index("c"), "c", a.column("c").dictionary_encode())
    write(a, d / "a.parquet")
    write(df[1500:], d / "b.parquet")
    return _ok(df.height, d)


def _date_and_timestamp(d: Path) -> dict:
    df = frame().with_columns(pl.lit(datetime(2024, 5, 1, 12)).alias("t"))
    write(df[:1000].with_columns(pl.col("t").cast(pl.Date)), d / "a.parquet")
    write(df[1000:], d / "b.parquet")
    return _ok(df.height, d)


def _date_feature(d: Path) -> dict:
    df = frame()
    day = pl.lit(date(2024, 1, 1)) + pl.duration(days=pl.int_range(pl.len()) % 300)
    write(df.with_columns(day.alias("day")), d / "a.parquet")
    return _ok(df.height, d)


def _empty_name(d: Path) -> dict:
    write(frame().rename({"x": ""}), d / "a.parquet")
    return {"path": str(d)}


def _check_nulls(run: Path, facts: dict) -> None:
    cols = _json(run, "profile.json")["columns"]
    for c, n in facts.get("nulls", {}).items():
        assert cols[c]["nulls"] == n, (c, cols[c]["nulls"], n)
    missing = _json(run, "profile.json")["schema"]["missing_columns"]
    for c, files in facts.get("missing", {}).items():
        assert [Path(f).name for f in missing[c]] == files


def _check_types(**want: str) -> Callable[[Path, dict], None]:
    def check(run: Path, facts: dict) -> None:
        types = _json(run, "profile.json")["schema"]["types"]
        for c, t in want.items():
            assert types[c] == t, (c, types[c], t)
        _check_nulls(run, facts)

    return check


SCHEMA = [
    Case("int32 then int64", "schema", _int32_first, features=FEATS, check=_check_types(k="Int64")),
    Case("int64 then int32", "schema", _int32_last, features=FEATS, check=_check_types(k="Int64")),
    Case(
        "a column typed null in one file",
        "schema",
        _null_typed_first,
        features=FEATS,
        check=_check_types(x="Float64"),
    ),
    Case(
        "an empty first file with other types",
        "schema",
        _empty_first_file,
        features=FEATS,
        check=_check_types(id="Int64"),
    ),
    Case(
        "a column missing from the first file",
        "schema",
        _missing_in_first,
        features=FEATS,
        check=_check_nulls,
    ),
    Case(
        "a missing column with missing_columns=error",
        "schema",
        _missing_in_first,
        args=["quality.missing_columns=error"],
        exit=2,
        says=("a.parquet' does not match", "lacks the column 'x'", "missing_columns=error"),
    ),
    Case(
        "DECIMAL(7,5) then DECIMAL(8,5)",
        "schema",
        _decimals,
        features=FEATS,
        check=_check_types(x="Decimal(precision=8, scale=5)"),
    ),
    Case(
        "list<null> then list<int64>, not a feature",
        "schema",
        _list_null_then_ints,
        features=FEATS,
        check=_check_types(tags="List(Int64)"),
    ),
    Case(
        "string in one file, int in another: the strings are integers",
        "schema",
        _string_vs_int,
        features=FEATS,
        check=_check_types(k="Int64"),
    ),
    Case(
        "string in one file, int in another, without inference",
        "schema",
        _string_vs_int,
        args=["quality.coerce=[widen]"],
        exit=2,
        says=("'k' is int64 in", "but string in", "b.parquet'", "quality.schema.k"),
    ),
    Case(
        "strings parsed as the declared int",
        "schema",
        _string_vs_int_parsed,
        args=["+quality.schema.k=int", "quality.coerce=[widen,parse]"],
        features=FEATS,
        check=_check_types(k="Int64"),
    ),
    Case(
        "dictionary-encoded strings beside plain",
        "schema",
        _dictionary_strings,
        features=FEATS,
        check=_check_types(c="String"),
    ),
    Case(
        "dates in one file, timestamps in another",
        "schema",
        _date_and_timestamp,
        features=[*FEATS, "t"],
        check=_check_types(t="Datetime(time_unit='us', time_zone='UTC')"),
    ),
    Case(
        "a date column (no time of day) as a feature",
        "schema",
        _date_feature,
        features=[*FEATS, "day"],
        check=_check_types(day="Date"),
    ),
]


# -- 2. time zones -------------------------------------------------------------------------------

WALL = datetime(2024, 7, 1, 12, 0)  # the same wall-clock reading in every file


def _zones(d: Path) -> dict:
    df = frame(3000)
    t = pl.lit(WALL).cast(pl.Datetime("us"))
    write(df[:1000].with_columns(t.alias("t")), d / "naive.parquet")
    write(
        df[1000:2000].with_columns(t.dt.replace_time_zone("Europe/Rome").alias("t")),
        d / "rome.parquet",
    )
    write(df[2000:].with_columns(t.dt.replace_time_zone("UTC").alias("t")), d / "utc.parquet")
    return _ok(df.height, d)


def _check_zones(zone: str, naive_utc_hour: int) -> Callable[[Path, dict], None]:
    def check(run: Path, facts: dict) -> None:
        prof = _json(run, "profile.json")
        zones = {
            z: sorted(Path(f).name for f in fs)
            for z, fs in prof["schema"]["timestamp_zones"]["t"].items()
        }
        assert zones == {
            "naive": ["naive.parquet"],
            "Europe/Rome": ["rome.parquet"],
            "UTC": ["utc.parquet"],
        }
        # independent: 12:00 in Rome (CEST, UTC+2) is 10:00 UTC; naive is read in ``zone``
        hours = {10, 12, naive_utc_hour}
        got = pl.read_parquet(run / "sample" / "*.parquet").get_column("t")
        assert str(got.dtype) == "Datetime(time_unit='us', time_zone='UTC')"
        assert set(got.dt.hour().unique().to_list()) == hours
        assert prof["schema"]["timezone"] == zone

    return check


TIMEZONE = [
    Case(
        "naive, Europe/Rome and UTC timestamps",
        "timezone",
        _zones,
        features=[*FEATS, "t"],
        check=_check_zones("UTC", 12),
    ),
    Case(
        "naive timestamps read in New York",
        "timezone",
        _zones,
        args=["quality.timezone=America/New_York"],
        features=[*FEATS, "t"],
        check=_check_zones("America/New_York", 16),
    ),
    Case(
        "an unknown time zone",
        "timezone",
        _zones,
        args=["quality.timezone=Mars/Base"],
        exit=2,
        says=("quality.timezone", "Mars/Base"),
    ),
]


# -- 3. labels -----------------------------------------------------------------------------------


def _relabel(
    mapping: dict[int, Any], dtype: pl.DataType | None = None, pos: float = 0.2
) -> Callable:
    def make(d: Path) -> dict:
        df = frame(pos=pos)
        y = df.get_column("label")
        df = df.with_columns(pl.Series("label", [mapping[v] for v in y.to_list()], dtype=dtype))
        parts(df, d, 2)
        return _ok(df.height, d, positives=int(y.sum()))

    return make


def _check_label(classes: list, positive: Any) -> Callable[[Path, dict], None]:
    def check(run: Path, facts: dict) -> None:
        prof = _json(run, "profile.json")
        assert prof["label"]["classes"] == classes and prof["label"]["positive"] == positive
        # every class counted under the data's own value, and the gates see those counts
        assert sum(prof["label_counts"].values()) == facts["rows"]
        assert prof["label_counts"][str(positive)] == facts["positives"]
        gates = {g["column"]: g["value"] for g in prof["gates"] if g["gate"] == "min_label_count"}
        assert gates == {f"label={c}": prof["label_counts"][str(c)] for c in classes}

    return check


def _check_predictions(positive: Any, negative: Any) -> Callable[[Path, dict], None]:
    def check(run: Path, facts: dict) -> None:
        _check_label([negative, positive], positive)(run, facts)
        preds = pl.read_parquet(run / "predictions" / "*.parquet")
        assert set(preds["label"].unique().to_list()) == {positive, negative}
        test = preds.filter(pl.col("split") == "test")
        m = _json(run, "metrics.json")["test"]
        assert m["positives"] == int((test["label"] == positive).sum())
        assert m["roc_auc"] > 0.8

    return check


def _multiclass(d: Path) -> dict:
    df = frame(3000, pos=0.5)
    rng = np.random.default_rng(1)
    names = np.array(["cat", "dog", "fish"])
    cls = np.digitize(df["x"].to_numpy() + rng.normal(0, 0.3, df.height), [0.2, 1.2])
    df = df.with_columns(pl.Series("label", names[cls]))
    parts(df, d, 2)
    return _ok(df.height, d)


def _check_multiclass(run: Path, facts: dict) -> None:
    from sklearn.metrics import f1_score

    preds = pl.read_parquet(run / "predictions" / "*.parquet").filter(pl.col("split") == "test")
    assert set(preds["prediction"].unique().to_list()) <= {"cat", "dog", "fish"}
    m = _json(run, "metrics.json")["test"]
    want = f1_score(preds["label"].to_list(), preds["prediction"].to_list(), average="macro")
    assert abs(m["f1_macro"] - want) < 1e-9
    assert set(m["per_class"]) == {"cat", "dog", "fish"} and m["classes"] == ["cat", "dog", "fish"]


def _some_twos(d: Path) -> dict:
    df = frame()
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) < 9).then(2).otherwise("label").alias("label")
    )
    parts(df, d, 2)
    return _ok(df.height, d, quarantined=9)


def _all_null_label(d: Path) -> dict:
    df = frame().with_columns(pl.lit(None, dtype=pl.String).alias("label"))
    parts(df, d, 2)
    return _ok(df.height, d)


LABEL = [
    Case(
        "boolean labels",
        "label",
        _relabel({0: False, 1: True}),
        features=FEATS,
        check=_check_label([False, True], True),
    ),
    Case(
        "float 0.0/1.0 labels",
        "label",
        _relabel({0: 0.0, 1: 1.0}),
        features=FEATS,
        check=_check_label([0.0, 1.0], 1.0),
    ),
    Case(
        "yes/no labels without positive_label",
        "label",
        _relabel({0: "no", 1: "yes"}),
        exit=2,
        says=("The label 'label' is not 0/1", "'no'", "'yes'", "data.positive_label"),
    ),
    Case(
        "yes/no labels, positive yes, trained",
        "label",
        _relabel({0: "no", 1: "yes"}),
        args=["data.positive_label=yes"],
        features=FEATS,
        full=True,
        check=_check_predictions("yes", "no"),
    ),
    Case(
        "-1/+1 labels",
        "label",
        _relabel({0: -1, 1: 1}),
        features=FEATS,
        check=_check_label([-1, 1], 1),
    ),
    Case(
        "1/2 labels need a positive",
        "label",
        _relabel({0: 1, 1: 2}),
        exit=2,
        says=("not 0/1", "data.positive_label"),
    ),
    Case(
        "label_values [No, Yes] declared",
        "label",
        _relabel({0: "No", 1: "Yes"}),
        args=["quality.label_values=[No,Yes]"],
        features=FEATS,
        full=True,
        check=_check_predictions("Yes", "No"),
    ),
    Case(
        "multiclass string labels",
        "label",
        _multiclass,
        features=FEATS,
        full=True,
        args=["model.params.objective=multi:softprob", "model.params.eval_metric=mlogloss"],
        check=_check_multiclass,
    ),
    Case(
        "num_class that disagrees with the data",
        "label",
        _multiclass,
        exit=2,
        args=["model.params.objective=multi:softprob", "+model.params.num_class=5"],
        says=("num_class=5", "3 classes"),
    ),
    Case(
        "a string label for regression",
        "label",
        _relabel({0: "no", 1: "yes"}),
        exit=2,
        args=["model.params.objective=reg:squarederror", "model.params.eval_metric=rmse"],
        says=("is String", "regression objective needs a number"),
    ),
    Case(
        "a label null in every row",
        "label",
        _all_null_label,
        exit=2,
        says=("null in every row", "data.label"),
    ),
    Case(
        "a few labels outside 0/1 are quarantined",
        "label",
        _some_twos,
        features=FEATS,
        check=lambda run, f: _check_label([0, 1], 1)(
            run, {**f, "rows": f["rows"] - 9, "positives": _positives(run)}
        ),
    ),
]


def _positives(run: Path) -> int:
    return _json(run, "profile.json")["label_counts"]["1"]


# -- 4. column names -----------------------------------------------------------------------------


def _odd_names(d: Path) -> dict:
    df = frame().rename({"x": "price[usd]", "k": "a<b", "c": "région du client"})
    parts(df, d, 2)
    return _ok(df.height, d)


def _check_importance(run: Path, facts: dict) -> None:
    imp = _json(run, "feature_importance.json")["gain"]
    assert "price[usd]" in imp and "a<b" in imp
    assert _json(run, "metrics.json")["test"]["roc_auc"] > 0.8


def _named(col: str) -> Callable[[Path], dict]:
    def make(d: Path) -> dict:
        df = frame()
        rng = np.random.default_rng(3)
        extra = (
            rng.uniform(0.5, 3.0, df.height)
            if col == "weight"
            else rng.choice(["u", "v"], df.height)
        )
        parts(df.with_columns(pl.Series(col, extra)), d, 2)
        return _ok(df.height, d)

    return make


def _check_row_weights(run: Path, facts: dict) -> None:
    sample = pl.read_parquet(run / "sample" / "*.parquet")
    rep = _json(run, "sampling_report.json")["strata"]
    stratum_w = sample["stratum"].replace_strict({s: v["weight"] for s, v in rep.items()})
    # independent: the sample's weight is N_h/n_h times the row's own weight
    assert np.allclose(
        sample["weight"].to_numpy(), stratum_w.to_numpy() * sample["row_weight"].to_numpy()
    )
    assert "weight(weight)" in _json(run, "profile.json")["rules"]


def _duplicated_name(d: Path) -> dict:
    df = frame()
    t = pa.Table.from_arrays(
        [*df.to_arrow().columns, df.to_arrow().column("x")], names=[*df.columns, "x"]
    )
    write(t, d / "dup.parquet")
    return _ok(df.height, d)


def _other_category(d: Path) -> dict:
    df = frame()
    df = df.with_columns(
        pl.when(pl.col("c") == "a").then(pl.lit("other")).otherwise("c").alias("c")
    )
    parts(df, d, 2)
    return _ok(df.height, d)


def _check_onehot(run: Path, facts: dict) -> None:
    spec = _json(run, "preprocessor.json")
    out = spec["output_columns"]
    assert len(out) == len(set(out)) and "c__other" in out  # the rare/unseen slot
    assert any(c.startswith("c__other_") for c in out)  # the value named 'other', renamed


def _nested(d: Path) -> dict:
    df = frame()
    t = df.to_arrow()
    t = t.append_column("tags", pa.array([[1, 2]] * df.height, pa.list_(pa.int64())))
    t = t.append_column("meta", pa.array([{"a": 1}] * df.height))
    t = t.append_column("blob", pa.array([b"\x00\x01"] * df.height))
    write(t, d / "a.parquet")
    return _ok(df.height, d)


def _check_left_out(*cols: str) -> Callable[[Path, dict], None]:
    def check(run: Path, facts: dict) -> None:
        left = _json(run, "profile.json")["features"]["left_out"]
        for c in cols:
            assert "cannot be a feature" in left[c] or left[c] == "data.exclude", (c, left[c])

    return check


NAMES = [
    Case(
        "a column without a name",
        "names",
        _empty_name,
        exit=2,
        says=("a.parquet' has a column without a name (column", "distml ingest"),
    ),
    Case(
        "names with [ ] and < and accents",
        "names",
        _odd_names,
        features=["price[usd]", "a<b", "région du client"],
        full=True,
        check=_check_importance,
        args=["+quality.rules.cheap={expr: '\"price[usd]\" < 100'}"],
    ),
    Case(
        "a column named split",
        "names",
        _named("split"),
        exit=2,
        says=("'split' (the name distml gives", "data.exclude=[split]"),
    ),
    Case(
        "a column named split, excluded",
        "names",
        _named("split"),
        args=["data.exclude=[split]"],
        features=FEATS,
    ),
    Case(
        "a column named weight",
        "names",
        _named("weight"),
        exit=2,
        says=("'weight' (the name distml gives", "data.weight_column=weight"),
    ),
    Case(
        "row weights named weight",
        "names",
        _named("weight"),
        args=["data.weight_column=weight"],
        features=FEATS,
        check=_check_row_weights,
    ),
    Case(
        "a duplicated column name",
        "names",
        _duplicated_name,
        exit=2,
        says=("dup.parquet' has the column name 'x' more than once",),
    ),
    Case(
        "a category value named other, one-hot",
        "names",
        _other_category,
        args=["preprocess.encode=onehot", "preprocess.min_frequency=1"],
        features=FEATS,
        check=_check_onehot,
    ),
    Case(
        "list, struct and binary columns",
        "names",
        _nested,
        features=FEATS,
        check=_check_left_out("tags", "meta", "blob"),
    ),
    Case(
        "a list column in data.exclude",
        "names",
        _nested,
        args=["data.exclude=[tags]"],
        features=FEATS,
        check=_check_left_out("tags", "meta", "blob"),
    ),
]


# -- 5. paths ------------------------------------------------------------------------------------


def _hive(key: str, values: list[Any]) -> Callable[[Path], dict]:
    def make(d: Path) -> dict:
        df = frame()
        n = len(values)
        for i, v in enumerate(values):
            write(
                df[i * df.height // n : (i + 1) * df.height // n].drop("c"),
                d / f"{key}={v}" / "part-0.parquet",
            )
        return _ok(df.height, d, per_value={str(v): df.height // n for v in values})

    return make


def _check_hive(key: str, dtype: str) -> Callable[[Path, dict], None]:
    def check(run: Path, facts: dict) -> None:
        prof = _json(run, "profile.json")
        assert prof["schema"]["types"][key] == dtype and prof["schema"]["partition_columns"] == [
            key
        ]
        top = {str(v): n for v, n in prof["columns"][key]["top"]}
        assert top == facts["per_value"]

    return check


def _bracket_folder(d: Path) -> dict:
    df = frame()
    parts(df, d / "run[1]", 2)
    return _ok(df.height, d / "run[1]")


def _extensions(d: Path) -> dict:
    df = frame()
    write(df[:1000], d / "a.parquet")
    write(df[1000:2000], d / "b.parq")
    write(df[2000:], d / "c")
    return _ok(df.height, d)


def _stray_files(d: Path) -> dict:
    df = frame()
    parts(df, d, 2)
    (d / "notes.txt").write_text("not data")
    df.head(5).write_csv(d / "extra.csv")
    (d / "_SUCCESS").write_text("")
    (d / ".part-0.parquet.crc").write_bytes(b"\x00")
    return _ok(df.height, d)


def _check_stray(run: Path, facts: dict) -> None:
    prof = _json(run, "profile.json")
    assert sorted(Path(p).name for p in prof["files_not_parquet"]) == ["extra.csv", "notes.txt"]
    assert sorted(Path(f["path"]).name for f in prof["files_ignored"]) == [
        ".part-0.parquet.crc",
        "_SUCCESS",
    ]


def _glob(d: Path) -> dict:
    df = frame()
    parts(df, d, 3, "keep-{i}.parquet")
    write(frame(500, seed=9), d / "other.parquet")
    return {"path": str(d / "keep-*.parquet"), "rows": df.height, "quarantined": 0}


PATHS = [
    Case(
        "Hive partitions region=...",
        "paths",
        _hive("c", ["a", "b", "c"]),
        features=["x", "k", "c"],
        check=_check_hive("c", "String"),
    ),
    Case(
        "Hive partitions year=<int>",
        "paths",
        _hive("year", [2023, 2024]),
        features=["x", "k", "year"],
        check=_check_hive("year", "Int64"),
    ),
    Case("a folder named like a glob", "paths", _bracket_folder, features=FEATS),
    Case("Parquet files without the .parquet extension", "paths", _extensions, features=FEATS),
    Case(
        "CSV, text, _SUCCESS and .crc beside the data",
        "paths",
        _stray_files,
        features=FEATS,
        check=_check_stray,
    ),
    Case("a glob that matches some files", "paths", _glob, features=FEATS),
]


# -- 6. config that says how big the sample is ---------------------------------------------------


def _small(d: Path) -> dict:
    df = frame(3000)
    parts(df, d, 2)
    return _ok(df.height, d)


def _check_sample_rows(n: int, note: str) -> Callable[[Path, dict], None]:
    def check(run: Path, facts: dict) -> None:
        rep = _json(run, "sampling_report.json")
        assert rep["sample_rows"] == n and note in rep["size"]

    return check


CONFIG = [
    Case(
        "sampling.fraction=1.0 alone",
        "config",
        _small,
        args=["sampling.fraction=1.0"],
        features=FEATS,
        check=_check_sample_rows(3000, "sampling.fraction=1"),
    ),
    Case(
        "a size and a fraction",
        "config",
        _small,
        args=["sampling.size=100", "sampling.fraction=0.5"],
        exit=2,
        says=("the only setting of the sample's size", "sampling.size, sampling.fraction"),
    ),
    Case(
        "a population smaller than the default size",
        "config",
        _small,
        features=FEATS,
        check=_check_sample_rows(3000, "every row"),
    ),
    Case(
        "an explicit size larger than the population",
        "config",
        _small,
        args=["sampling.size=5000"],
        exit=2,
        says=("sampling.size=5,000 is larger than the population",),
    ),
    Case(
        "a rule added without +",
        "config",
        _small,
        args=["quality.rules.x={column: x, min: 0}"],
        exit=2,
        says=("+quality.rules.x",),
    ),
    Case(
        "an old key",
        "config",
        _small,
        args=["data.rows=5"],
        exit=2,
        says=("'data.rows' is now 'synthetic.rows'",),
    ),
]


# -- 7. what the summary, the report and the files say -------------------------------------------


def _no_valid_positives(d: Path) -> dict:
    df = frame(3000, pos=0.0).with_columns(
        pl.when(pl.int_range(pl.len()) < 2).then(1).otherwise(0).alias("label")
    )
    parts(df, d, 2)
    return _ok(df.height, d)


def _check_threshold_story(run: Path, facts: dict) -> None:
    th = _json(run, "threshold.json")
    assert th["policy"] == "max_f1" and "no positives in valid" in th["note"]
    html = (run / "report.html").read_text()
    assert (
        "no positives in valid" in html
        and "chosen on valid" not in html.split("Threshold")[1][:200]
    )


MESSAGES = [
    Case(
        "no positives in valid: the fallback threshold said everywhere",
        "messages",
        _no_valid_positives,
        args=[
            "sampling.split.train=0.9",
            "sampling.split.valid=0.05",
            "sampling.split.test=0.05",
            "quality.gates.min_label_count=1",
        ],
        features=FEATS,
        full=True,
        check=_check_threshold_story,
    ),
]


def _all() -> list[Case]:
    from tests.corpus.messy import MESSY

    return [*SCHEMA, *TIMEZONE, *LABEL, *NAMES, *PATHS, *CONFIG, *MESSAGES, *MESSY]


CASES = _all()
