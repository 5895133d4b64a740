"""The data contract: every rule type, every gate, schema conformance across files."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import polars as pl
import pytest

from distml.config import ConfigError, GateConfig, QualityConfig
from distml.data.columns import CAST_FAILED
from distml.data.reading import read_shard, scan_shard
from distml.data.shards import plan
from distml.errors import UserError
from distml.profile.gates import dataset_gates as check_gates
from distml.profile.gates import gate_summary
from distml.profile.report import ProfileReport
from distml.quality.conform import conform
from distml.quality.contract import build_contract

SCHEMA = {
    "label": pl.Int64(),
    "amount": pl.Float64(),
    "region": pl.String(),
    "code": pl.String(),
}
FRAME = pl.DataFrame(
    {
        "label": [0, 1, None, 2, 1, 0],
        "amount": [5.0, -1.0, 3.0, 2.0, None, 2e9],
        "region": ["north", "south", "mars", None, "north", "north"],
        "code": ["m001", "m02", "m003", "x", None, "m004"],
    },
    schema=SCHEMA,
)


def _reasons(cfg: QualityConfig, label_values=(0, 1)) -> list[str | None]:
    c = build_contract(cfg, SCHEMA, "label", list(label_values) if label_values else None)
    out = FRAME.select(c.reasons().alias("r"), c.accepted().alias("ok"))
    assert out["ok"].to_list() == [r is None for r in out["r"].to_list()]
    return out["r"].to_list()


def test_label_rules_are_built_in():
    assert _reasons(QualityConfig()) == [None, None, "not_null(label)", "label_values", None, None]
    assert _reasons(QualityConfig(), label_values=None) == [
        None,
        None,
        "not_null(label)",
        None,
        None,
        None,
    ]


@pytest.mark.parametrize(
    "rule, want",
    [
        ({"column": "amount", "not_null": True}, [4]),
        ({"column": "amount", "min": 0}, [1]),  # a null passes a range check
        ({"column": "amount", "max": 1e6}, [5]),
        ({"column": "amount", "min": 0, "max": 1e6}, [1, 5]),
        ({"column": "region", "allowed": ["north", "south"]}, [2]),
        ({"column": "code", "pattern": "^m[0-9]{3}$"}, [1, 3]),
        ({"expr": "amount < 1000 OR region = 'south'"}, [5]),
        ({"expr": "LENGTH(code) = 4 AND amount IS NOT NULL"}, [1, 3, 4]),
        ({"expr": "region IN ('north', 'mars') OR region IS NULL"}, [1]),
    ],
)
def test_each_row_rule_type(rule, want):
    got = _reasons(QualityConfig(rules={"r": rule}), label_values=None)
    broken = [i for i, r in enumerate(got) if r and "r" in r.split("; ")]
    assert broken == want


def test_a_row_breaking_several_rules_names_them_all():
    cfg = QualityConfig(
        rules={"pos": {"column": "amount", "min": 0}, "known": {"expr": "region != 'south'"}}
    )
    assert _reasons(cfg)[1] == "pos; known"


@pytest.mark.parametrize(
    "rules, says",
    [
        ({"r": {"column": "amount"}}, "quality.rules.r"),
        ({"r": {"min": 0}}, "quality.rules.r.column"),
        ({"r": {"colum": "amount", "min": 0}}, "unknown keys ['colum']"),
    ],
)
def test_bad_rule_configs_name_the_key(rules, says):
    with pytest.raises(ConfigError, match=None) as exc:
        QualityConfig(rules=rules)
    assert says in str(exc.value)


@pytest.mark.parametrize(
    "rule, says",
    [
        ({"column": "price", "min": 0}, "'price' (quality.rules.r.column)"),
        ({"column": "region", "min": 0}, "not numeric"),
        ({"column": "code", "pattern": "(["}, "not a valid regular expression"),
        ({"column": "amount", "allowed": ["a"]}, "quality.rules.r.allowed"),
        ({"expr": "amount.real > 0"}, "quality.rules.r.expr"),
        ({"expr": "price > 0"}, "reads ['price'], which are not columns"),
        ({"expr": "SUM(amount) > 0"}, "uses the aggregate SUM()"),
        ({"expr": "amount > (SELECT 1)"}, "'SELECT' is not allowed"),
        ({"expr": "AVG(amount) OVER () > 0"}, "is not allowed"),
        ({"expr": "amount > 0; DROP TABLE x"}, "is not allowed"),
        ({"expr": "read_csv('x') IS NULL"}, "not valid SQL"),
        ({"expr": "amount + 'a' > 0"}, "does not fit the data's types"),
    ],
)
def test_rules_that_do_not_fit_the_data_are_user_errors(rule, says):
    with pytest.raises(UserError) as exc:
        build_contract(QualityConfig(rules={"r": rule}), SCHEMA, "label", None)
    assert says in str(exc.value)


def _profile(**over):
    prof = {
        "rows_in": 1000,
        "rows_accepted": 990,
        "rows_quarantined": 10,
        "columns": {
            "label": {"nulls": 0, "null_rate": 0.0},
            "amount": {"nulls": 100, "null_rate": 0.1},
            "empty": {"nulls": 1000, "null_rate": 1.0},
        },
        "duplicates": {"rows": 5, "row_rate": 0.005, "ids": 8, "id_rate": 0.008},
        "label_counts": {"0": 985, "1": 5},
        "freshness": {"column": "t", "newest": "2025-01-01T00:00:00", "age_seconds": 3 * 86400},
    }
    prof.update(over)
    return ProfileReport(**prof)


@pytest.mark.parametrize(
    "gates, failed",
    [
        ({}, ["all_null(empty)"]),
        ({"allow_all_null": True}, []),
        ({"allow_all_null": True, "min_rows": 991}, ["min_rows"]),
        ({"allow_all_null": True, "max_null_rate": {"amount": 0.05}}, ["max_null_rate(amount)"]),
        ({"allow_all_null": True, "max_null_rate": {"*": 0.5}}, ["max_null_rate(empty)"]),
        ({"allow_all_null": True, "max_duplicate_rate": 0.001}, ["max_duplicate_rate"]),
        ({"allow_all_null": True, "max_duplicate_rate": 0.005}, []),
        ({"allow_all_null": True, "max_duplicate_id_rate": 0.005}, ["max_duplicate_id_rate"]),
        ({"allow_all_null": True, "min_label_count": 6}, ["min_label_count(label=1)"]),
        ({"allow_all_null": True, "max_quarantine_rate": 0.005}, ["max_quarantine_rate"]),
        ({"allow_all_null": True, "max_age": "2d"}, ["max_age(t)"]),
        ({"allow_all_null": True, "max_age": "4d"}, []),
    ],
)
def test_each_dataset_gate(gates, failed):
    cfg = QualityConfig(gates=GateConfig(**gates))
    res = check_gates(_profile(), cfg, ["amount", "empty"], "label", [0, 1])
    got = [
        f"{r['gate']}({r['column']})" if r["column"] else r["gate"] for r in res if not r["passed"]
    ]
    assert got == failed
    if failed:
        assert gate_summary(res).count("limit") == len(failed)
    json.dumps(res)  # recorded in profile.json as is


def test_max_age_without_a_timestamp_is_a_user_error():
    cfg = QualityConfig(gates=GateConfig(max_age="1d", allow_all_null=True))
    with pytest.raises(UserError, match="profile.freshness_column"):
        check_gates(_profile(freshness=None), cfg, [], "label", None)


def _write(path, df):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path)


def test_files_are_conformed_or_named(tmp_path):
    d = tmp_path / "d"
    base = {"id": [1, 2], "x": [1.5, 2.5], "t": [datetime(2024, 1, 1)] * 2}
    _write(d / "a.parquet", pl.DataFrame(base))
    _write(
        d / "b.parquet",
        pl.DataFrame(base).with_columns(pl.col("id").cast(pl.Int32), pl.col("x").cast(pl.Float32)),
    )
    _write(
        d / "c.parquet",
        pl.DataFrame(base).with_columns(pl.lit(None).alias("x"), pl.lit(1).alias("extra")),
    )
    ds = plan(str(d))
    out, skipped = conform(ds, QualityConfig(), "error")
    assert skipped == []
    by = {s.path.rsplit("/", 1)[1]: s for s in out.shards}
    # naive timestamps are read in quality.timezone (UTC) and converted to UTC everywhere
    assert {(c.column, c.how) for c in by["a.parquet"].casts} == {
        ("t", "localize"),
        ("extra", "fill"),
    }
    assert {c.column for c in by["b.parquet"].casts if c.how == "cast"} == {"id", "x"}
    assert out.columns == ["id", "x", "t", "extra"]  # every file's columns
    assert out.notes["missing_columns"] == {"extra": [str(d / "a.parquet"), str(d / "b.parquet")]}
    for s in out.shards:  # every file reads back with the dataset's types and columns
        assert dict(read_shard(s).schema) == dict(read_shard(by["a.parquet"]).schema)
        assert scan_shard(s).collect().schema == read_shard(s).schema
    assert read_shard(by["a.parquet"])["extra"].to_list() == [None, None]

    _write(d / "e.parquet", pl.DataFrame(base).with_columns(pl.Series("x", ["1.5", "oops"])))
    with pytest.raises(UserError) as exc:
        conform(plan(str(d)), QualityConfig(coerce=["widen"]), "error")
    msg = str(exc.value)
    assert "'x' is double in" in msg and "a.parquet' but string in" in msg and "e.parquet'" in msg
    assert "quality.schema.x=float" in msg
    # with quality.coerce=[infer] (the default) the strings are counted: half of them fail
    from distml.cluster.tasks import in_process
    from distml.quality.infer import infer_text_types

    typed, _ = conform(plan(str(d)), QualityConfig(), "error")
    with in_process(), pytest.raises(UserError) as exc:
        infer_text_types(typed, QualityConfig())
    msg = str(exc.value)
    assert "'x' is Float64 in some files but text in others" in msg and "e.parquet" in msg
    assert "1 of its 2 strings there do not parse as float" in msg and "'oops'" in msg

    declared = QualityConfig(schema={"x": "float"}, coerce=["widen", "parse"])
    out, skipped = conform(plan(str(d)), declared, "error")
    e = next(s for s in out.shards if s.path.endswith("e.parquet"))
    got = read_shard(e, ["x", CAST_FAILED])
    assert got["x"].to_list() == [1.5, None] and got[CAST_FAILED].to_list() == [None, "x"]
    other = read_shard(out.shards[0], ["x", CAST_FAILED])
    assert other[CAST_FAILED].null_count() == other.height
    with pytest.raises(UserError, match="e.parquet.*'x' as String where Float64 is expected"):
        conform(plan(str(d)), QualityConfig(schema={"x": "float"}), "error")
    out, skipped = conform(plan(str(d)), QualityConfig(schema={"x": "float"}), "skip")
    assert [s["path"].rsplit("/", 1)[1] for s in skipped] == ["e.parquet"]

    _write(d / "f.parquet", pl.DataFrame({"id": [3], "t": [datetime(2024, 1, 1)]}))
    (d / "c.parquet").unlink()
    with pytest.raises(
        UserError, match="f.parquet' does not match the data's schema: it lacks the column 'x'"
    ):
        conform(plan(str(d)), replace(declared, missing_columns="error"), "error")
    d2 = tmp_path / "d2"
    _write(d2 / "a.parquet", pl.DataFrame(base))
    _write(d2 / "c.parquet", pl.DataFrame(base).with_columns(pl.lit(1).alias("extra")))
    strict = QualityConfig(
        schema={"id": "int", "x": "float", "t": "datetime"}, allow_extra_columns=False
    )
    with pytest.raises(UserError, match="c.parquet.*beyond quality.schema: \\['extra'\\]"):
        conform(plan(str(d2)), strict, "error")


@pytest.mark.parametrize("int96", [True, False])
def test_types_polars_reader_reads_otherwise_read_as_planned(tmp_path, int96):
    """A date64 column (Polars' reader: Datetime[ms]) and a zoned timestamp written as INT96
    (Polars: zoned; pyarrow, whose schema the plan follows: naive UTC) read as the plan says
    through both readers: the date as a Date, the instant unchanged."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tmp_path / "d"
    d.mkdir()
    pq.write_table(
        pa.table(
            {
                "id": [1, 2],
                "day": pa.array([date(2024, 1, 2), None], pa.date64()),
                "ts": pa.array([datetime(2024, 1, 1, 12), None], pa.timestamp("ns", tz="+01:00")),
            }
        ),
        d / "a.parquet",
        use_deprecated_int96_timestamps=int96,
    )
    out, _ = conform(plan(str(d)), QualityConfig(), "error")
    got = read_shard(out.shards[0])
    assert got["day"].dtype == pl.Date and got["day"].to_list() == [date(2024, 1, 2), None]
    noon_utc = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert got["ts"].dt.convert_time_zone("UTC").to_list() == [noon_utc, None]
    assert scan_shard(out.shards[0]).collect().equals(got)


def test_declared_schema_families(tmp_path):
    d = tmp_path / "d"
    _write(d / "a.parquet", pl.DataFrame({"n": ["1", "2"], "s": ["a", "b"]}))
    out, _ = conform(
        plan(str(d)), QualityConfig(schema={"n": "int", "s": "string"}, coerce=["parse"]), "error"
    )
    assert read_shard(out.shards[0])["n"].to_list() == [1, 2]
    with pytest.raises(UserError, match="quality.schema.z"):
        conform(plan(str(d)), QualityConfig(schema={"z": "int"}), "error")
    with pytest.raises(ConfigError, match="quality.schema.n"):
        QualityConfig(schema={"n": "integer"})


def _profile_dir(d, on_bad_file="error"):
    from distml.cluster import tasks as parallel
    from distml.config import ProfileConfig
    from distml.profile.stage import run_profile

    ds, skipped = conform(plan(str(d), on_bad_file=on_bad_file), QualityConfig(), on_bad_file)
    contract = build_contract(
        QualityConfig(), {"label": pl.Int8(), "a": pl.Float64()}, "label", [0, 1]
    )
    with parallel.in_process():
        res = run_profile(
            ds,
            contract,
            ProfileConfig(),
            label="label",
            id_column=None,
            out_dir=str(d.parent / "out"),
            on_bad_file=on_bad_file,
        )
    return res.report, res.skipped


def test_a_file_with_a_good_footer_and_corrupt_pages_is_named_or_skipped(tmp_path):
    d = tmp_path / "d"
    df = pl.DataFrame(
        {"a": [float(i) for i in range(1000)], "label": pl.Series([0, 1] * 500, dtype=pl.Int8)}
    )
    _write(d / "a.parquet", df)
    _write(d / "b.parquet", df)
    raw = bytearray((d / "b.parquet").read_bytes())
    raw[4:40] = b"\xff" * 36  # the first page header: the footer still reads
    (d / "b.parquet").write_bytes(bytes(raw))
    with pytest.raises(UserError) as exc:
        _profile_dir(d)
    assert "b.parquet' cannot be read" in str(exc.value) and "data.on_bad_file=skip" in str(
        exc.value
    )
    prof, skipped = _profile_dir(d, "skip")
    assert prof.rows_in == 1000
    assert [f["path"].rsplit("/", 1)[1] for f in skipped] == ["b.parquet"]


def test_an_all_null_column_fails_the_default_gate(tmp_path):
    d = tmp_path / "d"
    df = pl.DataFrame(
        {"a": [None] * 10, "label": pl.Series([0, 1] * 5, dtype=pl.Int8)},
        schema={"a": pl.Float64, "label": pl.Int8},
    )
    _write(d / "a.parquet", df)
    prof, _ = _profile_dir(d)
    res = check_gates(prof, QualityConfig(), ["a"], "label", [0, 1])
    assert [(r["gate"], r["column"]) for r in res if not r["passed"]] == [("all_null", "a")]


def test_timestamp_text_is_read_one_value_at_a_time_offsets_as_instants():
    """Strings parsed as timestamps: 'Z' and offsets are instants, naive values are read in the
    zone given (quality.timezone), whatever the first value of the column looks like."""
    from datetime import UTC

    from distml.data.casts import Cast, cast_expr

    texts = [
        "2024-05-01T10:00:00Z",
        "2024-05-01T12:00:00+02:00",
        "2024-05-01 12:00:00",  # naive, Paris summer time: 10:00 UTC
        "2024-05-01T12:00",
        "2024-05-01",  # midnight in Paris: 22:00 UTC the day before
        "not a time",
    ]
    want = pl.Datetime("us", "UTC")
    for order in (texts, texts[::-1]):
        got = (
            pl.DataFrame({"t": order})
            .select(cast_expr(Cast("t", want, "parse", "Europe/Paris")))
            .to_series()
            .to_list()
        )
        expected = {
            "2024-05-01": datetime(2024, 4, 30, 22, tzinfo=UTC),
            "not a time": None,
        }
        for text, value in zip(order, got, strict=True):
            assert value == expected.get(text, datetime(2024, 5, 1, 10, tzinfo=UTC)), text


def test_a_rule_that_cannot_be_evaluated_is_one_paragraph_naming_it_and_the_file():

    df = pl.DataFrame({"label": [0, 1, 0], "region": ["north", "7", "south"]})
    cfg = QualityConfig(rules={"region_code": {"expr": "CAST(region AS INT) > 0"}})
    contract = build_contract(cfg, dict(df.schema), "label", [0, 1])
    with pytest.raises(
        UserError,
        match=r"row rules \(.*region_code.*\) cannot be evaluated on the rows of 'f.parquet'",
    ):
        contract.check(df, "f.parquet")
    assert contract.check(df.filter(pl.col("region") == "7")).to_list() == [True]
