"""One text file staged (distml/ingest/files.py), every line accounted for: rows, and the lines
that are not rows with their record numbers, wherever in the file they fall (the first block,
between blocks, after the last good block), against the lines the test wrote."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from distml.config import IngestConfig
from distml.ingest.files import stage_file


def _stage(path: Path, tmp: Path, **cfg) -> tuple[dict, pl.DataFrame]:
    staging = tmp / "stage"
    for d in ("_staged", "_ingest/quarantine"):
        (staging / d).mkdir(parents=True, exist_ok=True)
    rec, n = stage_file((0, str(path)), IngestConfig(**cfg), str(path), str(staging), str(tmp))
    assert n == rec["in"]
    q = staging / "_ingest" / "quarantine" / "lines-000000.parquet"
    return rec, (pl.read_parquet(q) if q.exists() else pl.DataFrame())


@pytest.mark.parametrize("where", ["end", "middle_and_end"])
def test_every_line_is_a_row_or_quarantined_wherever_it_falls(tmp_path, where):
    good = [f"{i},{i * 0.5},w{i}" for i in range(400)]
    bad_at: list[int] = []  # record numbers (the header is 1)
    lines = ["a,b,c"]
    rows = good
    for i, line in enumerate(rows):
        lines.append(line)
        if where == "middle_and_end" and i == 200:
            lines.append("1,2")  # too few fields
            bad_at.append(len(lines))
    for extra in ("1,2,3,4", "x", "9,9"):  # the file ends on bad lines, after the last good block
        lines.append(extra)
        bad_at.append(len(lines))
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    rec, q = _stage(path, tmp_path, block_bytes=1024, delimiter=",")  # ~80 lines a block
    assert rec["in"] == len(lines) - 1 and rec["staged"] == len(rows)
    assert sum(rec["quarantined"].values()) == len(bad_at)
    assert sorted(q["line"].to_list()) == bad_at
    assert set(q["file"].to_list()) == {str(path)}
    assert sum(p.rows for p in rec["pieces"]) == len(rows)
    staged = sorted(os.listdir(tmp_path / "stage" / "_staged"))
    got = (
        pl.concat([pl.read_ipc(tmp_path / "stage" / "_staged" / f) for f in staged])
        if staged
        else None
    )
    assert (got.height if got is not None else 0) == len(rows)


def test_a_file_of_bad_lines_under_a_declared_delimiter_names_the_one_it_looks_like(tmp_path):
    from distml.errors import UserError

    path = tmp_path / "g.csv"
    path.write_text("a,b,c\n1,2\n3,4\n")  # no line has the header's 3 fields
    with pytest.raises(UserError, match="No line of .* has as many fields as its header"):
        _stage(path, tmp_path, delimiter=",")
    path = tmp_path / "f.csv"
    path.write_text("a;b;c\n1;2;3\n4;5;6\n")
    with pytest.raises(UserError, match="ingest.delimiter=';'"):
        _stage(path, tmp_path, delimiter=",")
