"""`distml ingest` end to end on the session's Ray: CSV/TSV/NDJSON files with malformed lines,
mixed headers and compression, every line accounted for against the generator's own record; a
real PostgreSQL table (tests/postgres.sh: .ci/run starts it, else the test session does) read in 4 partitions and compared
row for row with psql's COPY; the output read by `distml run`; re-runs refused or replaced
atomically; bad input as one paragraph."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import subprocess
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from tests.integration.conftest import distml

COLUMNS = ["id", "x", "name", "day", "flag", "label"]
NULLS = ["NA", "", "\\N"]


def plain(path: Path, text: str) -> None:
    path.write_bytes(text.encode())


def gzipped(path: Path, text: str) -> None:
    path.write_bytes(gzip.compress(text.encode()))


def zstd(path: Path, text: str) -> None:
    import pyarrow as pa

    with pa.CompressedOutputStream(str(path), "zstd") as f:
        f.write(text.encode())


class Files:
    """Writes the test files and records what each line must become: a row (typed values) or
    a quarantined line (file, record number, reason kind)."""

    def __init__(self, root: Path, seed: int = 3) -> None:
        self.root, self.rng = root, random.Random(seed)
        self.rows: list[dict] = []
        self.bad: dict[tuple[str, int], str] = {}
        self.lines_in: dict[str, int] = {}
        self.next_id = 0
        root.mkdir(parents=True, exist_ok=True)

    def _row(self, columns: list[str]) -> tuple[dict, dict]:
        """(text fields, expected typed row)."""
        rng, i = self.rng, self.next_id
        self.next_id += 1
        x = rng.choice([f"{rng.uniform(-5, 5):.3f}"] * 6 + NULLS)
        name = rng.choice(["plain", "comma, inside", 'say "hi"', "two\nlines", "café", "NA", ""])
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(300))
        flag = rng.choice(["true", "false"])
        label = int(rng.random() < 0.3 + 0.4 * (flag == "true"))
        text = {"id": str(i), "x": x, "name": name, "day": day.isoformat(), "flag": flag}
        text["label"] = str(label)
        typed = {
            "id": i,
            "x": None if x in NULLS else float(x),
            "name": None if name in NULLS else name,
            "day": day if "day" in columns else None,
            "flag": flag == "true",
            "label": label,
        }
        return {c: text[c] for c in columns}, typed

    def csv(self, name: str, columns: list[str], n: int, delimiter: str = ",", write=plain) -> None:
        """n rows, with a malformed line every ~40: too few fields, too many, a blank line, the
        header again. Record numbers count the header as 1; a quoted line break stays in its
        record."""
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
        w.writerow(columns)
        record = 1
        for _ in range(n):
            record += 1
            if self.rng.random() < 0.025:
                kind = self.rng.choice(["few", "many", "blank", "header"])
                if kind == "few":
                    buf.write(delimiter.join(["1"] * (len(columns) - 2)) + "\n")
                    self.bad[(name, record)] = "wrong number of fields"
                elif kind == "many":
                    buf.write(delimiter.join(["1"] * (len(columns) + 1)) + "\n")
                    self.bad[(name, record)] = "wrong number of fields"
                elif kind == "blank":
                    buf.write("\n")
                    self.bad[(name, record)] = "no values"
                else:
                    w.writerow(columns)
                    self.bad[(name, record)] = "the header line again"
                continue
            fields, typed = self._row(columns)
            # in a text column only "" (and NULL, null, \N) is null: "NA" is a value (Namibia)
            typed["name"] = None if fields["name"] == "" else fields["name"]
            w.writerow([fields[c] for c in columns])
            self.rows.append(typed)
        self.lines_in[name] = record - 1
        write(self.root / name, buf.getvalue())

    def ndjson(self, name: str, n: int, write) -> None:
        lines = []
        for line_no in range(1, n + 1):
            r = self.rng.random()
            if r < 0.03:
                lines.append('{"id": 1, "x": ')
                self.bad[(name, line_no)] = "not JSON"
                continue
            if r < 0.05:
                lines.append("[1, 2]")
                self.bad[(name, line_no)] = "not a JSON object"
                continue
            fields, typed = self._row(COLUMNS)
            typed["name"] = fields["name"]  # a JSON string stays a string, "" and "NA" too
            obj = {
                "id": typed["id"],
                "x": typed["x"],
                "name": fields["name"],
                "day": fields["day"],
                "flag": typed["flag"],
                "label": typed["label"],
            }
            if self.rng.random() < 0.5:
                del obj["x"]
                typed["x"] = None
            lines.append(json.dumps(obj))
            self.rows.append(typed)
        self.lines_in[name] = n
        write(self.root / name, "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Files:
    f = Files(tmp_path_factory.mktemp("exports") / "in")
    f.csv("a.csv", COLUMNS, 900)
    # another order, no 'day' column, gzip
    f.csv("b.csv.gz", ["label", "name", "id", "x", "flag"], 600, write=gzipped)
    f.csv("c.tsv.zst", COLUMNS, 500, delimiter="\t", write=zstd)
    f.ndjson("d.jsonl.gz", 400, write=gzipped)
    (f.root / "README.md").write_text("not data")
    return f


@pytest.mark.parametrize("executor", ["auto", "threads"])  # auto: the session's Ray
def test_every_line_accounted_for_mixed_headers_compression_and_malformed_lines(
    exports, tmp_path, ray_local, executor
):
    out = tmp_path / "out"
    p = distml(
        "ingest",
        f"source={exports.root}",
        f"out={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"cluster.executor={executor}",
        "ingest.block_bytes=2048",  # many blocks: line numbers across block boundaries
        "ingest.shard_rows=700",
        "ingest.row_group_rows=300",
    )
    assert "Traceback" not in p.stderr
    record = json.loads((out / "_ingest" / "ingest.json").read_text())
    assert record["executor"] == ("ray" if executor == "auto" else "threads")
    # every line: in = written + quarantined, per file, against the generator's record
    for f in record["files"]:
        name = Path(f["path"]).name
        expected_bad = {k: v for k, v in exports.bad.items() if k[0] == name}
        assert f["in"] == exports.lines_in[name], name
        assert f["in"] == f["written"] + sum(f["quarantined"].values()), name
        kinds = {}
        for why in expected_bad.values():
            kinds[why] = kinds.get(why, 0) + 1
        assert {k.split(" (")[0]: v for k, v in f["quarantined"].items()} == kinds, name
    assert record["rows"] == {
        "in": sum(exports.lines_in.values()),
        "written": len(exports.rows),
        "quarantined": len(exports.bad),
    }
    assert [Path(n["path"]).name for n in record["files_not_read"]] == ["README.md"]
    # the quarantine holds exactly the bad lines, each with its file and record number
    q = pl.read_parquet(str(out / "_ingest" / "quarantine" / "*.parquet"))
    got = {(Path(f).name, n) for f, n in zip(q["file"], q["line"], strict=True)}
    assert got == set(exports.bad)
    # the rows, typed, exactly; the file without 'day' has nulls there (named in ingest.json)
    df = pl.read_parquet(str(out / "part-*.parquet")).sort("id")
    assert df.schema == {
        "id": pl.Int64,
        "x": pl.Float64,
        "name": pl.String,
        "day": pl.Date,
        "flag": pl.Boolean,
        "label": pl.Int64,
    }
    expected = pl.DataFrame(exports.rows, schema=df.schema).sort("id")
    assert df.equals(expected)
    day = next(c for c in record["columns"] if c["name"] == "day")
    assert [Path(f).name for f in day["files_without"]] == ["b.csv.gz"]
    # shards of at most ingest.shard_rows rows, in row groups of ingest.row_group_rows
    import pyarrow.parquet as pq

    for shard in record["shards"]:
        meta = pq.ParquetFile(out / shard["path"]).metadata
        assert meta.num_rows == shard["rows"] <= 700
        assert all(meta.row_group(i).num_rows <= 300 for i in range(meta.num_row_groups))
    # nothing staged is left beside or inside out
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".out.")]
    assert not (out / "_staged").exists()

    # the output is read by `distml run` as it is
    run = tmp_path / "pipeline"
    distml(
        "run",
        f"data.path={out}",
        "data.label=label",
        f"hydra.run.dir={run}",
        "model.num_boost_round=20",
        "eval.bootstrap=0",
        "cluster.cpus_per_worker=0.5",
    )
    profile = json.loads((run / "profile.json").read_text())
    assert profile["rows_in"] == profile["rows_accepted"] == len(exports.rows)
    assert set(profile["features"]["used"]) >= {"x", "name", "day", "flag"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["roc_auc"] > 0.6  # flag carries the label's signal


def test_a_declared_type_quarantines_the_values_that_do_not_parse(tmp_path, ray_local):
    src = tmp_path / "in.csv"
    src.write_text("id,amount,when\n1,10,2024-01-01T10:00:00+01:00\n2,lots,2024-01-02\n3,,x\n")
    out = tmp_path / "out"
    distml(
        "ingest",
        f"source={src}",
        f"out={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
        "+ingest.schema.amount=int",
        "+ingest.schema.when=datetime",
        "ingest.timezone=Europe/Paris",
    )
    df = pl.read_parquet(str(out / "*.parquet"))
    assert df["id"].to_list() == [1]
    assert df["when"].dtype == pl.Datetime("us", "UTC")
    assert str(df["when"][0]) == "2024-01-01 09:00:00+00:00"
    q = pl.read_parquet(str(out / "_ingest" / "quarantine" / "*.parquet")).sort("line")
    assert q["line"].to_list() == [3, 4]
    assert "'lots' is not a valid int (ingest.schema.amount)" in q["reason"][0]
    assert "'x' is not a valid datetime (ingest.schema.when)" in q["reason"][1]
    record = json.loads((out / "_ingest" / "ingest.json").read_text())
    assert record["rows"] == {"in": 3, "written": 1, "quarantined": 2}


def test_rerun_refuses_or_replaces_atomically_and_a_failed_run_leaves_nothing(tmp_path, ray_local):
    first, second = tmp_path / "first.csv", tmp_path / "second"
    first.write_text("a,b\n1,2\n3,4\n")
    second.mkdir()
    (second / "ok.csv").write_text("a,b\n5,6\n")
    out = tmp_path / "data" / "out"
    args = [f"out={out}", f"hydra.run.dir={tmp_path / 'run'}"]
    distml("ingest", f"source={first}", *args)
    before = pl.read_parquet(str(out / "*.parquet"))

    p = distml("ingest", f"source={first}", *args, check=False)
    assert p.returncode == 2 and "ingest.overwrite=true" in p.stderr

    # a run that dies half-way (a truncated gzip file) leaves the old dataset and no staging
    whole = gzip.compress(
        ("a,b\n" + "".join(f"{i},{i * 7919 % 10007}\n" for i in range(5000))).encode()
    )
    (second / "broken.csv.gz").write_bytes(whole[: len(whole) // 2])
    p = distml("ingest", f"source={second}", *args, "ingest.overwrite=true", check=False)
    errors = [line for line in p.stderr.splitlines() if line.startswith("distml: error:")]
    assert p.returncode == 2 and len(errors) == 1 and "broken.csv.gz" in errors[0], p.stderr
    assert "Traceback" not in p.stderr
    assert pl.read_parquet(str(out / "*.parquet")).equals(before)
    assert sorted(x.name for x in out.parent.iterdir()) == ["out"]

    (second / "broken.csv.gz").unlink()
    # overwrite never deletes what ingest did not write: the source itself, another folder
    p = distml("ingest", f"source={second}", f"out={second}", "ingest.overwrite=true", check=False)
    assert p.returncode == 2 and "overlap" in p.stderr and (second / "ok.csv").exists()
    other = tmp_path / "data" / "other"
    other.mkdir()
    (other / "precious.txt").write_text("keep")
    p = distml("ingest", f"source={second}", f"out={other}", "ingest.overwrite=true", check=False)
    assert p.returncode == 2 and "_ingest/ingest.json" in p.stderr
    assert (other / "precious.txt").read_text() == "keep"
    other.joinpath("precious.txt").unlink()
    other.rmdir()
    distml("ingest", f"source={second}", *args, "ingest.overwrite=true")
    assert pl.read_parquet(str(out / "*.parquet"))["a"].to_list() == [5]
    assert sorted(x.name for x in out.parent.iterdir()) == ["out"]


def test_encodings_and_bad_input_are_one_paragraph(tmp_path, ray_local):
    src = tmp_path / "latin1.csv"
    src.write_bytes("id,city\n1,Zürich\n2,Besançon\n".encode("latin1"))
    run = [f"hydra.run.dir={tmp_path / 'run'}"]

    def error(*args: str) -> str:
        p = distml("ingest", *args, *run, check=False)
        lines = [line for line in p.stderr.splitlines() if line.startswith("distml: error:")]
        assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
        return lines[0]

    assert "ingest.encoding" in error(f"source={src}", f"out={tmp_path / 'o1'}")
    distml("ingest", f"source={src}", f"out={tmp_path / 'o2'}", "ingest.encoding=latin1", *run)
    assert pl.read_parquet(str(tmp_path / "o2" / "*.parquet"))["city"].to_list() == [
        "Zürich",
        "Besançon",
    ]
    assert "needs source=" in error(f"out={tmp_path / 'o3'}")
    assert "does not exist" in error(f"source={tmp_path / 'nope.csv'}", f"out={tmp_path / 'o3'}")
    assert "'nope'" in error(
        f"source={src}",
        f"out={tmp_path / 'o3'}",
        "ingest.encoding=latin1",
        "+ingest.schema.nope=int",
    )
    dup = tmp_path / "dup.csv"
    dup.write_text("a,b,a\n1,2,3\n")
    assert "'a' more than once" in error(f"source={dup}", f"out={tmp_path / 'o4'}")


def test_types_across_files_folders_and_odd_headers(tmp_path, ray_local):
    """A type holds for every value of every file (digits are never lost in a float, a value
    that only Arrow's int parser takes is not nulled); Hive folders become columns; a header's
    trailing delimiter adds no column; a header-only file keeps its columns; .txt is not data."""
    src = tmp_path / "src"
    (src / "region=eu").mkdir(parents=True)
    (src / "region=us").mkdir()
    (src / "region=eu" / "a.csv").write_text("id,big,h,\n1,12345678901234567,0x1F,\n")
    (src / "region=us" / "b.csv").write_text("id,big,h,\n2,1.5,2.5,\n")
    (src / "region=us" / "c.csv").write_text("id,big,h,\n")
    (src / "region=us" / "d.jsonl").write_text('{"id": 3, "": 7}\n{"id": 4, "id": 5}\n')
    (src / "notes.txt").write_text("export notes, not data\n")
    out = tmp_path / "out"
    distml("ingest", f"source={src}", f"out={out}", f"hydra.run.dir={tmp_path / 'run'}")
    df = pl.read_parquet(str(out / "*.parquet")).sort("id")
    assert df.schema == {
        "id": pl.Int64,
        "big": pl.String,  # float64 would turn 12345678901234567 into ...568
        "h": pl.String,  # Arrow's int parser takes 0x1F, its float parser does not: text
        "region": pl.String,
        "unnamed_1": pl.Int64,  # NDJSON's empty key, named by position like a CSV header's
    }
    assert df.rows() == [
        (1, "12345678901234567", "0x1F", "eu", None),
        (2, "1.5", "2.5", "us", None),
        (3, None, None, "us", 7),
    ]
    record = json.loads((out / "_ingest" / "ingest.json").read_text())
    assert [Path(f["path"]).name for f in record["files_not_read"]] == ["notes.txt"]
    assert any("unnamed_3" in n and "left out" in n for n in record["notes"])
    assert record["quarantined_by_reason"] == {"the key 'id' twice in one object": 1}
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b\n")
    distml(
        "ingest", f"source={header_only}", f"out={tmp_path / 'o2'}", f"hydra.run.dir={tmp_path}/r2"
    )
    assert pl.read_parquet(str(tmp_path / "o2" / "*.parquet")).columns == ["a", "b"]


# PostgreSQL: the server of tests/postgres.sh. .ci/run starts one and exports PG*; without PG*
# the test session starts its own before Ray starts (tests/conftest.py), so Ray's workers see it.


@pytest.fixture(scope="session")
def postgres_server():
    assert os.environ.get("PGHOST"), (
        "The PostgreSQL tests need the test server: tests/conftest.py starts one when the tests "
        'are collected, or eval "$(bash tests/postgres.sh start)" before pytest.'
    )


def _psql(sql: str) -> str:
    return subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


@pytest.fixture(scope="module")
def postgres_table(postgres_server) -> str:
    _psql(
        """
        DROP TABLE IF EXISTS clients;
        CREATE TABLE clients (id bigint PRIMARY KEY, k integer, amount numeric(12, 2),
          score double precision, name text, seen timestamptz, day date, active boolean);
        INSERT INTO clients SELECT g,
          CASE WHEN g % 97 = 0 THEN NULL ELSE (g * 7919) % 100000 END,
          round((g % 1000) * 1.25, 2), sqrt(g) / 7,
          CASE WHEN g % 11 = 0 THEN NULL ELSE 'client ' || g END,
          timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
          date '2024-01-01' + (g % 365), g % 3 = 0
        FROM generate_series(1, 200000) g;
        """
    )
    return "clients"


def test_a_postgres_table_in_four_partitions_equals_the_table(postgres_table, tmp_path, ray_local):
    out, run = tmp_path / "out", tmp_path / "run"
    source = (
        f"postgresql://{os.environ['PGHOST']}:{os.environ['PGPORT']}/{os.environ['PGDATABASE']}"
    )
    distml(
        "ingest",
        f"source={source}",
        f"out={out}",
        f"hydra.run.dir={run}",
        f"ingest.table={postgres_table}",
        "ingest.partition_column=k",
        "ingest.partitions=4",
        "ingest.shard_rows=60000",
    )
    record = json.loads((out / "_ingest" / "ingest.json").read_text())
    parts = record["partitions"]
    assert len(parts) == 4 and all(p["in"] > 0 for p in parts)
    assert "IS NULL" in parts[0]["where"]  # the null keys are read too
    assert record["rows"] == {"in": 200_000, "written": 200_000, "quarantined": 0}
    assert record["rows_in_snapshot"] == 200_000

    # row for row against psql's COPY (another client, text format)
    text = _psql(
        "COPY (SELECT id, k, amount::text, score, name, "
        "to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS seen, day, active "
        "FROM clients ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)"
    )
    want = pl.read_csv(
        io.StringIO(text),
        schema={
            "id": pl.Int64,
            "k": pl.Int32,
            "amount": pl.String,
            "score": pl.Float64,
            "name": pl.String,
            "seen": pl.String,
            "day": pl.Date,
            "active": pl.String,
        },
    )
    got = pl.read_parquet(str(out / "*.parquet")).sort("id")
    assert got.height == 200_000 and got["id"].n_unique() == 200_000
    assert got["amount"].dtype == pl.Decimal(12, 2)
    assert got.select(
        "id",
        "k",
        pl.col("amount").cast(pl.String),
        "score",
        "name",
        pl.col("seen").dt.strftime("%Y-%m-%d %H:%M:%S"),
        "day",
        pl.col("active").replace_strict({True: "t", False: "f"}),
    ).equals(want)

    # no credential was written anywhere
    secret = os.environ["PGPASSWORD"].encode()
    for folder in (out, run):
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret not in path.read_bytes(), path


def test_a_password_in_the_uri_is_refused_before_anything_is_saved(tmp_path, ray_local):
    run = tmp_path / "run"
    p = distml(
        "ingest",
        "source=postgresql://distml:hunter2@127.0.0.1:5432/db",
        f"out={tmp_path / 'out'}",
        f"hydra.run.dir={run}",
        "ingest.table=t",
        check=False,
    )
    assert p.returncode == 2 and "PGPASSWORD" in p.stderr and "Traceback" not in p.stderr
    assert not run.exists()


def test_postgres_types_keys_and_queries_that_cannot_be_partitioned(postgres_table, tmp_path):
    _psql(
        """
        DROP TABLE IF EXISTS odd;
        CREATE TABLE odd AS SELECT g AS id, g::numeric(12, 0) AS n,
          CASE WHEN g = 1 THEN 'Infinity'::float8 WHEN g = 2 THEN 'NaN' ELSE g END AS f,
          md5(g::text)::uuid AS u, jsonb_build_object('g', g) AS j, interval '1 day' * g AS span,
          '10.0.0.1'::inet AS ip, (g * 1.25)::money AS price
        FROM generate_series(1, 1000) g;
        """
    )
    uri = f"postgresql://{os.environ['PGHOST']}:{os.environ['PGPORT']}/{os.environ['PGDATABASE']}"
    run = f"hydra.run.dir={tmp_path / 'run'}"
    for i, key in enumerate(["n", "f"]):  # numeric arrives as text; infinities sort at the ends
        out = tmp_path / f"o{i}"
        distml("ingest", f"source={uri}", f"out={out}", "ingest.table=odd", run,
               f"ingest.partition_column={key}", "ingest.partitions=3")  # fmt: skip
        record = json.loads((out / "_ingest" / "ingest.json").read_text())
        assert len(record["partitions"]) == 3 and all(p["in"] > 300 for p in record["partitions"])
    df = pl.read_parquet(str(tmp_path / "o1" / "*.parquet")).sort("id")
    assert df.height == 1000
    assert df.schema["u"] == df.schema["j"] == df.schema["span"] == df.schema["ip"] == pl.String
    assert df.row(0, named=True)["j"] == '{"g": 1}' and df["price"][0] == 1.25
    assert sum("read as text" in n for n in record["notes"]) == 4

    def error(*args: str) -> str:
        p = distml("ingest", f"source={uri}", f"out={tmp_path / 'bad'}", run, *args, check=False)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        return p.stderr

    assert "more than once" in error(
        'ingest.query="SELECT a.id, b.id FROM odd a JOIN odd b USING (id)"'
    )
    volatile = error(
        'ingest.query="SELECT * FROM odd WHERE random() < 0.5"',
        "ingest.partition_column=id",
        "ingest.partitions=3",
    )
    assert "does not return the same rows" in volatile and "ingest.partitions=1" in volatile
    p = distml("ingest", "source=postgresql:///db?sslpassword=x", f"out={tmp_path / 'x'}", run,
               "ingest.table=odd", check=False)  # fmt: skip
    assert p.returncode == 2 and "holds a password" in p.stderr
