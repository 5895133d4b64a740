"""Plan shards from Parquet metadata (no data read) and read them back on any pyarrow filesystem.

A shard is a whole file or a run of consecutive row groups of a large file. Every row has a stable
position ``(file_index, row_in_file)`` that does not depend on how files are cut into shards.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq

from distml.data.columns import CAST_FAILED
from distml.data.fs import filesystem
from distml.errors import UserError


@dataclass(frozen=True)
class Shard:
    """One unit of parallel work: ``row_groups`` of one file (None: the whole file)."""

    index: int
    root: str
    """The dataset's URI; its filesystem opens ``path``."""
    path: str
    file_index: int
    row_groups: tuple[int, ...] | None
    num_rows: int
    row_offset: int
    """Position of the shard's first row inside its file."""
    casts: tuple[tuple[str, Any, bool], ...] = ()
    """(column, Polars type, lossy) applied on read so every file matches the reference schema;
    a lossy cast parses strings, and rows whose value does not parse are named in CAST_FAILED."""
    marker: bool = False
    """Add the CAST_FAILED column on read (the dataset has lossy casts somewhere)."""
    select: tuple[str, ...] | None = None
    """The reference columns, when the file holds extra ones."""

    @property
    def key(self) -> str:
        """The shard's name in per-shard accounting: its file, and its row groups if cut."""
        rg = self.row_groups
        return self.path + (f"#rg{rg[0]}-{rg[-1]}" if rg else "")


@dataclass(frozen=True)
class Dataset:
    """A planned Parquet dataset: where it is, its schema and its shards."""

    uri: str
    files: tuple[str, ...]
    schema: pa.Schema
    shards: tuple[Shard, ...]
    file_schemas: tuple[pa.Schema | None, ...] = ()
    """Each file's schema (None for a file whose footer could not be read)."""
    bad_files: tuple[tuple[str, str], ...] = ()
    """(path, reason) of files that cannot be read."""
    empty_files: tuple[str, ...] = ()

    @property
    def num_rows(self) -> int:
        return sum(s.num_rows for s in self.shards)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def require(self, column: str, key: str, fix: str) -> None:
        """A user error naming the config key and the dataset when ``column`` is missing."""
        if column not in self.schema.names:
            raise UserError(
                f"The column '{column}' ({key}) is not in the data at data.path '{self.uri}' "
                f"(first file {self.files[0]}). Available columns: {', '.join(self.columns)}. {fix}"
            )


def polars_schema(schema: pa.Schema) -> dict[str, pl.DataType]:
    """The Polars types a Parquet (Arrow) schema reads as."""
    empty = pa.Table.from_batches([], schema=schema.remove_metadata())
    return dict(pl.from_arrow(empty).schema)  # type: ignore[union-attr]


def list_parquet(uri: str, what: str = "data.path") -> tuple[pafs.FileSystem, list[str]]:
    """The sorted Parquet files of a folder, a glob or a single file."""
    fs, path = filesystem(uri)
    has_glob = any(c in path for c in "*?[")
    base = path
    if has_glob:
        base = path.split("*")[0].split("?")[0].split("[")[0]
        base = base if base.endswith("/") else posixpath.dirname(base)
    info = fs.get_file_info(base.rstrip("/") or "/")
    if info.type == pafs.FileType.NotFound:
        raise UserError(
            f"The {what} '{uri}' does not exist. Point {what} at a folder, a glob or a file of "
            "Parquet files (local path or a URI such as s3://bucket/prefix), or leave data.path "
            "null to use the generated synthetic dataset."
        )
    if info.type == pafs.FileType.File and not has_glob:
        return fs, [path]
    infos = fs.get_file_info(pafs.FileSelector(base.rstrip("/"), recursive=True))
    files = sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.File
        and i.path.endswith(".parquet")
        and not posixpath.basename(i.path).startswith(("_", "."))
        and (not has_glob or fnmatch.fnmatch(i.path, path))
    )
    if not files:
        raise UserError(
            f"No Parquet files (*.parquet) were found at {what} '{uri}'. Check the path or glob; "
            "distml reads every *.parquet file below a folder."
        )
    return fs, files


def plan(
    uri: str, shard_rows: int = 2_000_000, what: str = "data.path", on_bad_file: str = "error"
) -> Dataset:
    """List files, read their footers in parallel and cut them into shards of ~``shard_rows``.

    A file whose footer cannot be read stops with its name, or with ``on_bad_file='skip'`` is
    left out and listed in ``Dataset.bad_files``.
    """
    fs, files = list_parquet(uri, what)

    def footer(path: str) -> pq.FileMetaData | str:
        try:
            with fs.open_input_file(path) as f:
                return pq.ParquetFile(f).metadata
        except (OSError, pa.ArrowException) as exc:
            if on_bad_file == "skip":
                return f"unreadable: {exc}"
            raise UserError(
                f"The Parquet file '{path}' (under {what} '{uri}') cannot be read: {exc}. "
                "Replace or remove the file, or set data.on_bad_file=skip to leave it out "
                "(it is then named in profile.json)."
            ) from None

    with ThreadPoolExecutor(max_workers=16) as pool:
        metas = list(pool.map(footer, files))
    bad = tuple((p, m) for p, m in zip(files, metas, strict=True) if isinstance(m, str))
    good = [m for m in metas if not isinstance(m, str)]
    if not good:
        raise UserError(
            f"None of the {len(files)} Parquet files under {what} '{uri}' can be read "
            f"(first: {bad[0][0]}: {bad[0][1]})."
        )
    schema = good[0].schema.to_arrow_schema()
    shards: list[Shard] = []
    empty: list[str] = []
    for fi, (path, meta) in enumerate(zip(files, metas, strict=True)):
        if isinstance(meta, str):
            continue
        if meta.num_rows == 0:
            empty.append(path)
            continue
        if meta.num_rows <= shard_rows or meta.num_row_groups == 1:
            shards.append(Shard(len(shards), uri, path, fi, None, meta.num_rows, 0))
            continue
        offset, group, rows = 0, [], 0
        for rg in range(meta.num_row_groups):
            group.append(rg)
            rows += meta.row_group(rg).num_rows
            if rows >= shard_rows or rg == meta.num_row_groups - 1:
                shards.append(Shard(len(shards), uri, path, fi, tuple(group), rows, offset))
                offset += rows
                group, rows = [], 0
    schemas = tuple(None if isinstance(m, str) else m.schema.to_arrow_schema() for m in metas)
    return Dataset(uri, tuple(files), schema, tuple(shards), schemas, bad, tuple(empty))


def without_files(ds: Dataset, paths: set[str]) -> Dataset:
    """The dataset less some files (skipped as bad), shards renumbered."""
    kept = [s for s in ds.shards if s.path not in paths]
    return replace(ds, shards=tuple(replace(s, index=i) for i, s in enumerate(kept)))


def _cast(col: str, dtype: Any, lossy: bool) -> pl.Expr:
    """A lossless cast, or (lossy) strings parsed as ``dtype`` with null where they do not parse."""
    c = pl.col(col)
    if not lossy:
        return c.cast(dtype)
    if isinstance(dtype, pl.Datetime):
        return c.str.to_datetime(time_unit=dtype.time_unit, strict=False)
    if dtype == pl.Date:
        return c.str.to_date(strict=False)
    if dtype == pl.Boolean:
        return c.str.to_lowercase().replace_strict(
            {"true": True, "false": False, "1": True, "0": False}, default=None
        )
    return c.str.strip_chars().cast(dtype, strict=False)


def _conform_exprs(shard: Shard) -> list[pl.Expr]:
    return [_cast(c, t, lossy) for c, t, lossy in shard.casts]


def _marker_expr(shard: Shard) -> pl.Expr:
    failed = [
        pl.when(pl.col(c).is_not_null() & _cast(c, t, True).is_null()).then(pl.lit(c))
        for c, t, lossy in shard.casts
        if lossy
    ]
    expr = pl.coalesce(failed) if failed else pl.lit(None, dtype=pl.String)
    return expr.cast(pl.String).alias(CAST_FAILED)


def _conform(lf: pl.LazyFrame, shard: Shard, columns: Sequence[str] | None) -> pl.LazyFrame:
    """Apply the shard's casts and add the parse-failure marker when it is asked for."""
    want_marker = shard.marker and (columns is None or CAST_FAILED in columns)
    if want_marker:
        lf = lf.with_columns(_marker_expr(shard))
    present = set(lf.collect_schema().names())
    casts = [
        e for (c, _, _), e in zip(shard.casts, _conform_exprs(shard), strict=True) if c in present
    ]
    if casts:
        lf = lf.with_columns(casts)
    if columns is not None and want_marker:
        extra = [c for c, _, lossy in shard.casts if lossy and c not in columns]
        lf = lf.drop(extra)
    return lf


def _file_columns(shard: Shard, columns: Sequence[str] | None) -> list[str] | None:
    """The file columns to read: the requested ones, plus those the parse marker looks at."""
    if columns is None:
        return list(shard.select) if shard.select is not None else None
    cols = [c for c in columns if c != CAST_FAILED]
    if shard.marker and CAST_FAILED in columns:
        cols += [c for c, _, lossy in shard.casts if lossy and c not in cols]
    return cols


def _local(shard: Shard) -> bool:
    return "://" not in shard.root or shard.root.startswith("file://")


def read_shard(shard: Shard, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Read only ``columns`` of one shard into Polars, conformed to the reference schema.

    Through pyarrow: in one process Polars' reader is ~1.5x faster, but in the profile's
    two concurrent Ray tasks the stage ran 10-20% slower with it (measured)."""
    fs, _ = filesystem(shard.root)
    cols = _file_columns(shard, columns)
    with fs.open_input_file(shard.path) as f:
        pf = pq.ParquetFile(f)
        if shard.row_groups is None:
            table = pf.read(columns=cols)
        else:
            table = pf.read_row_groups(list(shard.row_groups), columns=cols)
    df: pl.DataFrame = pl.from_arrow(table)  # type: ignore[assignment]
    if shard.casts or shard.marker:
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
        lf = pl.scan_parquet(shard.path, row_index_name=row_index, glob=False)
        if shard.row_groups is not None:
            lf = lf.slice(shard.row_offset, shard.num_rows)
        cols = _file_columns(shard, columns)
        if cols is not None:
            lf = lf.select(*cols, *([row_index] if row_index else []))
        return _conform(lf, shard, columns) if shard.casts or shard.marker else lf
    df = read_shard(shard, columns)
    if row_index:
        df = df.with_row_index(row_index, offset=shard.row_offset)
    return df.lazy()


def write_ipc(df: pl.DataFrame, uri: str) -> None:
    """Write one uncompressed Arrow IPC file (a stage's private scratch data, read back soon)."""
    fs, path = filesystem(uri)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    with fs.open_output_stream(path) as out:
        df.write_ipc(out, compression="uncompressed")


def read_ipc(uri: str) -> pl.DataFrame:
    fs, path = filesystem(uri)
    with fs.open_input_file(path) as f:  # through Arrow: ~3x faster than Polars' reader here
        return pl.DataFrame(pa_ipc.open_file(f).read_all())


def write_parquet(df: pl.DataFrame, uri: str, compression: str = "zstd") -> None:
    """Write one Parquet file to a local path or URI, creating parent folders."""
    fs, path = filesystem(uri)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        df.write_parquet(path, compression=compression)  # type: ignore[arg-type]
        return
    with fs.open_output_stream(path) as out:
        pq.write_table(df.to_arrow(), out, compression=compression)
