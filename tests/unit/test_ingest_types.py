"""Type inference of text columns (distml/ingest/types.py) and the partition plan of a key range
(distml/ingest/postgres.py), against hand-worked cases and Python's own parsers."""

from __future__ import annotations

import random
from datetime import date, datetime

import pyarrow as pa
import pytest

from distml.ingest.postgres import numeric_type, plan_partitions
from distml.ingest.types import TextType, cast_or_fail, infer


def _type(values: list[str | None]) -> pa.DataType:
    return infer(pa.array(values, pa.string())).arrow()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "007"], pa.int64()),  # leading zeros are not kept: declare string
        (["+3"], pa.float64()),  # Arrow's integer parser takes no '+' sign; its float parser does
        (["1", "2.5", "1e3"], pa.float64()),
        (["1", "nan", "-inf"], pa.float64()),
        (["1", "x"], pa.string()),
        (["true", "False"], pa.bool_()),
        (["1", "0"], pa.int64()),  # int before bool
        (["true", "1"], pa.bool_()),
        (["2024-01-02", "2023-12-31"], pa.date32()),
        (["2024-01-02", "2024-01-02 03:04:05"], pa.timestamp("us")),
        (["2024-01-02T03:04:05Z", "2024-01-02T03:04:05+02:00"], pa.timestamp("us", "UTC")),
        (["2024-01-02T03:04:05Z", "2024-01-02T03:04:05"], pa.string()),  # aware and naive
        (["12345678901234567890", "1.5"], pa.string()),  # float64 would lose digits
        (["1234567890123456789"], pa.int64()),
        ([None, None], pa.string()),  # no value seen
        (["1", None, "2"], pa.int64()),
        ([" 1"], pa.string()),  # Arrow does not strip spaces: kept as text
    ],
)
def test_inferred_type_on_hand_worked_columns(values, expected):
    assert _type(values) == expected


def _python_kind(v: str) -> set[str]:
    """The kinds a value parses as, by Python's own parsers (the independent reference)."""
    kinds = set()
    try:
        int(v)
        if v.strip() == v and "_" not in v:
            kinds.add("int")
    except ValueError:
        pass
    try:
        float(v)
        if v.strip() == v and "_" not in v:
            kinds.add("float")
    except ValueError:
        pass
    return kinds


def test_merging_states_of_any_split_equals_one_pass():
    """The state is an intersection: any split of a column into batches merges to the state of
    the whole column, and the type agrees with Python's parsers."""
    rng = random.Random(5)
    pools = [["1", "22", "-3"], ["1.5", "2", "-0.25"], ["x", "1"], ["7", None]]
    for _ in range(200):
        pool = rng.choice(pools) + rng.choice(pools)
        values = [rng.choice(pool) for _ in range(rng.randint(1, 40))]
        whole = infer(pa.array(values, pa.string()))
        cuts = sorted(rng.sample(range(len(values) + 1), k=min(3, len(values) + 1)))
        merged = TextType()
        for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True):
            merged = merged.merge(infer(pa.array(values[a:b], pa.string())))
        assert merged == whole
        present = [v for v in values if v is not None]
        if not present:
            assert whole.arrow() == pa.string()
        elif all("int" in _python_kind(v) for v in present):
            assert whole.arrow() == pa.int64()
        elif all("float" in _python_kind(v) for v in present):
            assert whole.arrow() == pa.float64()
        else:
            assert whole.arrow() == pa.string()


def test_a_declared_type_marks_exactly_the_values_that_do_not_parse():
    values = pa.array(["1", "x", None, "3", "4.5"], pa.string())
    out, bad = cast_or_fail(values, pa.int64())
    assert out.to_pylist() == [1, None, None, 3, None]
    assert bad.to_pylist() == [False, True, False, False, True]
    out, bad = cast_or_fail(pa.array(["1", "2"]), pa.int64())
    assert out.to_pylist() == [1, 2] and bad is None


def test_declared_datetime_converts_offsets_and_reads_naive_values_in_the_time_zone():
    values = pa.array(["2024-06-01T12:00:00+02:00", "2024-06-01 12:00:00", "soon"])
    out, bad = cast_or_fail(values, pa.timestamp("us", "UTC"), "Europe/Paris")
    utc = [None if v is None else v.replace(tzinfo=None) for v in out.to_pylist()]
    # 12:00 at +02:00 is 10:00 UTC; naive 12:00 in Paris (summer, +02:00) too
    assert utc == [datetime(2024, 6, 1, 10), datetime(2024, 6, 1, 10), None]
    assert bad.to_pylist() == [False, False, True]


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
