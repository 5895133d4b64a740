"""Types of text (distml/data/text.py: ingest's and Parquet strings' one set of rules) and the
partition plan of a key range (distml/ingest/postgres.py), against hand-worked cases and
Python's own parsers."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pytest

from distml.data.parse import NULL_MARKERS, DecimalChoice, parse, sniff_decimal
from distml.data.text import TextStats
from distml.ingest.postgres import numeric_type, plan_partitions


def _kind(values: list[str | None], share: float = 0.0, decimal: str = "point") -> str | None:
    st = TextStats.of(pl.Series(values, dtype=pl.String), decimal, NULL_MARKERS)
    return st.decide(share).kind


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "+3"], "int"),
        (["1", "-2", "007"], None),  # an integer with a leading zero: codes, kept as text
        (["18446744073709551615", "9223372036854775808", "1"], "uint"),  # beyond int64
        (["-1", "18446744073709551615"], None),  # neither int64 nor uint64
        (["1", "2.5", "1e3"], "float"),
        (["1", "nan", "-inf"], "float"),
        (["1", "x"], None),
        (["true", "False"], "bool"),
        (["1", "0"], "int"),  # int before bool
        (["true", "1"], "bool"),
        (["2024-01-02", "2023-12-31"], "date"),
        (["2024-01-02", "2024-01-02 03:04:05"], "datetime"),
        (["2024-01-02T03:04:05Z", "2024-01-02T03:04:05+02:00"], "datetime"),
        (["2024-01-02T03:04:05Z", "2024-01-02 03:04"], "datetime"),  # aware and naive: one column
        (["12345678901234567890", "1.5"], None),  # float64 would lose digits
        (["NA", "Namibia"], None),  # text keeps its markers
        (["1.5", "NA", "n/a", "None"], "float"),  # a number column reads them as null
        (["2024-01-02t03:04:05", "2024-01-02 03:04:05,25"], "datetime"),  # 't', a comma fraction
        (["1234567890123456789"], "int"),
        ([None, None], None),  # no value seen
        (["1", None, "2"], "int"),
        ([" 1"], "int"),  # surrounding spaces are not part of a number
        (["1,234.50", "2.5"], "float"),  # a thousands separator
    ],
)
def test_inferred_kind_on_hand_worked_columns(values, expected):
    assert _kind(values) == expected


def test_a_few_decimals_with_leading_zeros_keep_a_number_column():
    values = ["1.5", "2"] * 1000 + ["00.5"]
    assert _kind(values, 0.001) == "float" and _kind(values, 0.0) is None
    assert _kind(["12", "13"] * 1000 + ["012"], 0.001) is None  # integers: codes


def _python_kinds(v: str) -> set[str]:
    """The kinds a value parses as, by Python's own parsers (the independent reference)."""
    kinds = set()
    s = v.strip()
    for k, f in (("int", int), ("float", float)):
        try:
            f(s)
            if "_" not in s and (k != "int" or s.lstrip("+-").isdigit()):
                kinds.add(k)
        except ValueError:
            pass
    if s in ("true", "false", "True", "False", "TRUE", "FALSE", "1", "0"):
        kinds.add("bool")
    return kinds


def test_merged_counts_of_any_split_equal_one_pass_and_pythons_parsers():
    """Counts add: any split of a column into batches merges to the whole column's counts, and
    each kind's failures are the values Python's parsers reject."""
    rng = random.Random(5)
    pools = [["1", "22", "-3"], ["1.5", "2", "-0.25"], ["x", "1"], ["7", None], ["true", "0"]]
    for _ in range(150):
        pool = rng.choice(pools) + rng.choice(pools)
        values = [rng.choice(pool) for _ in range(rng.randint(1, 40))]
        whole = TextStats.of(pl.Series(values, dtype=pl.String))
        cuts = sorted(rng.sample(range(len(values) + 1), k=min(3, len(values) + 1)))
        merged = TextStats()
        for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True):
            merged = merged.merge(TextStats.of(pl.Series(values[a:b], dtype=pl.String)))
        present = [v for v in values if v is not None]
        assert merged.values == whole.values == len(present)
        for k in ("int", "float", "bool"):
            want = sum(k not in _python_kinds(v) for v in present)
            assert merged.fails[k] == whole.fails[k] == want, (k, values)


@pytest.mark.parametrize("where", ["first", "after_probe", "last"])
def test_a_late_offending_value_is_counted(where):
    """Every value decides, not a prefix: one bad value at position 0, after the first 64 or
    last of 5,000 is counted (and a 0.1% share allows it, a 0 share does not)."""
    values = [str(i) for i in range(5000)]
    at = {"first": 0, "after_probe": 70, "last": 4999}[where]
    values[at] = "12x"
    st = TextStats.of(pl.Series(values))
    assert st.fails["int"] == 1 and st.example["int"] == "12x"
    assert st.decide(0.001).kind == "int" and st.decide(0.001).bad == 1
    assert st.decide(0.0).kind is None


def _floats(values: list[str], decimal: str = "point") -> list[float | None]:
    return (
        pl.select(parse(pl.lit(pl.Series(values)), "float", decimal=decimal)).to_series().to_list()
    )


def test_decimal_commas_and_thousands_separators_by_convention():
    values = ["-0,083", "1.234,5", "12"]
    assert sniff_decimal([pl.Series(values)]).decimal == "comma"
    assert _floats(values, "comma") == [-0.083, 1234.5, 12.0]
    assert sniff_decimal([pl.Series(["1,234.50", "3.14"])]).decimal == "point"
    assert _floats(["1,234.50", "1,234,567"]) == [1234.5, 1234567.0]
    # a leading group is 1-9: '0,125' is no thousands group, '0.125' no decimal-comma grouping
    assert _floats(["0,125"]) == [None] and _floats(["0.125"], "comma") == [0.125]
    # currency signs and percentages, as spreadsheets export them
    assert _floats(["$1,234.50", "-$5", "12 €", "12.5%"]) == [1234.5, -5.0, 12.0, 0.125]
    # a lone 3-digit group is ambiguous: said as a guess, the preferred convention taken
    assert sniff_decimal([pl.Series(["1,234"])]) == DecimalChoice("point", "1,234")
    assert sniff_decimal([pl.Series(["837.737"])], prefer="comma") == DecimalChoice(
        "comma", "837.737"
    )


def test_every_iso_8601_form_is_one_instant_naive_values_in_the_zone():
    forms = [
        "2024-06-01T12:00:00+02:00",
        "2024-06-01 10:00:00Z",
        "2024-06-01T10:00Z",
        "2024-06-01T15:30:00+0530",
        "2024-06-01 12:00:00",  # naive: read in Europe/Paris (+02:00 in June)
        "2024-06-01T12:00",
        "2024-06-01T12:00:00.000",
    ]
    got = pl.select(
        parse(pl.lit(pl.Series(forms)), "datetime", utc=True, timezone="Europe/Paris")
    ).to_series()
    want = []
    for f in forms:  # Python's ISO reader, naive values placed in Paris
        d = datetime.fromisoformat(f.replace("Z", "+00:00"))
        if f.endswith("+0530"):
            d = datetime.fromisoformat(f[:-5] + "+05:30")
        d = d if d.tzinfo else d.replace(tzinfo=ZoneInfo("Europe/Paris"))
        want.append(d.astimezone(UTC))
    assert [g.astimezone(UTC) for g in got.to_list()] == want
    assert all(w == datetime(2024, 6, 1, 10, tzinfo=UTC) for w in want)


def test_json_strings_stay_text_unless_dates():
    zips = TextStats.of(pl.Series(["01939", "12345", "02134"]))
    zips.json = {"string": 3}
    assert zips.decide(0.001).kind is None
    nums = TextStats.of(pl.Series(["1", "2.5"]))
    nums.json = {"number": 2}
    assert nums.decide(0.001).kind == "float"
    days = TextStats.of(pl.Series(["2024-01-01", "2024-02-01"]))
    days.json = {"string": 2}
    assert days.decide(0.001).kind == "date"


def test_integer_key_ranges_cover_every_key_once():
    parts = plan_partitions(1, 200_000, 4, "id")
    assert [p.where for p in parts] == [
        '("id" < 50001 OR "id" IS NULL)',
        '"id" >= 50001 AND "id" < 100001',
        '"id" >= 100001 AND "id" < 150001',
        '"id" >= 150001',
    ]
    # a range narrower than the partitions: no empty or repeated range
    assert len(plan_partitions(5, 6, 4, "k")) == 2


def test_time_key_ranges_and_a_key_that_cannot_be_cut():
    parts = plan_partitions(date(2024, 1, 1), date(2024, 1, 31), 3, "day")
    assert parts[1].where == "\"day\" >= '2024-01-12'::date AND \"day\" < '2024-01-23'::date"
    parts = plan_partitions(datetime(2024, 1, 1), datetime(2024, 1, 3), 2, "t")
    assert parts[1].where == "\"t\" >= '2024-01-02T00:00:00'::timestamp"
    assert [p.where for p in plan_partitions(None, None, 4, "k")] == ["TRUE"]
    from distml.errors import UserError

    with pytest.raises(UserError, match="ingest.partition_column 'name'"):
        plan_partitions("a", "z", 4, "name")


def test_numeric_precision_from_the_type_modifier():
    # PostgreSQL stores numeric(p, s) as ((p << 16) | s) + 4
    assert numeric_type(((10 << 16) | 2) + 4) == pa.decimal128(10, 2)
    assert numeric_type(-1) == pa.float64()
    assert numeric_type(((60 << 16) | 2) + 4) == pa.float64()


def test_local_times_a_zone_skips_or_repeats_are_counted_and_fail_only_as_instants():
    """In Europe/Berlin 2024-03-31 02:30 does not exist and 2024-10-27 02:30 happens twice."""
    values = ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-06-01 12:00:00"]
    st = TextStats.of(pl.Series(values), timezone="Europe/Berlin")
    assert (st.dst_gap, st.dst_repeat) == (1, 1)
    assert st.decide(0.0).kind == "datetime"  # kept naive, as written: nothing fails
    assert st.decide(0.0, utc=True).kind is None  # as instants the skipped time fails
    assert st.decide(0.5, utc=True).bad == 1
    got = pl.select(
        parse(pl.lit(pl.Series(values)), "datetime", utc=True, timezone="Europe/Berlin")
    ).to_series()
    # independent: Python's zoneinfo, the earlier instant for the repeated hour (fold=0)
    berlin = ZoneInfo("Europe/Berlin")
    want = [
        None,
        datetime(2024, 10, 27, 2, 30, tzinfo=berlin),
        datetime(2024, 6, 1, 12, tzinfo=berlin),
    ]
    assert got.to_list()[0] is None
    assert [g.astimezone(UTC) for g in got.to_list()[1:]] == [w.astimezone(UTC) for w in want[1:]]


@pytest.mark.parametrize(
    "values",
    [
        ["1", "-2", "1,234", "$5", "12%", "x", "1e5", "inf", "0,5", "1.234,5"],
        ["2024-01-02", "2024-01-02T03:04", "2024-01-02 03:04:05.25", "2024-01-02T03:04:05Z"],
        ["2024-01-02T03:04:05", "2024-01-02T03:04:05.123456", "2024-13-02T00:00:00"],
        ["2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05+0200", "2024-01-02T03:04:05Z"],
        ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-01-02T03:04:05,5", "2024-01-02t03:04"],
        ["2024-01-02T03", "2024-01-02T03:04:05.123456789", "2024-01-02 24:00:00"],
        ["2024-03-31 02:30:00", "2024-10-27 02:30:00", "2024-01-02", "2024-01-02T03:04"],
        ["2024-01-02 03:04:05.5", "2024-06-02T03:04:05.000001"],
        ["2024-01-02T03:04:05Z", "2024-06-02T03:04:05.5+05:30", "2024-06-02T03:04+01"],
    ],
)
def test_the_fast_eager_parse_equals_the_expression_parse(values):
    """parse_values (a fast path, the rules only where needed) and parse (one expression, as
    Parquet casts read) give the same value for every text, kind and convention."""
    from distml.data.parse import FORMS, datetime_forms, parse_values

    s = pl.Series("v", values)
    for kind in ("int", "uint", "float", "bool", "date", "datetime"):
        for decimal in ("point", "comma"):
            for utc in (False, True):
                kw = {"decimal": decimal, "utc": utc, "timezone": "Europe/Berlin"}
                want = s.to_frame().select(parse(pl.col("v"), kind, **kw)).to_series()
                got = parse_values(s, kind, forms=frozenset(FORMS), **kw)
                assert got.to_list() == want.to_list(), (kind, decimal, utc)
                # with the forms the column holds (as inference and conversion pass them)
                dated = s.filter(s.str.contains(r"^\d{4}-\d{2}-\d{2}"))
                seen = frozenset(k for k, n in datetime_forms(dated).items() if n)
                got = parse_values(s, kind, forms=seen, **kw)
                assert got.to_list() == want.to_list(), (kind, decimal, utc, seen)
