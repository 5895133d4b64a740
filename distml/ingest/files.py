"""CSV, TSV and NDJSON files read as text, line by line accounted for (the first pass's task).

Each file is read as a stream (compressed files decompressed on the fly: .gz, .zst, .bz2, .lz4),
in the encoding ``ingest.encoding``, every field as text; ``stage_file`` writes its rows as staged
pieces (distml/ingest/pieces.py) and returns the file's column types (distml/ingest/types.py) and
its accounting. A line that is not a row (the wrong number of fields, a blank line, the header
again, JSON that does not parse or is not an object) is quarantined with its file, line and
reason. CSV is read by Arrow's CSV reader (RFC 4180 quoting, line breaks inside quoted values);
NDJSON by Python's json module, one line at a time, nested values kept as JSON text.

Line numbers are record numbers counted from 1 at the file's first line (the header): they are
the file's line numbers unless a quoted value holds a line break.
"""

from __future__ import annotations

import codecs
import json
import posixpath
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.fs as pafs

from distml.config import IngestConfig
from distml.data.columns import repeated
from distml.data.fs import filesystem
from distml.data.shards import hive_partitions
from distml.errors import UserError
from distml.ingest.pieces import LINE, PieceWriter, write_quarantine
from distml.ingest.types import TextType, infer

COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
COMPRESSION[".lz4"] = "lz4"
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "ndjson",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
}
UNNAMED = "unnamed_"
"""A column without a name (an empty header field, an empty JSON key) is named unnamed_<i>."""
Bad = tuple[int | None, str, str]
"""A line that is not a row: (line number, reason, its text)."""


def kind_of(path: str, fmt: str) -> tuple[str | None, str | None]:
    """(format, compression) of a file from its name; format None: not a text export."""
    stem, ext = posixpath.splitext(path.lower())
    compression = COMPRESSION.get(ext)
    if compression:
        ext = posixpath.splitext(stem)[1]
    return (fmt if fmt != "auto" else FORMATS.get(ext)), compression


def _open(fs: pafs.FileSystem, path: str, compression: str | None) -> pa.NativeFile:
    return fs.open_input_stream(path, compression=compression)


def _names(fs, path, compression, cfg: IngestConfig, delimiter: str) -> list[str] | None:
    """The header's column names (None for an empty file)."""
    if cfg.column_names:
        return list(cfg.column_names)
    with _open(fs, path, compression) as f:
        try:
            reader = pacsv.open_csv(
                f,
                read_options=pacsv.ReadOptions(
                    use_threads=False, block_size=1 << 20, encoding=cfg.encoding
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter,
                    newlines_in_values=cfg.newlines_in_values,
                    invalid_row_handler=lambda row: "skip",
                ),
            )
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return None
            raise
        names = list(reader.schema.names)
    renamed = [n.strip() or f"{UNNAMED}{i}" for i, n in enumerate(names)]
    _check_reserved(renamed, path)
    dup = repeated(renamed)
    if dup:
        raise UserError(
            f"The header of '{path}' names the column(s) {', '.join(map(repr, dup))} more than "
            "once. Rename them in the file, or give every column's name in "
            "ingest.column_names=[...] (the first line is then read as data)."
        )
    return renamed


def _check_reserved(names: list[str], path: str) -> None:
    if LINE in names:
        raise UserError(
            f"'{path}' has a column named {LINE}, a name distml ingest uses for line numbers. "
            "Rename the column in the file (or give ingest.column_names)."
        )


def read_csv(
    fs, path, compression, cfg: IngestConfig, fmt: str
) -> Iterator[tuple[pa.Table, list[Bad]]]:
    """The file's rows as string columns plus ``LINE``, one block at a time, with the lines of
    that block that are not rows. Arrow's reader (one thread, so the row numbers it gives the
    invalid-row handler are known) reports each record's number; those of the valid rows follow
    from the count of records in the block."""
    delimiter = cfg.delimiter or ("\t" if fmt == "tsv" else ",")
    names = _names(fs, path, compression, cfg, delimiter)
    if names is None:
        return
    bads: list[Bad] = []

    def invalid(row: Any) -> str:
        reason = (
            NO_VALUES
            if not row.text.strip()
            else f"{row.actual_columns} fields where the header has {row.expected_columns}"
        )
        bads.append((row.number, reason, row.text))
        return "skip"

    header = 0 if cfg.column_names else 1
    with _open(fs, path, compression) as f:
        reader = pacsv.open_csv(
            f,
            read_options=pacsv.ReadOptions(
                use_threads=False,
                block_size=cfg.block_bytes,
                encoding=cfg.encoding,
                column_names=names,
                skip_rows=header,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=cfg.newlines_in_values,
                ignore_empty_lines=False,
                invalid_row_handler=invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=list(cfg.null_values),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        start, yielded = header + 1, False
        for batch in reader:
            # the reader parses a block ahead of the batch it returns: the invalid rows of this
            # batch's records are those numbered inside its range, which the valid rows extend
            bads.sort(key=lambda b: b[0] if b[0] is not None else -1)
            end, block = start + batch.num_rows, []
            while bads and bads[0][0] is not None and bads[0][0] < end:
                block.append(bads.pop(0))
                end += 1
            numbers = np.arange(start, end, dtype=np.int64)
            if block:
                numbers = numbers[~np.isin(numbers, [b[0] for b in block])]
            start = end
            table = pa.Table.from_batches([batch]).append_column(LINE, pa.array(numbers))
            table, again = _repeated_header(table, names)
            yielded = True
            yield table, block + again
        if bads or not yielded:  # lines left over, or a header and no row: the columns
            yield (
                pa.table(
                    {
                        **{c: pa.array([], pa.string()) for c in names},
                        LINE: pa.array([], pa.int64()),
                    }
                ),
                bads,
            )


def _repeated_header(table: pa.Table, names: list[str]) -> tuple[pa.Table, list[Bad]]:
    """Rows equal to the header (files concatenated with their headers) are not data."""
    if not pc.any(pc.equal(table[names[0]], names[0])).as_py():
        return table, []
    same = None
    for name in names:
        eq = pc.fill_null(pc.equal(table[name], name), False)
        same = eq if same is None else pc.and_(same, eq)
    if same is None or not pc.any(same).as_py():
        return table, []
    lines = table[LINE].filter(same).to_pylist()
    text = ",".join(names)
    return table.filter(pc.invert(same)), [(n, "the header line again", text) for n in lines]


def _render(value: Any, nulls: frozenset[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return None if value in nulls else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class DuplicateKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def _renamed(obj: dict[str, Any], columns: dict[str, None], path: str) -> dict[str, Any]:
    """An empty top-level key named as CSV names an empty header field (its position among the
    file's columns); the line-number column's name is refused."""
    _check_reserved(list(obj), path)
    order = list(columns) + [k for k in obj if k not in columns]
    return {(k or f"{UNNAMED}{order.index(k)}"): v for k, v in obj.items()}


def read_ndjson(fs, path, compression, cfg: IngestConfig) -> Iterator[tuple[pa.Table, list[Bad]]]:
    """One JSON object a line; scalars as their text, nested values as JSON text."""
    decoder = codecs.getincrementaldecoder(cfg.encoding)(errors="strict")
    nulls = frozenset(cfg.null_values)
    columns: dict[str, None] = {}
    line_no, rest = 0, ""
    with _open(fs, path, compression) as f:
        while True:
            raw = f.read(cfg.block_bytes)
            try:
                text = rest + decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise _encoding_error(path, cfg, exc) from None
            lines = text.split("\n")
            rest = lines.pop() if raw else ""
            if not raw and lines and lines[-1] == "":
                lines.pop()  # the newline that ends the last line
            rows, numbers, bads = [], [], []
            for line in lines:
                line_no += 1
                line = line.rstrip("\r")
                if not line.strip():
                    bads.append((line_no, NO_VALUES, line))
                    continue
                try:
                    obj = json.loads(line, object_pairs_hook=_object)
                except json.JSONDecodeError as exc:
                    bads.append((line_no, f"not JSON: {exc.msg} at column {exc.colno}", line))
                    continue
                except DuplicateKey as exc:
                    bads.append((line_no, f"the key {exc.args[0]!r} twice in one object", line))
                    continue
                if not isinstance(obj, dict):
                    bads.append((line_no, f"a JSON {type(obj).__name__}, not an object", line))
                    continue
                if "" in obj or LINE in obj:
                    obj = _renamed(obj, columns, path)
                columns.update(dict.fromkeys(obj))
                rows.append(obj)
                numbers.append(line_no)
            table = pa.table(
                {
                    **{
                        c: pa.array([_render(r.get(c), nulls) for r in rows], pa.string())
                        for c in columns
                    },
                    LINE: pa.array(numbers, pa.int64()),
                }
            )
            yield table, bads
            if not raw:
                return


def _encoding_error(path: str, cfg: IngestConfig, exc: Exception) -> UserError:
    return UserError(
        f"'{path}' is not valid {cfg.encoding} text ({str(exc).splitlines()[0]}). Name the files' "
        "encoding in ingest.encoding (e.g. ingest.encoding=latin1, cp1252 or utf-16)."
    )


def stage_file(
    item: tuple[int, str], cfg: IngestConfig, source: str, staging: str, base: str
) -> tuple[dict, int]:
    """Read one file into staged pieces; its record: types, pieces, accounting. Hive-style
    ``key=value`` folders between ``base`` and the file add columns, as for Parquet."""
    index, path = item
    hive = hive_partitions(base, path)
    fs, _ = filesystem(source)
    sfs, root = filesystem(staging)
    fmt, compression = kind_of(path, cfg.format)
    t0 = time.perf_counter()
    writer = PieceWriter(sfs, posixpath.join(root, "_staged"), index, cfg.shard_rows)
    types: dict[str, TextType] = {}
    line_breaks: dict[str, tuple[int, int]] = {}  # column -> (values, first line)
    quarantine: list[tuple] = []
    reasons: Counter[str] = Counter()
    rows = 0
    reader = (
        read_ndjson(fs, path, compression, cfg)
        if fmt == "ndjson"
        else read_csv(fs, path, compression, cfg, fmt or "csv")
    )
    for table, bads in _prefetch(_guarded(reader, path, fmt or "csv", compression, cfg)):
        table, empty = _without_empty_rows(table)
        bads = bads + empty
        for key, value in hive.items():
            if key not in table.column_names:
                table = table.append_column(key, pa.array([value] * table.num_rows, pa.string()))
        for col in table.column_names:
            if col != LINE:
                types[col] = infer(table[col], types.get(col, TextType()))
                if types[col].arrow() == pa.string():
                    has = pc.fill_null(pc.match_substring(table[col], "\n"), False)
                    n = pc.sum(has).as_py() or 0
                    if n:
                        first = table[LINE].filter(has)[0].as_py()
                        before = line_breaks.get(col, (0, first))
                        line_breaks[col] = (before[0] + n, before[1])
        writer.write(table)
        rows += table.num_rows
        for line, reason, text in bads:
            reasons[_kind(reason)] += 1
            quarantine.append((path, line, reason, text))
    pieces = writer.close()
    write_quarantine(
        sfs, posixpath.join(root, "_ingest", "quarantine", f"lines-{index:06d}.parquet"), quarantine
    )
    return {
        "index": index,
        "path": path,
        "format": fmt,
        "compression": compression,
        "in": rows + len(quarantine),
        "staged": rows,
        "quarantined": dict(reasons),
        "columns": [c for c in types],
        "types": types,
        "line_breaks": {c: n for c, (n, _) in line_breaks.items()},
        "notes": [
            f"{path}: {n:,} value(s) of column '{c}' hold line breaks (quoted), the first at line "
            f"{first}; if that is unexpected, a quote left open there joined the lines after it "
            "into one value: close the quote in the file"
            for c, (n, first) in line_breaks.items()
        ],
        "pieces": pieces,
        "seconds": round(time.perf_counter() - t0, 3),
    }, rows + len(quarantine)


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


NO_VALUES = "no values (a blank line, or only delimiters and null markers)"


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
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "UTF8" in msg or "UTF-8" in msg:
            raise _encoding_error(path, cfg, exc) from None
        raise UserError(f"'{path}' could not be read as {fmt}: {msg.splitlines()[0]}") from None
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, cfg, exc) from None
    except (OSError, EOFError) as exc:
        raise UserError(
            f"'{path}' could not be read ({str(exc).splitlines()[0]}); is it a complete "
            f"{compression or 'uncompressed'} {fmt} file?"
        ) from None
