"""SQL row expressions (quality rules, derived features) compile to row-local Polars expressions
through Polars' SQL parser; nothing that is not a row expression gets through."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distml.errors import UserError
from distml.quality.sql import compile_sql

SCHEMA = {
    "amount": pl.Float64(),
    "n_items": pl.Int64(),
    "region": pl.String(),
    "t": pl.Datetime("us"),
    "unit price": pl.Float64(),
}


def _frame(amounts, items):
    n = len(amounts)
    return pl.DataFrame(
        {
            "amount": pl.Series(amounts, dtype=pl.Float64),
            "n_items": pl.Series(items, dtype=pl.Int64),
            "region": ["north" if i % 2 else None for i in range(n)],
            "t": pl.Series([None] * n, dtype=pl.Datetime("us")),
            "unit price": pl.Series([1.5] * n, dtype=pl.Float64),
        }
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.floats(-1e6, 1e6)), st.integers(0, 50)),
        min_size=1,
        max_size=40,
    )
)
def test_arithmetic_and_rules_match_python_row_by_row(rows):
    df = _frame([a for a, _ in rows], [n for _, n in rows])
    e, used = compile_sql("amount / (1 + n_items)", "k", SCHEMA)
    ratio = df.select(e.alias("x"))["x"].to_list()
    assert used == ["amount", "n_items"]
    for (a, n), g in zip(rows, ratio, strict=True):
        assert (g is None) if a is None else g == pytest.approx(a / (1 + n))
    rule, _ = compile_sql("n_items BETWEEN 0 AND 9 AND (amount > 0 OR amount IS NULL)", "k", SCHEMA)
    got = df.select(rule.alias("x"))["x"].to_list()
    for (a, n), g in zip(rows, got, strict=True):
        assert g == ((0 <= n <= 9) and (a is None or a > 0))
    # row-local: each row alone gives the same result as within the frame
    for i in range(df.height):
        assert df[i : i + 1].select(e.alias("x"))["x"][0] == ratio[i]


def test_functions_membership_and_three_valued_logic():
    df = pl.DataFrame(
        {"amount": [1.0, None, 100.0], "n_items": [0, 3, 5], "region": ["north", "x", None]}
    )
    cases = {
        "region IN ('north', 'south')": [True, False, None],
        "region NOT IN ('north')": [False, True, None],
        "region LIKE 'no%'": [True, False, None],
        "amount IS NULL": [False, True, False],
        "COALESCE(amount, 0) > 0": [True, False, True],
        "GREATEST(n_items, 2)": [2, 3, 5],
        "CASE WHEN n_items > 2 THEN 'many' ELSE 'few' END": ["few", "many", "many"],
        "LENGTH(region)": [5, 1, None],
        "LN(1 + n_items) > 1": [False, True, True],
        "amount > 10 OR n_items = 0": [True, None, True],
    }
    for text, want in cases.items():
        e, _ = compile_sql(text, "k", dict(df.schema))
        assert df.select(e.alias("x"))["x"].to_list() == want, text


def test_quoted_names_and_columns_read():
    e, used = compile_sql('"unit price" * n_items > 10', "k", SCHEMA)
    assert used == ["unit price", "n_items"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty"),
        ("amount > (SELECT 1)", "'SELECT' is not allowed"),
        ("SUM(amount) > 0", "uses the aggregate SUM()"),
        ("max(amount)", "uses the aggregate MAX()"),
        ("AVG(amount) OVER () > 1", "is not allowed"),
        ("amount > 0; DROP TABLE t", "is not allowed"),
        ("read_parquet('/etc/passwd') IS NULL", "not valid SQL"),
        ("amount >", "not valid SQL"),
        ("price > 0", "reads ['price'], which are not columns"),
        ("region + 1 > 0", "does not fit the data's types"),
    ],
)
def test_anything_else_is_a_user_error_naming_the_key(text, says):
    with pytest.raises(UserError) as exc:
        compile_sql(text, "quality.rules.r.expr", SCHEMA)
    assert says in str(exc.value) and "quality.rules.r.expr" in str(exc.value)


def test_quotes_do_not_hide_or_fake_keywords():
    # SELECT inside a string literal is data, not a subquery
    e, _ = compile_sql("region = 'SELECT'", "k", SCHEMA)
    assert pl.DataFrame({"region": ["SELECT", "x"]}).select(e)["region"].to_list() == [True, False]
