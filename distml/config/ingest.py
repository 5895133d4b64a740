"""``ingest.*``: CSV/TSV/NDJSON exports and PostgreSQL tables into sharded Parquet (distml/ingest/)."""

from __future__ import annotations

from dataclasses import dataclass, field

from distml.config._check import check

TYPES = ("int", "uint", "float", "string", "bool", "date", "datetime")


@dataclass
class IngestConfig:
    format: str = "auto"
    """csv, tsv, ndjson, or auto: from each file's extension (.csv, .tsv/.tab, .json/.jsonl/
    .ndjson, then a compression suffix .gz/.zst/.bz2/.lz4)."""
    delimiter: str | None = None
    """CSV field delimiter, one character or ``tab`` (null: tab for tsv; for csv sniffed per
    file among , ; tab |)."""
    decimal: str = "auto"
    """Numbers' convention: point (1,234.5), comma (1.234,5 and -0,083), or auto: sniffed per
    file from values only one convention reads."""
    encoding: str = "utf8"
    """Text encoding of the files, a Python codec name (latin1, cp1252, utf-16, ...)."""
    null_values: list[str] = field(default_factory=lambda: ["", "NULL", "null", "\\N"])
    """CSV field values read as null in every column (NDJSON: JSON null, and a key absent).
    Beyond these, pandas' null markers (NA, N/A, NaN, None, #N/A, ...: distml/data/parse.py
    NULL_MARKERS) are null in a column that takes a number, bool, date or timestamp type, and
    stay text, counted in a note, in a text column (NA may be Namibia)."""
    max_bad_share: float = 0.001
    """A column takes a type (number, bool, date, timestamp) when at most this share of its
    values does not parse as it; those cells are quarantined with their file, line and value
    (or set null: ingest.bad_values). Above it, the column stays text."""
    bad_values: str = "quarantine"
    """quarantine: a row with a cell that does not parse as its column's type goes to the
    quarantine; set_null: the cell is set null (counted per column in ingest.json), the row
    kept."""
    match_names: str = "normalized"
    """normalized: headers equal after case-folding and turning runs of spaces and punctuation
    into '_' are one column (Customer Age = customer_age), the spellings reported; exact:
    names must match exactly."""
    column_names: list[str] | None = None
    """CSV files without a header line: their column names (null: the first line is the header)."""
    newlines_in_values: bool = True
    """Quoted CSV values may hold line breaks (set false only to read a little faster)."""
    schema: dict[str, str] = field(default_factory=dict)
    """Declared column types, which win over inference: int, uint (unsigned 64-bit), float,
    string, bool, date, datetime (timezone-aware, UTC). A value that does not parse as its
    declared type is quarantined."""
    timezone: str = "UTC"
    """The time zone of naive values in a column declared datetime."""
    block_bytes: int = 8 << 20
    """Bytes of a file read and parsed at a time (a task holds a few blocks in memory)."""
    shard_rows: int = 1_000_000
    """Rows per output Parquet file (small input files are combined up to this)."""
    row_group_rows: int = 250_000
    """Rows per Parquet row group: the unit later stages cut shards at."""
    compression: str = "zstd"
    """Parquet compression of the output."""
    overwrite: bool = False
    """Replace an existing ``out`` that ingest wrote (it holds _ingest/ingest.json), atomically,
    once the new dataset is complete; false: refuse. Never a folder ingest did not write."""
    table: str | None = None
    """PostgreSQL: the table (or schema.table) to read."""
    query: str | None = None
    """PostgreSQL: a SELECT to read instead of a table."""
    partition_column: str | None = None
    """PostgreSQL: a numeric, date or timestamp column; its min..max range is cut into
    ``partitions`` equal ranges read in parallel (null keys go to the first)."""
    partitions: int | None = None
    """PostgreSQL: parallel reads (each a Ray task and a connection) with partition_column
    (null: one per cluster CPU; without partition_column: 1)."""

    def __post_init__(self) -> None:
        check(
            self.format in ("auto", "csv", "tsv", "ndjson"),
            "ingest.format",
            "one of auto, csv, tsv, ndjson",
            self.format,
        )
        check(
            self.decimal in ("auto", "point", "comma"),
            "ingest.decimal",
            "one of auto, point, comma",
            self.decimal,
        )
        check(
            0 <= self.max_bad_share < 0.5,
            "ingest.max_bad_share",
            "a share in [0, 0.5)",
            self.max_bad_share,
        )
        check(
            self.bad_values in ("quarantine", "set_null"),
            "ingest.bad_values",
            "one of quarantine, set_null",
            self.bad_values,
        )
        check(
            self.match_names in ("normalized", "exact"),
            "ingest.match_names",
            "one of normalized, exact",
            self.match_names,
        )
        if self.delimiter in ("\\t", "tab", "TAB"):  # a tab, as a user can type it
            self.delimiter = "\t"
        check(
            self.delimiter is None or len(self.delimiter) == 1,
            "ingest.delimiter",
            "one character",
            self.delimiter,
        )
        for col, t in self.schema.items():
            check(t in TYPES, f"ingest.schema.{col}", f"one of {', '.join(TYPES)}", t)
        check(self.block_bytes >= 1024, "ingest.block_bytes", "an int >= 1024", self.block_bytes)
        check(self.shard_rows > 0, "ingest.shard_rows", "a positive int", self.shard_rows)
        check(
            self.row_group_rows > 0, "ingest.row_group_rows", "a positive int", self.row_group_rows
        )
        check(
            self.partitions is None or self.partitions > 0,
            "ingest.partitions",
            "a positive int",
            self.partitions,
        )
        check(
            not (self.table and self.query),
            "ingest.table",
            "null when ingest.query is set (read a table or a query, not both)",
            self.table,
        )
        check(
            self.partitions in (None, 1) or self.partition_column is not None,
            "ingest.partitions",
            "1 unless ingest.partition_column names the key whose range is cut into partitions",
            self.partitions,
        )
