"""Plan shards from Parquet metadata (no data read) and read them back on any pyarrow filesystem.

A shard is a whole file or a run of consecutive row groups of a large file. Every row has a stable
position ``(file_index, row_in_file)`` that does not depend on how files are cut into shards.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

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


@dataclass(frozen=True)
class Dataset:
    """A planned Parquet dataset: where it is, its schema and its shards."""

    uri: str
    files: tuple[str, ...]
    schema: pa.Schema
    shards: tuple[Shard, ...]

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


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and in-filesystem path for a local path or a URI."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), posixpath.abspath(uri)


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


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


def plan(uri: str, shard_rows: int = 2_000_000, what: str = "data.path") -> Dataset:
    """List files, read their footers in parallel and cut them into shards of ~``shard_rows``."""
    fs, files = list_parquet(uri, what)

    def footer(path: str) -> pq.FileMetaData:
        try:
            with fs.open_input_file(path) as f:
                return pq.ParquetFile(f).metadata
        except (OSError, pa.ArrowInvalid) as exc:
            raise UserError(
                f"The Parquet file '{path}' (under {what} '{uri}') cannot be read: {exc}. "
                "Replace or remove the file and run again."
            ) from None

    with ThreadPoolExecutor(max_workers=16) as pool:
        metas = list(pool.map(footer, files))
    schema = metas[0].schema.to_arrow_schema()
    shards: list[Shard] = []
    for fi, (path, meta) in enumerate(zip(files, metas, strict=True)):
        if meta.num_rows == 0:
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
    return Dataset(uri, tuple(files), schema, tuple(shards))


def read_shard(shard: Shard, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """Read only ``columns`` of one shard into Polars."""
    fs, _ = filesystem(shard.root)
    with fs.open_input_file(shard.path) as f:
        pf = pq.ParquetFile(f)
        cols = list(columns) if columns is not None else None
        if shard.row_groups is None:
            table = pf.read(columns=cols)
        else:
            table = pf.read_row_groups(list(shard.row_groups), columns=cols)
    return pl.from_arrow(table)  # type: ignore[return-value]


def scan_shard(
    shard: Shard, columns: Sequence[str] | None = None, row_index: str | None = None
) -> pl.LazyFrame:
    """A lazy frame over one shard (with the rows' positions in their file as ``row_index``).

    Local files use Polars' own reader, which pushes projections and predicates into the scan
    (late materialisation); other filesystems are read through pyarrow.
    """
    if "://" not in shard.root or shard.root.startswith("file://"):
        lf = pl.scan_parquet(shard.path, row_index_name=row_index)
        if shard.row_groups is not None:
            lf = lf.slice(shard.row_offset, shard.num_rows)
        if columns is not None:
            lf = lf.select(*columns, *([row_index] if row_index else []))
        return lf
    df = read_shard(shard, columns)
    if row_index:
        df = df.with_row_index(row_index, offset=shard.row_offset)
    return df.lazy()


def write_parquet(df: pl.DataFrame, uri: str) -> None:
    """Write one Parquet file to a local path or URI, creating parent folders."""
    fs, path = filesystem(uri)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        df.write_parquet(path)
        return
    with fs.open_output_stream(path) as out:
        pq.write_table(df.to_arrow(), out)
