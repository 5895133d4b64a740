"""Row expressions written as strings in the config, compiled to Polars without ever running Python.

``compile_expr("amount / (1 + n_items)")`` parses the text with :mod:`ast` (parsing executes
nothing) and translates a whitelist of node types into a Polars expression: column names,
numbers, strings, ``True/False/None``, arithmetic, comparisons (chained too), ``and/or/not``,
``in``/``not in`` a literal list, ``is None``/``is not None``, ``a if cond else b`` and the row-wise
functions in ``FUNCTIONS``. Anything else (attribute access, subscripts, lambdas, comprehensions,
unknown functions, aggregations) is a ``UserError`` naming the config key. Every expression is
row-local: a row's result never depends on the other rows in its batch.

A column whose name is not a Python identifier is written ``col("my column")``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

import polars as pl

from distml.errors import UserError

_BINOPS: dict[type, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _num(e: pl.Expr) -> pl.Expr:
    return e.cast(pl.Float64)


FUNCTIONS: dict[str, tuple[int, int, Callable[..., pl.Expr]]] = {
    # name: (min args, max args, builder)
    "abs": (1, 1, lambda x: x.abs()),
    "log": (1, 1, lambda x: _num(x).log()),
    "log1p": (1, 1, lambda x: _num(x).log1p()),
    "log10": (1, 1, lambda x: _num(x).log10()),
    "exp": (1, 1, lambda x: _num(x).exp()),
    "sqrt": (1, 1, lambda x: _num(x).sqrt()),
    "round": (1, 2, lambda x, d=None: _num(x).round(_int_literal(d, "round"))),
    "floor": (1, 1, lambda x: _num(x).floor()),
    "ceil": (1, 1, lambda x: _num(x).ceil()),
    "min": (2, 8, lambda *xs: pl.min_horizontal(*xs)),  # ignores nulls, like coalesce
    "max": (2, 8, lambda *xs: pl.max_horizontal(*xs)),
    "clip": (3, 3, lambda x, lo, hi: x.clip(lo, hi)),
    "coalesce": (2, 8, lambda *xs: pl.coalesce(*xs)),
    "is_null": (1, 1, lambda x: x.is_null()),
    "is_not_null": (1, 1, lambda x: x.is_not_null()),
    "is_nan": (1, 1, lambda x: _num(x).is_nan()),
    "float": (1, 1, _num),
    "int": (1, 1, lambda x: x.cast(pl.Int64, strict=False)),
    "str": (1, 1, lambda x: x.cast(pl.String)),
    "len": (1, 1, lambda x: x.cast(pl.String).str.len_chars()),
    "lower": (1, 1, lambda x: x.cast(pl.String).str.to_lowercase()),
    "upper": (1, 1, lambda x: x.cast(pl.String).str.to_uppercase()),
    "contains": (2, 2, lambda x, s: x.cast(pl.String).str.contains(_str_literal(s, "contains"))),
    "startswith": (2, 2, lambda x, s: x.cast(pl.String).str.starts_with(s)),
    "endswith": (2, 2, lambda x, s: x.cast(pl.String).str.ends_with(s)),
    "year": (1, 1, lambda x: x.dt.year()),
    "month": (1, 1, lambda x: x.dt.month()),
    "day": (1, 1, lambda x: x.dt.day()),
    "weekday": (1, 1, lambda x: x.dt.weekday()),
    "hour": (1, 1, lambda x: x.dt.hour()),
    "days_between": (2, 2, lambda a, b: (a - b).dt.total_days()),
}


def _int_literal(e: pl.Expr | None, fn: str) -> int:
    if e is None:
        return 0
    value = getattr(e, "_distml_literal", None)
    if not isinstance(value, int):
        raise _Bad(f"{fn}()'s second argument must be a whole number")
    return value


def _str_literal(e: pl.Expr, fn: str) -> str:
    value = getattr(e, "_distml_literal", None)
    if not isinstance(value, str):
        raise _Bad(f"{fn}()'s second argument must be a quoted string (a regular expression)")
    return value


class _Bad(Exception):
    pass


def _lit(value: object) -> pl.Expr:
    e = pl.lit(value)
    e._distml_literal = value  # type: ignore[attr-defined]
    return e


def _literal_list(node: ast.AST) -> list:
    if not isinstance(node, ast.List | ast.Tuple | ast.Set):
        raise _Bad("'in' needs a literal list such as ['a', 'b']")
    out = []
    for elt in node.elts:
        if not isinstance(elt, ast.Constant):
            raise _Bad("'in' lists may hold only literal values")
        out.append(elt.value)
    return out


class _Compiler:
    def __init__(self, columns: set[str] | None) -> None:
        self.columns = columns
        self.used: list[str] = []

    def col(self, name: str) -> pl.Expr:
        if self.columns is not None and name not in self.columns:
            raise _Bad(f"unknown column '{name}' (columns: {', '.join(sorted(self.columns))})")
        if name not in self.used:
            self.used.append(name)
        return pl.col(name)

    def __call__(self, node: ast.AST) -> pl.Expr:
        match node:
            case ast.Expression(body=body):
                return self(body)
            case ast.Name(id=name):
                return self.col(name)
            case ast.Constant(value=v) if v is None or isinstance(v, bool | int | float | str):
                if isinstance(v, float) and not math.isfinite(v):
                    raise _Bad("non-finite numbers are not allowed")
                return _lit(v)
            case ast.BinOp(left=a, op=op, right=b) if type(op) in _BINOPS:
                return _BINOPS[type(op)](self(a), self(b))
            case ast.UnaryOp(op=ast.USub(), operand=a):
                if isinstance(a, ast.Constant) and isinstance(a.value, int | float):
                    return _lit(-a.value)
                return -self(a)
            case ast.UnaryOp(op=ast.UAdd(), operand=a):
                return self(a)
            case ast.UnaryOp(op=ast.Not(), operand=a):
                return ~self(a)
            case ast.BoolOp(op=op, values=values):
                parts = [self(v) for v in values]
                out = parts[0]
                for p in parts[1:]:
                    out = (out & p) if isinstance(op, ast.And) else (out | p)
                return out
            case ast.Compare(left=left, ops=ops, comparators=rights):
                out: pl.Expr | None = None
                a_node = left
                for op, b_node in zip(ops, rights, strict=True):
                    part = self._compare(a_node, op, b_node)
                    out = part if out is None else (out & part)
                    a_node = b_node
                assert out is not None
                return out
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return pl.when(self(test)).then(self(body)).otherwise(self(orelse))
            case ast.Call(
                func=ast.Name(id="col"), args=[ast.Constant(value=str(name))], keywords=[]
            ):
                return self.col(name)
            case ast.Call(func=ast.Name(id=fn), args=args, keywords=[]) if fn in FUNCTIONS:
                lo, hi, build = FUNCTIONS[fn]
                if not lo <= len(args) <= hi:
                    want = str(lo) if lo == hi else f"{lo} to {hi}"
                    raise _Bad(f"{fn}() takes {want} arguments, got {len(args)}")
                return build(*[self(a) for a in args])
            case ast.Call(func=ast.Name(id=fn)):
                raise _Bad(
                    f"unknown function '{fn}' (allowed: col, {', '.join(sorted(FUNCTIONS))})"
                )
        raise _Bad(f"'{ast.unparse(node)}' is not allowed ({type(node).__name__})")

    def _compare(self, a_node: ast.AST, op: ast.cmpop, b_node: ast.AST) -> pl.Expr:
        if isinstance(op, ast.In | ast.NotIn):
            values = _literal_list(b_node)
            e = self(a_node).is_in(values)
            return ~e if isinstance(op, ast.NotIn) else e
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(b_node, ast.Constant) and b_node.value is None):
                raise _Bad("'is' compares only with None (x is None, x is not None)")
            e = self(a_node).is_null()
            return ~e if isinstance(op, ast.IsNot) else e
        if type(op) not in _CMPOPS:
            raise _Bad(f"the comparison {type(op).__name__} is not allowed")
        return _CMPOPS[type(op)](self(a_node), self(b_node))


def compile_expr(
    text: str, key: str, columns: set[str] | list[str] | None = None
) -> tuple[pl.Expr, list[str]]:
    """The Polars expression for ``text`` and the columns it reads.

    ``key`` names the config entry in error messages; ``columns`` (when given) are the only
    column names the expression may use.
    """
    if not isinstance(text, str) or not text.strip():
        raise UserError(
            f"The expression at {key} is empty; write it as a string, e.g. 'a / (1 + b)'."
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise UserError(
            f"The expression {text!r} at {key} is not valid: {exc.msg} at column {exc.offset}. "
            "Write a row expression such as 'amount / (1 + n_items)' or 'amount >= 0'."
        ) from None
    comp = _Compiler(set(columns) if columns is not None else None)
    try:
        expr = comp(tree)
    except _Bad as exc:
        raise UserError(
            f"The expression {text!r} at {key} cannot be used: {exc}. Expressions may use column "
            "names, numbers, strings, arithmetic, comparisons, and/or/not, 'in [...]', "
            "'is None' and the row functions listed in distml/expr.py."
        ) from None
    return expr, comp.used
