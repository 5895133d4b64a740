"""One text file staged (the first pass's task of ``distml ingest``): read block by block
(distml/ingest/readers.py), its rows written as staged pieces (distml/ingest/pieces.py), every
column's values counted as ``TextStats`` (distml/data/text.py) under the file's decimal
convention, sniffed from its first block (``ingest.decimal=auto``), and every line accounted
for: a row, or a quarantined line with its file, line number and reason.
"""

from __future__ import annotations

import posixpath
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from distml.config import IngestConfig
from distml.data.fs import filesystem
from distml.data.listing import hive_partitions
from distml.data.parse import NULL_MARKERS, sniff_decimal
from distml.data.text import TextStats
from distml.errors import UserError
from distml.ingest.pieces import LINE, PieceWriter, write_quarantine
from distml.ingest.readers import (
    NO_VALUES,
    Bad,
    choose_delimiter,
    delimiter_override,
    encoding_error,
    file_kind,
    other_delimiter,
    read_csv,
    read_ndjson,
    shown_delimiter,
)

COUNT_ROWS = 262_144
"""Rows of a file's blocks counted together (TextStats.of has a fixed cost per call)."""


@dataclass
class _Counted:
    """What one file's batches add up to: each column's TextStats, values holding line
    breaks, notes."""

    path: str
    decimal: str | None
    delimiter: str | None
    stats: dict[str, TextStats] = field(default_factory=dict)
    line_breaks: dict[str, tuple[int, int]] = field(default_factory=dict)
    """column -> (values holding a line break, the first one's line)."""
    notes: list[str] = field(default_factory=list)
    _buffer: list[tuple[pa.Table, dict | None]] = field(default_factory=list)
    _rows: int = 0

    def add(self, table: pa.Table, kinds: dict | None, cfg: IngestConfig) -> None:
        """Count one block (buffered: a column's values are counted ``COUNT_ROWS`` at a time,
        whose fixed cost per call would dominate ~40k-row blocks)."""
        data = [c for c in table.column_names if c != LINE]
        if self.decimal is None:  # the file's convention, from its first block
            self._sniff([pl.from_arrow(table[c]) for c in data])  # type: ignore[misc]
        self._buffer.append((table.select(data), kinds))
        self._rows += table.num_rows
        if self._rows >= COUNT_ROWS:
            self.flush(cfg)
        for col in data:
            has = pc.fill_null(pc.match_substring(table[col], "\n"), False)
            n = pc.sum(has).as_py() or 0
            if n:
                first = table[LINE].filter(has)[0].as_py()
                before = self.line_breaks.get(col, (0, first))
                self.line_breaks[col] = (before[0] + n, before[1])

    def flush(self, cfg: IngestConfig) -> None:
        """Count the buffered blocks."""
        if not self._buffer:
            return
        names = dict.fromkeys(c for b, _ in self._buffer for c in b.column_names)
        for col in names:
            parts = [b[col] for b, _ in self._buffer if col in b.column_names]
            st = TextStats.of(
                pl.from_arrow(
                    pa.chunked_array([ch for p in parts for ch in p.chunks], pa.string())
                ),  # type: ignore[arg-type]
                self.decimal or "point",
                NULL_MARKERS,
                cfg.timezone,
            )
            kinds = [
                k.get(col, {}) for b, k in self._buffer if k is not None and col in b.column_names
            ]
            if kinds:
                st.json = dict(sum((Counter(k) for k in kinds), Counter()))
            self.stats[col] = self.stats[col].merge(st) if col in self.stats else st
        self._buffer, self._rows = [], 0

    def _sniff(self, columns: list[pl.Series]) -> None:
        choice = sniff_decimal(columns, "comma" if self.delimiter == ";" else "point")
        self.decimal = choice.decimal
        if choice.guessed is not None:
            other = "point" if choice.decimal == "comma" else "comma"
            why = "a ; export" if self.delimiter == ";" else "the default"
            self.notes.append(
                f"{self.path}: numbers such as {choice.guessed!r} read either way and no value "
                f"decided; read with the decimal {choice.decimal} ({why}); set "
                f"ingest.decimal={other} if not"
            )

    def all_notes(self) -> list[str]:
        return self.notes + [
            f"{self.path}: {n:,} value(s) of column '{c}' hold line breaks (quoted), the first at "
            f"line {first}; if that is unexpected, a quote left open there joined the lines after "
            "it into one value: close the quote in the file"
            for c, (n, first) in self.line_breaks.items()
        ]


def stage_file(
    item: tuple[int, str], cfg: IngestConfig, source: str, staging: str, base: str
) -> tuple[dict, int]:
    """Read one file into staged pieces; its record: each column's ``TextStats``, pieces,
    accounting, the delimiter and decimal convention it was read with. Hive-style
    ``key=value`` folders between ``base`` and the file add columns, as for Parquet."""
    index, path = item
    hive = hive_partitions(base, path)
    fs, _ = filesystem(source)
    sfs, root = filesystem(staging)
    fmt, compression = file_kind(path, cfg.format)
    t0 = time.perf_counter()
    writer = PieceWriter(sfs, posixpath.join(root, "_staged"), index, cfg.shard_rows)
    quarantine: list[tuple] = []
    reasons: Counter[str] = Counter()
    rows = 0
    delimiter, how = (None, None)
    if fmt == "ndjson":
        reader = read_ndjson(fs, path, compression, cfg)
    else:
        with _reading(path, fmt or "csv", compression, cfg):
            delimiter, how = choose_delimiter(fs, path, compression, cfg, fmt or "csv")
        reader = read_csv(fs, path, compression, cfg, delimiter)
    counted = _Counted(path, None if cfg.decimal == "auto" else cfg.decimal, delimiter)
    for table, bads, kinds in _prefetch(_guarded(reader, path, fmt or "csv", compression, cfg)):
        table, empty = _without_empty_rows(table)
        bads = bads + empty
        for key, value in hive.items():
            if key not in table.column_names:
                table = table.append_column(key, pa.array([value] * table.num_rows, pa.string()))
        counted.add(table, kinds, cfg)
        writer.write(table)
        rows += table.num_rows
        for line, reason, text in bads:
            reasons[_kind(reason)] += 1
            quarantine.append((path, line, reason, text))
    counted.flush(cfg)
    if delimiter is not None and quarantine and not rows:
        with _reading(path, fmt or "csv", compression, cfg):
            _every_line_failed(fs, path, compression, cfg, delimiter, how, reasons)
    pieces = writer.close()
    write_quarantine(
        sfs, posixpath.join(root, "_ingest", "quarantine", f"lines-{index:06d}.parquet"), quarantine
    )
    return {
        "index": index,
        "path": path,
        "format": fmt,
        "compression": compression,
        **({"delimiter": delimiter, "delimiter_from": how} if delimiter is not None else {}),
        "decimal": counted.decimal or "point",
        "in": rows + len(quarantine),
        "staged": rows,
        "quarantined": dict(reasons),
        "columns": list(counted.stats),
        "types": counted.stats,
        "line_breaks": {c: n for c, (n, _) in counted.line_breaks.items()},
        "notes": counted.all_notes(),
        "pieces": pieces,
        "seconds": round(time.perf_counter() - t0, 3),
    }, rows + len(quarantine)


def _every_line_failed(fs, path, compression, cfg, delimiter: str, how, reasons) -> None:
    """A file none of whose lines is a row because of the field count: the delimiter is wrong
    (or the header is); one paragraph naming the delimiter the file looks separated by."""
    if set(reasons) != {"wrong number of fields"}:
        return
    other = other_delimiter(fs, path, compression, cfg, delimiter)
    looks = (
        f"its first lines split evenly by {shown_delimiter(other)}: set {delimiter_override(other)}"
        if other
        else "no other delimiter (, ; tab |) splits its lines evenly either: check its header "
        "line, or give the columns' names in ingest.column_names"
    )
    raise UserError(
        f"No line of '{path}' has as many fields as its header when split by "
        f"{shown_delimiter(delimiter)} ({how}); {looks}."
    )


def _without_empty_rows(table: pa.Table) -> tuple[pa.Table, list[Bad]]:
    """Rows with no value at all (a blank line, only delimiters or null markers, ``{}``)."""
    data = [c for c in table.column_names if c != LINE]
    if not data or not table.num_rows or any(table[c].null_count == 0 for c in data):
        return table, []
    empty = None
    for c in data:
        e = pc.is_null(table[c])
        empty = e if empty is None else pc.and_(empty, e)
    if not pc.any(empty).as_py():
        return table, []
    lines = table[LINE].filter(empty).to_pylist()
    return table.filter(pc.invert(empty)), [(n, NO_VALUES, "") for n in lines]


def _kind(reason: str) -> str:
    """The reason's kind, as counted in ingest.json."""
    if "fields where the header has" in reason:
        return "wrong number of fields"
    if reason.startswith("not JSON"):
        return "not JSON"
    if reason.endswith("not an object"):
        return "not a JSON object"
    return reason


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """The items, produced by a thread ``depth`` ahead: decompressing and parsing (Arrow and
    zlib release the GIL) overlap the caller's type inference and writing."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            q.put((None, exc))
            return
        q.put((end, None))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is end:
                return
            yield item
    finally:
        stop.set()


def _guarded(reader, path: str, fmt: str, compression: str | None, cfg: IngestConfig):
    """The reader's items; a file that cannot be read is a user error naming it."""
    with _reading(path, fmt, compression, cfg):
        yield from reader


@contextmanager
def _reading(path: str, fmt: str, compression: str | None, cfg: IngestConfig) -> Iterator[None]:
    """Errors reading ``path`` as user errors naming it (encoding, format, truncated files)."""
    try:
        yield
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "UTF8" in msg or "UTF-8" in msg:
            raise encoding_error(path, cfg, exc) from None
        raise UserError(f"'{path}' could not be read as {fmt}: {msg.splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise encoding_error(path, cfg, exc) from None
    except (OSError, EOFError) as exc:
        raise UserError(
            f"'{path}' could not be read ({str(exc).splitlines()[0]}); is it a complete "
            f"{compression or 'uncompressed'} {fmt} file?"
        ) from None
