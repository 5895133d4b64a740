"""Staged pieces: what the first pass writes and the second turns into the output shards.

The first pass (one Ray task per file or database partition) writes its rows as they come, in
pieces of at most ``ingest.shard_rows`` rows with one column set, under ``_staged/`` of the
staging folder, with each row's line number in the ``LINE`` column. Pieces are uncompressed Arrow
IPC files: private scratch data, read back once (many times faster to write than Parquet with
lz4, and read without decoding). Once the driver has unified
the types, the second pass (one task per output shard) reads a group of pieces, converts every
column to its type (a value that fails a declared type sends its row to the quarantine, with the
file and line), fills the columns a piece lacks with nulls and writes one Parquet file.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from distml.data.fs import filesystem
from distml.data.parse import NULL_MARKERS, parse, parse_values
from distml.data.schema import polars_schema

LINE = "__distml_line"
"""The staged pieces' provenance column: the row's line (record) number in its file."""
QUARANTINE_SCHEMA = pa.schema(
    [("file", pa.string()), ("line", pa.int64()), ("reason", pa.string()), ("text", pa.string())]
)


@dataclass(frozen=True)
class Piece:
    path: str
    rows: int
    source: int
    """Index of the file or partition the rows came from."""


class PieceWriter:
    """Rolls staged pieces (Arrow IPC files): a new one at ``max_rows`` rows or when the columns
    change."""

    def __init__(self, fs: pafs.FileSystem, folder: str, source: int, max_rows: int) -> None:
        self.fs, self.folder, self.source, self.max_rows = fs, folder, source, max_rows
        self.pieces: list[Piece] = []
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._schema: pa.Schema | None = None
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        while table.num_rows:
            if self._writer is not None and (
                self._rows >= self.max_rows or not table.schema.equals(self._schema)
            ):
                self._close()
            if self._writer is None:
                path = posixpath.join(
                    self.folder, f"{self.source:06d}-{len(self.pieces):05d}.arrow"
                )
                self._sink = self.fs.open_output_stream(path)
                self._writer = pa.ipc.new_file(self._sink, table.schema)
                self._schema, self._path = table.schema, path
            take = min(table.num_rows, self.max_rows - self._rows)
            self._writer.write_table(table.slice(0, take))
            self._rows += take
            table = table.slice(take)

    def _close(self) -> None:
        assert self._writer is not None
        self._writer.close()
        self._sink.close()
        self.pieces.append(Piece(self._path, self._rows, self.source))
        self._writer, self._schema, self._rows = None, None, 0

    def close(self) -> list[Piece]:
        if self._writer is not None:
            self._close()
        return self.pieces


def write_quarantine(fs: pafs.FileSystem, path: str, rows: list[tuple]) -> None:
    """Quarantined rows (file, line, reason, text) as one Parquet file."""
    if rows:
        cols = list(zip(*rows, strict=True))
        table = pa.Table.from_arrays(
            [pa.array(c, t.type) for c, t in zip(cols, QUARANTINE_SCHEMA, strict=True)],
            schema=QUARANTINE_SCHEMA,
        )
        pq.write_table(table, path, filesystem=fs)


@dataclass(frozen=True)
class Converting:
    """What the second pass needs to turn staged text into the output's types."""

    conversions: dict[str, Any]
    """Output column -> ``Conversion`` (distml/ingest/plan.py)."""
    renames: dict[int, dict[str, str]]
    """Per source: its column -> the output column (headers matched by normalised name)."""
    decimals: dict[int, str]
    """Per source: its numbers' decimal convention (point or comma)."""
    timezone: str
    """The zone of naive values in a UTC timestamp column (ingest.timezone)."""
    bad_values: str
    """quarantine | set_null: what a cell that does not parse as its column's type does."""


def _why(c: str, value: Any, conv: Any, dtype: pa.DataType, timezone: str) -> str:
    if conv.kind == "datetime" and conv.utc:  # a local time the zone skips parses naive
        naive = pl.select(parse(pl.lit(value, dtype=pl.String), "datetime")).item()
        if naive is not None:
            return (
                f"column '{c}': {value!r} is a local time that does not exist in {timezone} "
                "(the clocks skip it at a daylight-saving change; ingest.timezone)"
            )
    if conv.declared is not None:
        return f"column '{c}': {value!r} is not a valid {conv.declared} (ingest.schema.{c})"
    return f"column '{c}': {value!r} is not a {conv.kind} (its column's inferred type, {dtype})"


def _converted(
    df: pl.DataFrame, schema: pa.Schema, convert: Converting, source: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The piece's columns as the output's types, and per column whether a non-null value
    failed to parse (a Boolean frame of the columns that can fail). Null markers are null in a
    typed column (``NULL_MARKERS``), never failures."""
    out, failed = [], []
    decimal = convert.decimals.get(source, "point")
    for f in schema:
        c = f.name
        if c not in df.columns:
            out.append(pl.Series(c, [None] * df.height, dtype=polars_schema(pa.schema([f]))[c]))
            continue
        conv = convert.conversions[c]
        src = df.get_column(c)
        if conv.kind is None or src.dtype != pl.String:  # text kept, or a typed source
            out.append(src)
            continue
        text = src.str.strip_chars()
        text = (
            text.to_frame(c)
            .select(pl.when(pl.col(c).is_in(NULL_MARKERS)).then(None).otherwise(pl.col(c)))
            .to_series()
        )
        parsed = parse_values(
            text,
            conv.kind,
            decimal=decimal,
            timezone=convert.timezone,
            utc=conv.utc,
            forms=frozenset(conv.forms) if conv.forms is not None else None,
        )
        out.append(parsed.alias(c))
        failed.append((text.is_not_null() & parsed.is_null()).alias(c))
    return pl.DataFrame(out), pl.DataFrame(failed)


def convert_pieces(
    group: tuple[int, list[Piece]],
    schema: pa.Schema,
    convert: Converting,
    names: list[str],  # the files' (or partitions') names, by source index
    staging: str,
    options: dict,
) -> tuple[dict, int]:
    """One output shard from a group of staged pieces (the second pass's task).

    Returns ``({source: {written, quarantined, set_null}}, rows written)``; a row with a cell
    that does not parse as its column's type goes to ``_ingest/quarantine/types-<shard>.parquet``
    with the file, line and value (or, with ``ingest.bad_values=set_null``, the cell is null and
    counted)."""
    index, pieces = group
    fs, root = filesystem(staging)
    parts, bad_rows, counts = [], [], {}
    for piece in pieces:
        local = isinstance(fs, pafs.LocalFileSystem)
        with pa.memory_map(piece.path) if local else fs.open_input_file(piece.path) as f:
            table = pa.ipc.open_file(f).read_all()
        df = pl.from_arrow(table).rename(convert.renames.get(piece.source, {}))  # type: ignore[union-attr]
        out, failed = _converted(df, schema, convert, piece.source)
        c = counts.setdefault(piece.source, {"written": 0, "quarantined": 0, "set_null": {}})
        keep = None
        if failed.width:
            any_bad = failed.select(pl.any_horizontal(pl.all())).to_series()
            if convert.bad_values == "set_null":
                for col in failed.columns:
                    n = int(failed[col].sum())
                    if n:
                        c["set_null"][col] = c["set_null"].get(col, 0) + n
            elif any_bad.any():
                keep = ~any_bad
                for i in any_bad.arg_true().to_list():
                    why = [
                        _why(
                            col,
                            df[col][i],
                            convert.conversions[col],
                            schema.field(col).type,
                            convert.timezone,
                        )
                        for col in failed.columns
                        if failed[col][i]
                    ]
                    row = {k: df[k][i] for k in df.columns if k != LINE}
                    line = df[LINE][i] if LINE in df.columns else None
                    bad_rows.append(
                        (names[piece.source], line, "; ".join(why), json.dumps(row, default=str))
                    )
        if keep is not None:
            out = out.filter(keep)
        c["written"] += out.height
        c["quarantined"] += df.height - out.height
        parts.append(out.to_arrow().cast(schema))
    out_table = pa.concat_tables(parts) if parts else schema.empty_table()
    pq.write_table(
        out_table,
        posixpath.join(root, f"part-{index:05d}.parquet"),
        filesystem=fs,
        row_group_size=options["row_group_rows"],
        compression=options["compression"],
    )
    write_quarantine(
        fs, posixpath.join(root, "_ingest", "quarantine", f"types-{index:05d}.parquet"), bad_rows
    )
    return counts, out_table.num_rows
