"""Reading a shard: only the asked columns of its file (or row groups), renamed, cast and ordered
as the dataset's schema says (the casts of distml/data/casts.py, planned by
distml/quality/conform.py), through Polars' reader for local files and pyarrow elsewhere; and,
inside a shard task, the run's policy for a file that cannot be read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from distml.data.casts import cast_expr, marker_expr
from distml.data.columns import CAST_FAILED
from distml.data.fs import filesystem
from distml.data.schema import polars_reader_casts
from distml.data.shards import Shard
from distml.errors import UserError


def _conform(
    lf: pl.LazyFrame, shard: Shard, columns: Sequence[str] | None, keep: Sequence[str] = ()
) -> pl.LazyFrame:
    """Apply the shard's casts, add the columns its file lacks, add the parse-failure marker
    when it is asked for, and put the columns in the dataset's order (``keep``: the row index)."""
    want_marker = shard.marker and (columns is None or CAST_FAILED in columns)
    if want_marker:
        lf = lf.with_columns(marker_expr(shard.casts))
    present = set(lf.collect_schema().names())
    wanted = set(columns) if columns is not None else None
    exprs = [
        cast_expr(c)
        for c in shard.casts
        if (c.column in present and not c.absent)
        or (c.absent and (wanted is None or c.column in wanted))
    ]
    if exprs:
        lf = lf.with_columns(exprs)
    order = list(columns) if columns is not None else list(shard.columns or [])
    if order:
        order = [c for c in order if c != CAST_FAILED] + ([CAST_FAILED] if want_marker else [])
        lf = lf.select(*order, *keep)
    return lf


def _file_columns(shard: Shard, columns: Sequence[str] | None) -> list[str] | None:
    """The file columns to read: the requested ones the file has, plus those the parse marker
    looks at."""
    absent = {c.column for c in shard.casts if c.absent}
    if columns is None:
        cols = [c for c in shard.columns if c not in absent] if shard.columns else None
    else:
        cols = [c for c in columns if c != CAST_FAILED and c not in absent]
        if shard.marker and CAST_FAILED in columns:
            cols += [c.column for c in shard.casts if c.how == "parse" and c.column not in cols]
    if cols is None or not shard.renames:
        return cols
    back = {d: f for f, d in shard.renames}
    return [back.get(c, c) for c in cols]


def _renamed(frame: pl.LazyFrame | pl.DataFrame, shard: Shard) -> Any:
    """The file's columns under the dataset's names."""
    if not shard.renames:
        return frame
    have = set(frame.collect_schema().names())
    return frame.rename({f: d for f, d in shard.renames if f in have})


def _local(shard: Shard) -> bool:
    return "://" not in shard.root or shard.root.startswith("file://")


def read_shard(shard: Shard, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Read only ``columns`` of one shard into Polars, conformed to the reference schema.

    Local files through Polars' reader (``scan_shard``), which read a shard in a fraction of
    pyarrow's time in the profile's concurrent tasks; other filesystems through pyarrow."""
    if _local(shard):
        return scan_shard(shard, columns).collect()
    fs, _ = filesystem(shard.root)
    cols = _file_columns(shard, columns)
    with fs.open_input_file(shard.path) as f:
        pf = pq.ParquetFile(f)
        if shard.row_groups is None:
            table = pf.read(columns=cols)
        else:
            table = pf.read_row_groups(list(shard.row_groups), columns=cols)
    df: pl.DataFrame = _renamed(pl.from_arrow(table), shard)
    if shard.casts or shard.marker or shard.columns:
        df = _conform(df.lazy(), shard, columns).collect()
    return df


def scan_shard(
    shard: Shard, columns: Sequence[str] | None = None, row_index: str | None = None
) -> pl.LazyFrame:
    """A lazy frame over one shard (with the rows' positions in their file as ``row_index``).

    Local files use Polars' own reader, which pushes projections and predicates into the scan
    (late materialisation); other filesystems are read through pyarrow.
    """
    if _local(shard):
        lf = pl.scan_parquet(
            shard.path, row_index_name=row_index, glob=False, hive_partitioning=False
        )
        if shard.row_groups is not None:
            lf = lf.slice(shard.row_offset, shard.num_rows)
        cols = _file_columns(shard, columns)
        keep = [row_index] if row_index else []
        if cols is not None:
            lf = lf.select(*cols, *keep)
        fix = polars_reader_casts(lf.collect_schema(), pq.read_schema(shard.path))
        lf = _renamed(lf.cast(fix) if fix else lf, shard)  # type: ignore[arg-type]
        if shard.casts or shard.marker or shard.columns:
            lf = _conform(lf, shard, columns, keep)
        return lf
    df = read_shard(shard, columns)
    if row_index:
        df = df.with_row_index(row_index, offset=shard.row_offset)
    return df.lazy()


def read_or_skip(
    shard: Shard, columns: Sequence[str] | None, on_bad_file: str
) -> tuple[pl.DataFrame | None, dict[str, str] | None]:
    """``read_shard`` in a shard task: (rows, None), or for a file that cannot be read with
    ``on_bad_file`` 'skip' (None, {"path", "reason"}). With 'error' it raises a UserError naming
    the file."""
    try:
        return read_shard(shard, columns), None
    # a Polars reader that panics on a malformed file raises PanicException (a BaseException)
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError) as exc:
        if on_bad_file == "skip":
            return None, {"path": shard.path, "reason": f"unreadable: {exc}"}
        raise UserError(
            f"The Parquet file '{shard.path}' cannot be read: {exc}. Replace or remove the file, "
            "or set data.on_bad_file=skip to leave it out (it is then listed with the files "
            "skipped)."
        ) from None
