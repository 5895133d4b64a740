"""PostgreSQL tables and queries read in parallel partitions through ADBC.

The connector is the Apache Arrow project's ADBC PostgreSQL driver (``adbc-driver-postgresql``,
the ``postgres`` extra): it reads with PostgreSQL's binary COPY straight into Arrow record batches,
is maintained with pyarrow itself and uses libpq, so credentials come the way every PostgreSQL
tool takes them: PGPASSWORD and the other PG* variables, ~/.pgpass, or a service file
(``?service=name``). A password in the URI is refused, so it is never saved or logged.

Consistency: the driver opens a REPEATABLE READ transaction, exports its snapshot
(``pg_export_snapshot()``, as ``pg_dump --jobs`` does) and counts the rows and the key's range in
it; every partition's task imports that snapshot, so the partitions together are exactly the rows
the count saw, even while the table is being written to. Partitions cut the key's min..max range
into equal ranges (null keys go to the first).
"""

from __future__ import annotations

import math
import posixpath
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa

from distml.config import IngestConfig
from distml.data.columns import repeated
from distml.data.fs import filesystem
from distml.errors import UserError
from distml.ingest.pieces import PieceWriter


def is_postgres(source: str) -> bool:
    return source.split("://", 1)[0].lower() in ("postgresql", "postgres")


def check_uri(source: str) -> None:
    """Refuse a URI that holds a password: it would end up in configs, logs and shell history."""
    parts = urlsplit(source)
    if parts.password or any("password" in k.lower() for k in parse_qs(parts.query)):
        raise UserError(
            "The source URI holds a password. distml never takes credentials from the command "
            "line or a config (they would be saved with the run): remove it from the URI and "
            "set PGPASSWORD in the environment, or use ~/.pgpass or a libpq service file "
            "(source=postgresql:///?service=NAME)."
        )


def _connect(source: str, autocommit: bool = False) -> Any:
    try:
        import adbc_driver_postgresql.dbapi as dbapi
    except ImportError:
        raise UserError(
            "Reading PostgreSQL needs the ADBC PostgreSQL driver, an optional extra of distml: "
            "pip install 'distml[postgres]'."
        ) from None
    try:
        return dbapi.connect(source, autocommit=autocommit)
    except Exception as exc:  # the driver's OperationalError, with libpq's words
        first = str(exc).splitlines()[0].replace("IO: [libpq] ", "")
        raise UserError(
            f"Could not connect to {source}: {first}. Check the host, port and database in the "
            "URI; the user and password come from PGUSER/PGPASSWORD, ~/.pgpass or a libpq "
            "service file."
        ) from None


def quote_ident(name: str) -> str:
    """A table or column name quoted for SQL; ``schema.table`` is quoted part by part and a name
    that is already quoted is kept."""
    if name.startswith('"'):
        return name
    return ".".join('"' + p.replace('"', '""') + '"' for p in name.split("."))


def quote_column(name: str) -> str:
    """A column name quoted for SQL, whatever it holds (dots, quotes, spaces)."""
    return '"' + name.replace('"', '""') + '"'


def relation(cfg: IngestConfig) -> str:
    if cfg.query:
        return f"({cfg.query.strip().rstrip(';')}) AS distml_source"
    if cfg.table:
        return quote_ident(cfg.table)
    raise UserError("A PostgreSQL source needs ingest.table=<table> or ingest.query='SELECT ...'.")


@dataclass(frozen=True)
class Partition:
    index: int
    where: str
    """The SQL condition of this partition's rows (TRUE for one partition)."""


def _literal(v: Any) -> str:
    if isinstance(v, datetime):
        return f"'{v.isoformat()}'::{'timestamptz' if v.tzinfo else 'timestamp'}"
    if isinstance(v, date):
        return f"'{v.isoformat()}'::date"
    return repr(v)


def plan_partitions(lo: Any, hi: Any, n: int, key: str) -> list[Partition]:
    """``n`` equal ranges of [lo, hi]: key >= a AND key < b, the last without an upper bound
    and the first with the null keys."""
    col = quote_column(key)
    if lo is None:  # every key is null
        return [Partition(0, "TRUE")]
    if isinstance(lo, datetime):
        step = (hi - lo) / n
        cuts = [lo + step * i for i in range(1, n)]
    elif isinstance(lo, date):
        width = math.ceil(((hi - lo).days + 1) / n)
        cuts = [lo + timedelta(days=width * i) for i in range(1, n)]
    elif isinstance(lo, int) and isinstance(hi, int):
        width = math.ceil((hi - lo + 1) / n)
        cuts = [lo + width * i for i in range(1, n)]
    elif isinstance(lo, int | float) and isinstance(hi, int | float):
        cuts = [lo + (hi - lo) * i / n for i in range(1, n)]
    else:
        raise UserError(
            f"ingest.partition_column '{key}' holds {type(lo).__name__} values; partitions are "
            "cut on a numeric, date or timestamp column. Name such a column, or set "
            "ingest.partitions=1."
        )
    cuts = [c for c in cuts if lo < c <= hi]  # no empty range past the largest key
    cuts = sorted(set(cuts))
    bounds = [None, *cuts, None]
    parts = []
    for i in range(len(bounds) - 1):
        a, b = bounds[i], bounds[i + 1]
        cond = []
        if a is not None:
            cond.append(f"{col} >= {_literal(a)}")
        if b is not None:
            cond.append(f"{col} < {_literal(b)}")
        where = " AND ".join(cond) or "TRUE"
        if i == 0:
            where = f"({where} OR {col} IS NULL)"
        parts.append(Partition(i, where))
    return parts


def select_list(cur: Any, rel: str) -> tuple[str, list[str]]:
    """The columns to read, with those Parquet and distml cannot use as they arrive (uuid, json,
    inet, xml, bit, geometric and other opaque types, interval) read as their text, money as
    numeric; and notes naming them. Duplicate column names are an error."""
    cur.execute(f"SELECT * FROM {rel} LIMIT 0")
    schema = cur.fetch_arrow_table().schema
    dup = repeated(schema.names)
    if dup:
        raise UserError(
            f"The query returns the column(s) {', '.join(map(repr, dup))} more than once; "
            "name each column once in ingest.query (e.g. SELECT a.id AS a_id, b.id AS b_id)."
        )
    cols, notes = [], []
    for f in schema:
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        pg = meta.get("POSTGRESQL:type", "")
        q = quote_column(f.name)
        if pg == "money":
            cols.append(f"{q}::numeric AS {q}")
            notes.append(f"column '{f.name}' (money) read as numeric")
        elif pg == "numeric" or not (
            isinstance(f.type, pa.BaseExtensionType) or pa.types.is_interval(f.type)
        ):
            cols.append(q)
        else:
            cols.append(f"{q}::text AS {q}")
            notes.append(f"column '{f.name}' ({pg or f.type}) read as text")
    return ", ".join(cols) or "*", notes


@contextmanager
def snapshot(source: str, cfg: IngestConfig, partitions: int):
    """The driver's transaction: (snapshot id, row count, partitions), held open while the
    partitions are read."""
    conn = _connect(source)
    try:
        cur = conn.cursor()
        rel = relation(cfg)
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("SELECT pg_export_snapshot()")
        snap = cur.fetchone()[0]
        try:
            select, notes = select_list(cur, rel)
            cur.execute(f"SELECT count(*) FROM {rel}")
            count = int(cur.fetchone()[0])
            if cfg.partition_column and partitions > 1:
                col = quote_column(cfg.partition_column)
                cur.execute(f"SELECT min({col}), max({col}) FROM {rel}")
                lo, hi = _key(cur.fetchone())
                if isinstance(lo, float) and not (math.isfinite(lo) and math.isfinite(hi)):
                    # +-Infinity and NaN sort at the ends: they fall in the first or last range
                    cur.execute(
                        f"SELECT min({col}), max({col}) FROM {rel} "
                        f"WHERE {col} > '-Infinity' AND {col} < 'Infinity'"
                    )
                    lo, hi = _key(cur.fetchone())
                parts = plan_partitions(lo, hi, partitions, cfg.partition_column)
            else:
                parts = [Partition(0, "TRUE")]
        except Exception as exc:
            if isinstance(exc, UserError):
                raise
            raise _sql_error(exc, cfg) from None
        yield snap, count, parts, select, notes
    finally:
        conn.close()


def _key(row: tuple) -> tuple[Any, Any]:
    """min and max of the key; numeric arrives as text, read as an int or float."""
    out = []
    for v in row:
        if isinstance(v, str):
            try:
                d = Decimal(v)
            except InvalidOperation:
                out.append(v)
                continue
            out.append(int(d) if d == d.to_integral_value() else float(d))
        else:
            out.append(v)
    return out[0], out[1]


def _sql_error(exc: Exception, cfg: IngestConfig) -> UserError:
    msg = str(exc).splitlines()[0].replace("IO: [libpq] ", "").replace("INVALID_DATA: [libpq] ", "")
    what = "ingest.query" if cfg.query else f"ingest.table ({cfg.table})"
    key = f" or ingest.partition_column ({cfg.partition_column})" if cfg.partition_column else ""
    return UserError(f"PostgreSQL refused the read: {msg}. Check {what}{key}.")


def stage_partition(
    part: Partition, source: str, cfg: IngestConfig, snap: str, staging: str, select: str
) -> tuple[dict, int]:
    """Read one partition in the exported snapshot into staged pieces (a Ray task)."""
    t0 = time.perf_counter()
    sfs, root = filesystem(staging)
    writer = PieceWriter(sfs, posixpath.join(root, "_staged"), part.index, cfg.shard_rows)
    conn = _connect(source)
    rows, schema = 0, None
    try:
        cur = conn.cursor()
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute(f"SET TRANSACTION SNAPSHOT '{snap}'")
        try:
            cur.execute(f"SELECT {select} FROM {relation(cfg)} WHERE {part.where}")
            reader = cur.fetch_record_batch()
        except Exception as exc:
            raise _sql_error(exc, cfg) from None
        schema = reader.schema
        for batch in reader:
            table = storage_table(pa.Table.from_batches([batch]))
            writer.write(table)
            rows += table.num_rows
    finally:
        conn.close()
    return {
        "index": part.index,
        "where": part.where,
        "rows": rows,
        "schema": schema,
        "pieces": writer.close(),
        "seconds": round(time.perf_counter() - t0, 3),
    }, rows


def storage_table(table: pa.Table) -> pa.Table:
    """Extension columns (PostgreSQL numeric arrives as opaque text) as their storage; field
    metadata dropped."""
    cols = [
        c.combine_chunks().storage if isinstance(c.type, pa.BaseExtensionType) else c
        for c in table.columns
    ]
    return pa.Table.from_arrays(cols, names=table.column_names)


def output_types(schema: pa.Schema) -> tuple[dict[str, pa.DataType], list[str]]:
    """The Parquet type of each column the database sent, and notes on the ones converted:
    numeric(p, s) becomes decimal128(p, s), numeric without a precision float64."""
    out, notes = {}, []
    for f in schema:
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        if meta.get("POSTGRESQL:type") == "numeric":
            out[f.name] = numeric_type(int(meta.get("POSTGRESQL:typmod", "-1")))
            if out[f.name] == pa.float64():
                notes.append(
                    f"column '{f.name}' is numeric without a precision (or wider than 38 "
                    "digits): written as float64; declare +ingest.schema."
                    f"{f.name}=string to keep its exact text"
                )
        else:
            ext = isinstance(f.type, pa.BaseExtensionType)
            out[f.name] = f.type.storage_type if ext else f.type
    return out, notes


def numeric_type(typmod: int) -> pa.DataType:
    """numeric(p, s) as decimal128(p, s) when p <= 38; numeric without a precision (or wider) as
    float64."""
    if typmod >= 4:
        p, s = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        if 0 < p <= 38:
            return pa.decimal128(p, s)
    return pa.float64()
