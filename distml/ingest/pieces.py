"""Staged pieces: what the first pass writes and the second turns into the output shards.

The first pass (one Ray task per file or database partition) writes its rows as they come, in
pieces of at most ``ingest.shard_rows`` rows with one column set, under ``_staged/`` of the
staging folder, with each row's line number in the ``LINE`` column. Pieces are uncompressed Arrow
IPC files: private scratch data, read back once (about 20x faster to write than Parquet with lz4,
and read without decoding). Once the driver has unified
the types, the second pass (one task per output shard) reads a group of pieces, converts every
column to its type (a value that fails a declared type sends its row to the quarantine, with the
file and line), fills the columns a piece lacks with nulls and writes one Parquet file.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from distml.data.fs import filesystem
from distml.ingest.types import cast_or_fail

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


def convert_pieces(
    group: tuple[int, list[Piece]],
    schema: pa.Schema,
    declared: set[str],
    names: list[str],  # the files' (or partitions') names, by source index
    staging: str,
    options: dict,
) -> tuple[dict, int]:
    """One output shard from a group of staged pieces (the second pass's task).

    Returns ``({source: [written, quarantined]}, rows written)``; rows with a value that does not
    parse as its column's type go to ``_ingest/quarantine/types-<shard>.parquet``."""
    index, pieces = group
    fs, root = filesystem(staging)
    parts, bad_rows, counts = [], [], {}
    for piece in pieces:
        local = isinstance(fs, pafs.LocalFileSystem)
        with pa.memory_map(piece.path) if local else fs.open_input_file(piece.path) as f:
            table = pa.ipc.open_file(f).read_all()
        arrays, bad = [], None
        reasons: dict[int, list[str]] = {}
        for field in schema:
            if field.name not in table.column_names:
                arrays.append(pa.nulls(table.num_rows, field.type))
                continue
            values, failed = cast_or_fail(table[field.name], field.type, options["timezone"])
            arrays.append(values)
            if failed is not None:
                # declared types; an inferred type parsed every value, so never, but a value
                # that fails is still a row to account for, not a silent null
                bad = failed if bad is None else pc.or_(bad, failed)
                for i in pc.indices_nonzero(failed).to_pylist():
                    v = table[field.name][i].as_py()
                    reasons.setdefault(i, []).append(
                        f"column '{field.name}': {v!r} is not a valid "
                        f"{options['declared'][field.name]} (ingest.schema.{field.name})"
                        if field.name in declared
                        else f"column '{field.name}': {v!r} does not convert to {field.type}"
                    )
        for i, why in sorted(reasons.items()):
            row = {c: table[c][i].as_py() for c in table.column_names if c != LINE}
            line = table[LINE][i].as_py() if LINE in table.column_names else None
            bad_rows.append(
                (names[piece.source], line, "; ".join(why), json.dumps(row, default=str))
            )
        converted = pa.Table.from_arrays(arrays, schema=schema)
        quarantined = 0
        if bad is not None:
            keep = pc.invert(bad)
            quarantined = converted.num_rows - pc.sum(keep.cast(pa.int64())).as_py()
            converted = converted.filter(keep)
        parts.append(converted)
        c = counts.setdefault(piece.source, [0, 0])
        c[0] += converted.num_rows
        c[1] += quarantined
    out = pa.concat_tables(parts) if parts else schema.empty_table()
    pq.write_table(
        out,
        posixpath.join(root, f"part-{index:05d}.parquet"),
        filesystem=fs,
        row_group_size=options["row_group_rows"],
        compression=options["compression"],
    )
    write_quarantine(
        fs, posixpath.join(root, "_ingest", "quarantine", f"types-{index:05d}.parquet"), bad_rows
    )
    return counts, out.num_rows
