"""Config expressions compile to row-local Polars expressions; nothing else gets through."""

import math
import os

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from distml.errors import UserError
from distml.expr import compile_expr

COLS = ["amount", "n_items", "region", "t"]


def _frame(amounts, items):
    return pl.DataFrame(
        {
            "amount": pl.Series(amounts, dtype=pl.Float64),
            "n_items": pl.Series(items, dtype=pl.Int64),
            "region": ["north" if i % 2 else None for i in range(len(amounts))],
            "t": pl.datetime_range(
                pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 1), "1d", eager=True
            ).extend_constant(None, len(amounts) - 1)
            if amounts
            else pl.Series([], dtype=pl.Datetime("us")),
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
    e, used = compile_expr("amount / (1 + n_items)", "k", COLS)
    ratio = df.select(e.alias("x"))["x"].to_list()
    assert used == ["amount", "n_items"]
    for (a, n), g in zip(rows, ratio, strict=True):
        assert (g is None) if a is None else g == pytest.approx(a / (1 + n))
    rule, _ = compile_expr("0 <= n_items < 10 and (amount > 0 or amount is None)", "k", COLS)
    got = df.select(rule.alias("x"))["x"].to_list()
    for (a, n), g in zip(rows, got, strict=True):
        assert g == ((0 <= n < 10) and (a is None or a > 0))
    # row-local: each row alone gives the same result as within the frame
    for i in range(df.height):
        assert df[i : i + 1].select(e.alias("x"))["x"][0] == ratio[i]


def test_functions_membership_and_conditionals():
    df = pl.DataFrame(
        {"amount": [1.0, None, 100.0], "n_items": [0, 3, 5], "region": ["north", "x", None]}
    )
    cases = {
        "log1p(amount)": [math.log1p(1.0), None, math.log1p(100.0)],
        "clip(amount, 2, 50)": [2.0, None, 50.0],
        "coalesce(amount, -1)": [1.0, -1.0, 100.0],
        "region in ['north', 'south']": [True, False, None],
        "region not in ['north']": [False, True, None],
        "is_null(region)": [False, False, True],
        "len(region)": [5, 1, None],
        "1 if n_items > 2 else 0": [0, 1, 1],
        'contains(region, "^no")': [True, False, None],
        'col("n_items") * 2': [0, 6, 10],
        "max(n_items, 4)": [4, 4, 5],
        "-amount": [-1.0, None, -100.0],
    }
    for text, want in cases.items():
        e, _ = compile_expr(text, "k", df.columns)
        assert df.select(e.alias("x"))["x"].to_list() == want, text


@pytest.mark.parametrize(
    "text, says",
    [
        ("__import__('os').system('touch /tmp/distml-pwned')", "is not allowed (Call)"),
        ("__import__('os')", "unknown function '__import__'"),
        ("amount.real", "not allowed (Attribute)"),
        ("amount[0]", "not allowed (Subscript)"),
        ("[x for x in amount]", "not allowed (ListComp)"),
        ("lambda: 1", "not allowed (Lambda)"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("amount +", "is not valid"),
        ("price > 1", "unknown column 'price'"),
        ("amount is 1", "'is' compares only with None"),
        ("region in regions", "literal list"),
        ("log(amount, 2)", "takes 1 arguments, got 2"),
        ("", "is empty"),
    ],
)
def test_anything_else_is_a_user_error_naming_the_key(text, says, tmp_path):
    with pytest.raises(UserError) as exc:
        compile_expr(text, "quality.rules.r.expr", COLS)
    assert says in str(exc.value) and "quality.rules.r.expr" in str(exc.value)
    assert not os.path.exists("/tmp/distml-pwned")
