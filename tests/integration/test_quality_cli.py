"""The data contract end to end through `distml run` (on Ray; the last test in threads): bad
rows, bad files, gates, values that are not finite numbers."""

import json

import polars as pl
import pytest

from distml.synthetic import generate_rows
from tests.integration.conftest import distml

ROWS = 5000
NULL_LABEL, BAD_LABEL, NEGATIVE = range(0, 7), range(100, 105), range(200, 211)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """4 good files (one with bad rows), a file with amount as strings, an empty and a corrupt one."""
    d = tmp_path_factory.mktemp("messy")
    for i in range(4):
        df = generate_rows(11, i, i * ROWS, ROWS, 0.1)
        if i == 1:
            idx = pl.int_range(pl.len())
            df = df.with_columns(
                pl.when(idx.is_in(list(NULL_LABEL)))
                .then(None)
                .when(idx.is_in(list(BAD_LABEL)))
                .then(2)
                .otherwise(pl.col("label"))
                .cast(pl.Int8)
                .alias("label"),
                pl.when(idx.is_in(list(NEGATIVE)))
                .then(-pl.col("amount"))
                .otherwise(pl.col("amount"))
                .alias("amount"),
            )
        df.write_parquet(d / f"part-{i}.parquet", row_group_size=1000)
    s = generate_rows(11, 4, 4 * ROWS, 300, 0.1).with_columns(pl.col("amount").cast(pl.String))
    s = s.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("twelve"))
        .otherwise("amount")
        .alias("amount")
    )
    s.write_parquet(d / "part-4.parquet")
    generate_rows(11, 5, 0, 10, 0.1).head(0).write_parquet(d / "part-5.parquet")
    (d / "part-6.parquet").write_bytes(b"this is not a parquet file")
    return d


def _run(messy, ray_local, tmp_path, *over, check=False):
    address = ray_local.get_runtime_context().gcs_address
    out = tmp_path / "run"
    p = distml(
        "run",
        f"data.path={messy}",
        f"cluster.address={address}",
        f"hydra.run.dir={out}",
        "sampling.size=4000",
        "pipeline.until=sample",
        "+quality.rules.amount_pos={column: amount, min: 0}",
        *over,
        check=check,
    )
    return p, out


def test_an_unreadable_file_stops_the_run_with_its_name(messy, ray_local, tmp_path):
    p, out = _run(messy, ray_local, tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "part-6.parquet' " in p.stderr and "data.on_bad_file=skip" in p.stderr


def test_bad_rows_are_quarantined_with_their_rule_and_counted(messy, ray_local, tmp_path):
    p, out = _run(messy, ray_local, tmp_path, "data.on_bad_file=skip", check=True)
    prof = json.loads((out / "profile.json").read_text())
    skipped = {f["path"].rsplit("/", 1)[1]: f["reason"] for f in prof["skipped_files"]}
    assert set(skipped) == {"part-4.parquet", "part-6.parquet"}
    assert "'amount' as String where Float64 is expected" in skipped["part-4.parquet"]
    assert [f.rsplit("/", 1)[1] for f in prof["empty_files"]] == ["part-5.parquet"]
    bad = len(NULL_LABEL) + len(BAD_LABEL) + len(NEGATIVE)
    assert prof["rows_in"] == 4 * ROWS
    assert prof["rows_quarantined"] == bad and prof["rows_accepted"] == 4 * ROWS - bad
    assert prof["rules"] == {
        "not_null(label)": len(NULL_LABEL),
        "label_values": len(BAD_LABEL),
        "amount_pos": len(NEGATIVE),
    }
    for key, acc in prof["per_shard"].items():
        assert acc["rows_in"] == acc["rows_accepted"] + acc["rows_quarantined"], key
    assert sum(a["rows_in"] for a in prof["per_shard"].values()) == prof["rows_in"]
    q = pl.read_parquet(out / "quarantine" / "*.parquet")
    assert q.height == bad
    assert dict(q["_quarantine_reason"].value_counts().iter_rows()) == {
        "not_null(label)": len(NULL_LABEL),
        "label_values": len(BAD_LABEL),
        "amount_pos": len(NEGATIVE),
    }
    sample = pl.read_parquet(out / "sample" / "*.parquet")
    assert sample.height == 4000
    assert sample["label"].is_in([0, 1]).all() and (sample["amount"] >= 0).all()
    assert prof["quality_passed"] is True and prof["duplicates"]["rows"] > 0
    assert prof["columns"]["region"]["top"][0][1] > 0 and prof["columns"]["amount"]["distinct"] > 0


def test_strings_in_a_numeric_column_are_parsed_when_allowed(messy, ray_local, tmp_path):
    p, out = _run(
        messy,
        ray_local,
        tmp_path,
        "data.on_bad_file=skip",
        "quality.coerce=[widen,parse]",
        check=True,
    )
    prof = json.loads((out / "profile.json").read_text())
    assert [f["path"].rsplit("/", 1)[1] for f in prof["skipped_files"]] == ["part-6.parquet"]
    assert prof["rows_in"] == 4 * ROWS + 300
    q = pl.read_parquet(out / "quarantine" / "*.parquet")
    assert q.filter(pl.col("_quarantine_reason") == "type(amount)").height == 3
    assert prof["rules"]["type"] == 3


def test_a_failed_gate_stops_before_sampling_or_warns(messy, ray_local, tmp_path):
    gate = "quality.gates.max_quarantine_rate=0.0001"
    p, out = _run(messy, ray_local, tmp_path, "data.on_bad_file=skip", gate)
    assert p.returncode == 3 and "Traceback" not in p.stderr
    assert "data quality gate failed before sampling: max_quarantine_rate" in p.stderr
    assert not (out / "sample").exists()
    assert json.loads((out / "profile.json").read_text())["quality_passed"] is False

    p, out = _run(
        messy, ray_local, tmp_path, "data.on_bad_file=skip", gate, "quality.on_failure=warn"
    )
    assert p.returncode == 0, p.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert "max_quarantine_rate" in run["warnings"][0]
    assert (out / "sample").is_dir()


def test_nan_and_infinities_are_counted_and_imputed_not_fatal(tmp_path):
    """A feature with NaN and +-inf (a ratio divided by zero): the run trains, profile.json counts
    them, its moments are those of the finite values, and every JSON it writes is strict."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = 4000
    x = rng.standard_normal(n)
    x[[5, 50]], x[7], x[[9, 90, 900]] = np.inf, -np.inf, np.nan
    y = (rng.random(n) < 0.1 + 0.3 * (rng.standard_normal(n) > 1)).astype(np.int8)
    pl.DataFrame(
        {"id": np.arange(n), "x": x, "z": rng.standard_normal(n), "label": y}
    ).write_parquet(tmp_path / "d.parquet")
    out = tmp_path / "run"
    p = distml(
        "run", f"data.path={tmp_path / 'd.parquet'}", "cluster.executor=threads",
        f"hydra.run.dir={out}", "model.num_boost_round=10", check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert "'x' (3 nan and 3 infinite)" in p.stderr

    def strict(text: str):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON: {c}"))

    for f in out.glob("*.json"):
        strict(f.read_text())
    col = strict((out / "profile.json").read_text())["columns"]["x"]
    fin = x[np.isfinite(x)]
    assert (col["nan"], col["infinite"], col["nulls"]) == (3, 3, 0)
    assert col["mean"] == pytest.approx(fin.mean()) and col["std"] == pytest.approx(fin.std(ddof=1))
    assert (col["min"], col["max"]) == (fin.min(), fin.max())
    assert "nan" not in strict((out / "profile.json").read_text())["columns"]["z"]
