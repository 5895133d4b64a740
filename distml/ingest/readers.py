"""CSV, TSV and NDJSON files read as text, one block at a time, with the lines that are not rows.

CSV is read by Arrow's CSV reader (RFC 4180 quoting, line breaks inside quoted values), with the
delimiter sniffed from the file's first lines when ``ingest.delimiter`` is null (Python's csv
module splits a sample by each of , ; tab | and the most consistent split wins); a file whose
header is one field while another delimiter splits it evenly is refused naming that delimiter.
NDJSON is read by Python's json module, one line at a time: scalars as their text, nested values
as JSON text, and per column the count of each JSON type (distml/data/text.py keeps JSON's own
types: a JSON string stays text). A line that is not a row (the wrong number of fields, a blank
line, the header again, JSON that does not parse or is not an object) is returned with its line
number and reason.

Line numbers are record numbers counted from 1 at the file's first line (the header): they are
the file's line numbers unless a quoted value holds a line break.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import posixpath
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
from distml.errors import UserError, shell_quoted
from distml.ingest.pieces import LINE

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


def file_kind(path: str, fmt: str) -> tuple[str | None, str | None]:
    """(format, compression) of a file from its name; format None: not a text export."""
    stem, ext = posixpath.splitext(path.lower())
    compression = COMPRESSION.get(ext)
    if compression:
        ext = posixpath.splitext(stem)[1]
    return (fmt if fmt != "auto" else FORMATS.get(ext)), compression


def _open(fs: pafs.FileSystem, path: str, compression: str | None) -> pa.NativeFile:
    return fs.open_input_stream(path, compression=compression)


DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 18


def _sample(fs, path, compression, cfg: IngestConfig) -> str:
    """The file's first complete lines (up to ``SNIFF_BYTES``), decoded."""
    with _open(fs, path, compression) as f:
        raw = f.read(SNIFF_BYTES)
    text = raw.decode(cfg.encoding, errors="replace")
    return text if len(raw) < SNIFF_BYTES else text[: text.rfind("\n") + 1] or text


def split_counts(sample: str, delimiter: str) -> tuple[int, float]:
    """(the most common number of fields, the share of records with it) when ``sample`` is
    read as CSV with ``delimiter`` (Python's csv module: RFC 4180 quotes)."""
    counts = Counter(len(r) for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if r)
    if not counts:
        return 1, 1.0
    fields, n = counts.most_common(1)[0]
    return fields, n / sum(counts.values())


def sniff_delimiter(sample: str) -> str | None:
    """The delimiter of ``DELIMITERS`` that splits the sample's records into the same number
    (2 or more) of fields most consistently (ties: the one listed first); None when none does."""
    best, score = None, (0.0, 0)
    for d in DELIMITERS:
        fields, share = split_counts(sample, d)
        if fields >= 2 and (share, fields) > score:
            best, score = d, (share, fields)
    return best


def choose_delimiter(fs, path, compression, cfg: IngestConfig, fmt: str) -> tuple[str, str]:
    """(delimiter, how it was chosen: declared, tsv or sniffed)."""
    if cfg.delimiter:
        return cfg.delimiter, "declared"
    if fmt == "tsv":
        return "\t", "tsv"
    return sniff_delimiter(_sample(fs, path, compression, cfg)) or ",", "sniffed"


def delimiter_override(d: str) -> str:
    """The override that sets ``d`` as a user types it in a shell."""
    return "ingest.delimiter=tab" if d == "\t" else shell_quoted(f"ingest.delimiter={d}")


def shown_delimiter(d: str) -> str:
    return "tab" if d == "\t" else repr(d)


def other_delimiter(fs, path, compression, cfg: IngestConfig, used: str) -> str | None:
    """A delimiter other than ``used`` that the file's first lines look separated by."""
    found = sniff_delimiter(_sample(fs, path, compression, cfg))
    return found if found and found != used else None


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
    if _trailing_delimiter(_sample(fs, path, compression, cfg), delimiter, len(renamed)):
        renamed.append(f"{UNNAMED}{len(renamed)}")  # empty, left out with a note
    _check_reserved(renamed, path)
    dup = repeated(renamed)
    if dup:
        raise UserError(
            f"The header of '{path}' names the column(s) {', '.join(map(repr, dup))} more than "
            "once. Rename them in the file, or give every column's name in "
            "ingest.column_names=[...] (the first line is then read as data)."
        )
    return renamed


def _trailing_delimiter(sample: str, delimiter: str, fields: int) -> bool:
    """Whether the data lines end with a delimiter the header lacks (``1;2;3;`` under ``a;b;c``):
    nearly every record then has one more field, and it is empty."""
    rows = [r for r in list(csv.reader(io.StringIO(sample), delimiter=delimiter))[1:200] if r]
    extra = sum(len(r) == fields + 1 and r[-1] == "" for r in rows)
    return bool(rows) and extra >= 0.9 * len(rows)


def _check_reserved(names: list[str], path: str) -> None:
    if LINE in names:
        raise UserError(
            f"'{path}' has a column named {LINE}, a name distml ingest uses for line numbers. "
            "Rename the column in the file (or give ingest.column_names)."
        )


def _one_field_header(fs, path, compression, cfg: IngestConfig, delimiter: str, names) -> None:
    """A header that is one field while another delimiter splits the file evenly: the
    delimiter is wrong (every row would be one column of text)."""
    if len(names) == 1 and not cfg.column_names:
        other = other_delimiter(fs, path, compression, cfg, delimiter)
        if other is not None:
            raise UserError(
                f"The header of '{path}' is one field when split by {shown_delimiter(delimiter)} "
                f"({names[0][:80]!r}), but the file's lines split evenly by "
                f"{shown_delimiter(other)}: set {delimiter_override(other)} (or leave "
                "ingest.delimiter null, and distml sniffs it per file)."
            )


def read_csv(
    fs, path, compression, cfg: IngestConfig, delimiter: str
) -> Iterator[tuple[pa.Table, list[Bad], None]]:
    """The file's rows as string columns plus ``LINE``, one block at a time, with the lines of
    that block that are not rows. Arrow's reader (one thread, so the row numbers it gives the
    invalid-row handler are known) reports each record's number; those of the valid rows follow
    from the count of records in the block."""
    names = _names(fs, path, compression, cfg, delimiter)
    if names is None:
        return
    _one_field_header(fs, path, compression, cfg, delimiter, names)
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
            yield table, block + again, None
        if bads or not yielded:  # lines left over, or a header and no row: the columns
            yield (
                pa.table(
                    {
                        **{c: pa.array([], pa.string()) for c in names},
                        LINE: pa.array([], pa.int64()),
                    }
                ),
                bads,
                None,
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


def _render(value: Any) -> str | None:
    """A JSON value as text: a string as itself (never null: JSON has null for that)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "nested"


def _rendered(values: list[Any]) -> tuple[pa.Array, Counter[str]]:
    """The values as text (None for JSON null or an absent key) and the count of each JSON
    type among the others."""
    out: list[str | None] = []
    kinds: Counter[str] = Counter()
    for v in values:
        text = _render(v)
        out.append(text)
        if text is not None:
            kinds[_json_type(v)] += 1
    return pa.array(out, pa.string()), kinds


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


def read_ndjson(
    fs, path, compression, cfg: IngestConfig
) -> Iterator[tuple[pa.Table, list[Bad], dict[str, Counter[str]]]]:
    """One JSON object a line; scalars as their text, nested values as JSON text, and per
    column the count of each JSON type among the values."""
    decoder = codecs.getincrementaldecoder(cfg.encoding)(errors="strict")
    columns: dict[str, None] = {}
    line_no, rest = 0, ""
    with _open(fs, path, compression) as f:
        while True:
            raw = f.read(cfg.block_bytes)
            try:
                text = rest + decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise encoding_error(path, cfg, exc) from None
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
            arrays, kinds = {}, {}
            for c in columns:
                arrays[c], kinds[c] = _rendered([r.get(c) for r in rows])
            arrays[LINE] = pa.array(numbers, pa.int64())
            yield pa.table(arrays), bads, kinds
            if not raw:
                return


def encoding_error(path: str, cfg: IngestConfig, exc: Exception) -> UserError:
    return UserError(
        f"'{path}' is not valid {cfg.encoding} text ({str(exc).splitlines()[0]}). Name the files' "
        "encoding in ingest.encoding (e.g. ingest.encoding=latin1, cp1252 or utf-16)."
    )


NO_VALUES = "no values (a blank line, or only delimiters and null markers)"
