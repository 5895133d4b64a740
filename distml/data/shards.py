"""Shards planned from Parquet metadata (no data read): the dataset and its units of work.

A shard is a whole file or a run of consecutive row groups of a large file. Every row has a stable
position ``(file_index, row_in_file)`` that does not depend on how files are cut into shards.
Listing the files is distml/data/listing.py, reading a shard distml/data/reading.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from distml.data.casts import Cast
from distml.data.listing import PARQUET_MAGIC, hive_partitions, list_files
from distml.data.schema import duplicated
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
    casts: tuple[Cast, ...] = ()
    """What makes the file's columns the dataset's on read (see ``Cast``)."""
    marker: bool = False
    """Add the CAST_FAILED column on read (the dataset parses strings somewhere)."""
    columns: tuple[str, ...] | None = None
    """The dataset's columns, in order (None: the file's own, for folders distml wrote)."""
    renames: tuple[tuple[str, str], ...] = ()
    """(the file's name, the dataset's) of columns spelled otherwise in this file (headers
    matched by normalised name, distml/quality/conform.py)."""

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
    file_schemas: tuple[pa.Schema, ...] = ()
    """Each file's schema, as its footer says."""
    bad_files: tuple[tuple[str, str], ...] = ()
    """(path, reason) of Parquet files that cannot be read (data.on_bad_file=skip)."""
    empty_files: tuple[str, ...] = ()
    partitions: tuple[dict[str, str | None], ...] = ()
    """Each file's Hive-style ``key=value`` folders (raw strings; None for Hive's null)."""
    ignored_files: tuple[tuple[str, str], ...] = ()
    """(path, reason) of files left out by their name (_SUCCESS, .crc ...)."""
    not_parquet: tuple[str, ...] = ()
    """Files that are not Parquet (no PAR1 magic bytes): listed, not read."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What unifying the files' schemas did: missing columns, time zones, casts per file."""

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


def _footer(fs: pafs.FileSystem, path: str) -> pq.FileMetaData | tuple[str, str]:
    """A file's Parquet footer, or (kind, reason): 'not_parquet' or 'unreadable'."""
    try:
        with fs.open_input_file(path) as f:
            size = f.size()
            head = f.read(4)
            tail = f.read_at(4, size - 4) if size >= 8 else b""
            if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
                # named like Parquet: a damaged file; otherwise a file of another kind
                kind = "unreadable" if path.endswith((".parquet", ".parq")) else "not_parquet"
                return (
                    kind,
                    f"{'unreadable: ' if kind == 'unreadable' else ''}not a Parquet file (no PAR1 magic bytes)",
                )
            return pq.ParquetFile(f).metadata
    except (OSError, pa.ArrowException) as exc:
        return "unreadable", f"unreadable: {exc}"


def _cut(
    fi: int, path: str, uri: str, meta: pq.FileMetaData, shard_rows: int, shards: list
) -> None:
    """Cut one file into shards of about ``shard_rows`` rows at row-group boundaries."""
    if meta.num_rows <= shard_rows or meta.num_row_groups == 1:
        shards.append(Shard(len(shards), uri, path, fi, None, meta.num_rows, 0))
        return
    offset, group, rows = 0, [], 0
    for rg in range(meta.num_row_groups):
        group.append(rg)
        rows += meta.row_group(rg).num_rows
        if rows >= shard_rows or rg == meta.num_row_groups - 1:
            shards.append(Shard(len(shards), uri, path, fi, tuple(group), rows, offset))
            offset += rows
            group, rows = [], 0


def plan(
    uri: str, shard_rows: int = 2_000_000, what: str = "data.path", on_bad_file: str = "error"
) -> Dataset:
    """List files, read their footers in parallel and cut them into shards of ~``shard_rows``.

    Files that are not Parquet are listed (``Dataset.not_parquet``); a Parquet file whose footer
    cannot be read stops with its name, or with ``on_bad_file='skip'`` is left out and listed in
    ``Dataset.bad_files``. The schema is the first non-empty file's until ``quality.conform``
    unifies every file's.
    """
    listing = list_files(uri, what)
    files = listing.files
    with ThreadPoolExecutor(max_workers=16) as pool:
        metas = list(pool.map(lambda p: _footer(listing.fs, p), files))
    not_parquet = tuple(
        p
        for p, m in zip(files, metas, strict=True)
        if isinstance(m, tuple) and m[0] == "not_parquet"
    )
    bad = tuple(
        (p, m[1])
        for p, m in zip(files, metas, strict=True)
        if isinstance(m, tuple) and m[0] == "unreadable"
    )
    if bad and on_bad_file != "skip":
        raise UserError(
            f"The Parquet file '{bad[0][0]}' (under {what} '{uri}') cannot be read: "
            f"{bad[0][1].removeprefix('unreadable: ')}. Replace or remove the file, or set "
            "data.on_bad_file=skip to leave it out (it is then named in profile.json)."
        )
    good = [(p, m) for p, m in zip(files, metas, strict=True) if not isinstance(m, tuple)]
    if not good:
        reason = bad[0][1] if bad else f"{len(not_parquet)} files, none of them Parquet"
        raise UserError(
            f"No Parquet file can be read at {what} '{uri}' ({reason}; e.g. "
            f"{(bad[0][0] if bad else not_parquet[0])})."
        )
    dups = [(p, d) for p, m in good if (d := duplicated(m.schema.to_arrow_schema()))]
    if dups:
        p, d = dups[0]
        raise UserError(
            f"The Parquet file '{p}' has the column name {d[0]!r} more than once ({len(d)} "
            "duplicated names): its columns cannot be told apart. Rewrite the file with unique "
            "column names, or remove it."
        )
    shards: list[Shard] = []
    empty: list[str] = []
    kept = [p for p, _ in good]
    for fi, (path, meta) in enumerate(good):
        if meta.num_rows == 0:
            empty.append(path)
        else:
            _cut(fi, path, uri, meta, shard_rows, shards)
    schemas = tuple(m.schema.to_arrow_schema() for _, m in good)
    first = next((s for (_, m), s in zip(good, schemas, strict=True) if m.num_rows), schemas[0])
    return Dataset(
        uri,
        tuple(kept),
        first,
        tuple(shards),
        schemas,
        bad,
        tuple(empty),
        partitions=tuple(hive_partitions(listing.base, p) for p in kept),
        ignored_files=tuple(listing.ignored),
        not_parquet=not_parquet,
    )


def without_columns(ds: Dataset, columns: set[str]) -> Dataset:
    """The dataset less some columns (left out on read)."""
    kept = [c for c in ds.columns if c not in columns]
    shards = tuple(
        replace(
            sh,
            columns=tuple(kept),
            casts=tuple(c for c in sh.casts if c.column not in columns),
        )
        for sh in ds.shards
    )
    schema = pa.schema([ds.schema.field(c) for c in kept])
    return replace(ds, shards=shards, schema=schema)


def without_files(ds: Dataset, paths: set[str]) -> Dataset:
    """The dataset less some files (skipped as bad), shards renumbered."""
    kept = [s for s in ds.shards if s.path not in paths]
    return replace(ds, shards=tuple(replace(s, index=i) for i, s in enumerate(kept)))
