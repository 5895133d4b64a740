"""Messy client data, end to end: exports that `distml ingest` must read without degrading a type
and columns `distml run` must not turn into features, each checked against the generator's own
truth (values, types, rows), or one paragraph with exit 2/3 and no traceback.

A case with ``ingest`` args is first taken through ``distml ingest source=<files> out=<folder>``
(its own expected exit and phrases, and a check of the Parquet written), then, unless it stops
there, through ``distml run data.path=<folder>``. Run by tests/integration/test_corpus.py.
"""

from __future__ import annotations

import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from tests.corpus.cases import Case, _json, frame, parts, write

N = 2000
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def table(n: int = N, seed: int = 0) -> dict[str, list]:
    """The truth: a fraud-like table whose label depends on amount and age."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(4, 1.2, n), 2)
    age = rng.integers(18, 90, n)
    when = [T0 + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 30, n)]
    logit = -3 + 0.8 * np.log(amount) / 4 + (age < 25) * 1.5
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return {
        "id": list(range(n)),
        "amount": amount.tolist(),
        "customer_age": age.tolist(),
        "event_time": when,
        "label": label.tolist(),
    }


def _lines(rows: list[list[str]], sep: str) -> str:
    return "\n".join(sep.join(r) for r in rows) + "\n"


def _gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()))


def _out(d: Path) -> Path:
    return d.parent / "parquet"


def _read(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "*.parquet")


def _ingest_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "_ingest" / "ingest.json").read_text())


# -- 1. a few broken cells do not degrade a number -----------------------------------------------


def _broken_cells(d: Path) -> dict:
    t = table()
    rows = [["id", "amount", "customer_age", "label"]]
    for i in range(N):
        a = f"{t['amount'][i]:.2f}"
        if i == 7:
            a = f'"{t["amount"][i]:,.2f}"'  # a thousands separator, quoted in a CSV
        if i == 1500:
            a = "12.3.4"  # a broken cell
        rows.append([str(i), a, str(t["customer_age"][i]), str(t["label"][i])])
    _gz(d / "export.csv.gz", _lines(rows, ","))
    return {"source": str(d), "rows": N - 1, "quarantined": 0, "truth": t, "bad_line": 1502}


def _check_broken_cells(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    t = facts["truth"]
    assert df.schema["amount"] == pl.Float64 and df.height == N - 1
    want = [a for i, a in enumerate(t["amount"]) if i != 1500]
    assert df["amount"].to_list() == want  # 1,234.50 read as 1234.5; nothing else changed
    q = pl.read_parquet(out / "_ingest" / "quarantine" / "*.parquet")
    assert q["line"].to_list() == [facts["bad_line"]] and "'12.3.4'" in q["reason"][0]
    rec = _ingest_json(out)
    assert rec["rows"] == {"in": N, "written": N - 1, "quarantined": 1}


def _check_numeric_feature(*cols: str):
    def check(run: Path, facts: dict) -> None:
        spec = _json(run, "preprocessor.json")
        for c in cols:
            assert c in spec["numeric"], (c, list(spec["numeric"]), list(spec["categorical"]))

    return check


# -- 2. a ';' export with decimal commas beside a ',' export with thousands separators ----------


def _two_conventions(d: Path) -> dict:
    t = table()
    us = [["id", "amount", "label"]]
    eu = [["id", "amount", "label"]]
    for i in range(N):
        a = t["amount"][i] * (1000 if i % 50 == 0 else 1)
        if i < N // 2:
            us.append([str(i), f'"{a:,.2f}"', str(t["label"][i])])
        else:
            text = f"{a:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
            eu.append([str(i), text, str(t["label"][i])])
    _gz(d / "us.csv.gz", _lines(us, ","))
    _gz(d / "eu.csv.gz", _lines(eu, ";"))
    truth = [round(t["amount"][i] * (1000 if i % 50 == 0 else 1), 2) for i in range(N)]
    return {"source": str(d), "rows": N, "quarantined": 0, "amounts": truth}


def _check_two_conventions(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    assert df.schema["amount"] == pl.Float64
    assert np.allclose(df["amount"].to_numpy(), facts["amounts"], rtol=0, atol=1e-9)
    files = {Path(f["path"]).name: f for f in _ingest_json(out)["files"]}
    assert files["us.csv.gz"]["delimiter"] == "," and files["us.csv.gz"]["decimal"] == "point"
    assert files["eu.csv.gz"]["delimiter"] == ";" and files["eu.csv.gz"]["decimal"] == "comma"


# -- 3. every ISO 8601 form, one timestamp column ------------------------------------------------


def _iso_forms(d: Path) -> dict:
    t = table()
    a = [["id", "event_time", "label"]]
    b = [["id", "event_time", "label"]]
    for i, ts in enumerate(t["event_time"]):
        if i < N // 2:
            form = [
                ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                ts.astimezone(ZONE).isoformat(),
                ts.strftime("%Y-%m-%dT%H:%M:%S.000+00:00"),
            ][i % 3]
            a.append([str(i), form, str(t["label"][i])])
        else:  # naive, read in ingest.timezone (Europe/Rome)
            local = ts.astimezone(ZONE).replace(tzinfo=None)
            form = [local.strftime("%Y-%m-%d %H:%M:%S"), local.strftime("%Y-%m-%dT%H:%M")][i % 2]
            b.append([str(i), form, str(t["label"][i])])
    _gz(d / "a.csv.gz", _lines(a, ","))
    _gz(d / "b.csv.gz", _lines(b, ","))
    return {"source": str(d), "rows": N, "quarantined": 0, "times": t["event_time"]}


def _zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Rome")


ZONE = _zone()


def _check_iso_forms(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    assert str(df.schema["event_time"]) == "Datetime(time_unit='us', time_zone='UTC')"
    got = df["event_time"].to_list()
    assert got == facts["times"]  # every form the same instant (minutes: no seconds lost)


# -- 4. headers that differ in case and spacing --------------------------------------------------


def _headers(d: Path) -> dict:
    t = table()
    a = [["id", "customer_age", "amount", "label"]]
    b = [["ID", "Customer Age", "Amount ", "LABEL"]]
    for i in range(N):
        row = [str(i), str(t["customer_age"][i]), f"{t['amount'][i]:.2f}", str(t["label"][i])]
        (a if i % 2 else b).append(row)
    _gz(d / "a.csv.gz", _lines(a, ","))
    _gz(d / "b.csv.gz", _lines(b, ","))
    return {"source": str(d), "rows": N, "quarantined": 0, "ages": t["customer_age"]}


def _check_headers(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    assert df.columns == ["id", "customer_age", "amount", "label"]
    assert df["customer_age"].to_list() == facts["ages"] and df["customer_age"].null_count() == 0
    cols = {c["name"]: c for c in _ingest_json(out)["columns"]}
    assert cols["customer_age"]["spellings"] == {"customer_age": 1, "Customer Age": 1}


def _ambiguous_headers(d: Path) -> dict:
    _gz(d / "a.csv.gz", "id,customer_age,Customer Age,label\n1,30,31,0\n2,40,41,1\n")
    return {"source": str(d)}


# -- 5. delimiters -------------------------------------------------------------------------------


def _semicolons(d: Path) -> dict:
    t = table()
    rows = [["id", "amount", "label"]] + [
        [str(i), f"{t['amount'][i]:.2f}".replace(".", ","), str(t["label"][i])] for i in range(N)
    ]
    _gz(d / "export.csv.gz", _lines(rows, ";"))
    return {"source": str(d), "rows": N, "quarantined": 0, "amounts": t["amount"]}


def _check_semicolons(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    assert df.height == N and df["amount"].to_list() == facts["amounts"]


def _no_line_fits(d: Path) -> dict:
    (d).mkdir(parents=True, exist_ok=True)
    (d / "x.csv").write_text("a;b;c\n1;2\n3;4\n")
    return {"source": str(d)}


# -- 6. NDJSON keeps JSON's types ----------------------------------------------------------------


def _ndjson(d: Path) -> dict:
    t = table()
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    zips = [f"{(i % 300) * 331 % 100000:05d}" for i in range(N)]
    for i in range(N):
        amount: Any = t["amount"][i]
        if i == 11:
            amount = "12.5"  # a number written as a string: parsed
        if i == 12:
            amount = "oops"  # a broken cell
        lines.append(
            json.dumps(
                {"id": i, "zip": zips[i], "amount": amount, "label": t["label"][i]},
            )
        )
    (d / "events.jsonl").write_text("\n".join(lines) + "\n")
    return {"source": str(d), "rows": N - 1, "quarantined": 0, "zips": zips, "truth": t}


def _check_ndjson(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    assert df.schema["zip"] == pl.String and df.schema["amount"] == pl.Float64
    keep = [i for i in range(N) if i != 12]
    assert df["zip"].to_list() == [facts["zips"][i] for i in keep]  # leading zeros kept
    want = [12.5 if i == 11 else facts["truth"]["amount"][i] for i in keep]
    assert df["amount"].to_list() == want


def _zip_codes_csv(d: Path) -> dict:
    t = table()
    zips = [f"{(i % 300) * 331 % 100000:05d}" for i in range(N)]
    rows = [["id", "zip", "label"]] + [[str(i), zips[i], str(t["label"][i])] for i in range(N)]
    _gz(d / "z.csv.gz", _lines(rows, ","))
    return {"source": str(d), "rows": N, "quarantined": 0, "zips": zips}


def _check_zip_codes(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    assert df.schema["zip"] == pl.String and df["zip"].to_list() == facts["zips"]
    notes = " ".join(_ingest_json(out)["notes"])
    assert "'zip' kept as text" in notes and "start with 0" in notes


def _null_markers(d: Path) -> dict:
    t = table()
    rows = [["id", "amount", "label"]]
    for i in range(N):
        a = ["NaN", "None", "#N/A", "n/a"][i % 4] if i % 10 == 0 else f"{t['amount'][i]:.2f}"
        rows.append([str(i), a, str(t["label"][i])])
    _gz(d / "m.csv.gz", _lines(rows, ","))
    return {"source": str(d), "rows": N, "quarantined": 0}


def _check_null_markers(out: Path, facts: dict) -> None:
    df = _read(out)
    assert df.schema["amount"] == pl.Float64 and df["amount"].null_count() == N // 10
    assert _ingest_json(out)["rows"]["quarantined"] == 0


def _money_and_codes(d: Path) -> dict:
    t = table()
    rows = [["id", "amount", "share", "country", "label"]]
    countries = ["NA", "DE", "FR", "None"]  # Namibia, and a country code that is a marker
    for i in range(N):
        amount = f"${t['amount'][i]:,.2f}" if i % 2 else f"{t['amount'][i]:.2f} €"
        share = f"{(i % 100) / 10:.1f}%"
        rows.append([str(i), f'"{amount}"', share, countries[i % 4], str(t["label"][i])])
    _gz(d / "m.csv.gz", _lines(rows, ","))
    return {"source": str(d), "rows": N, "quarantined": 0, "truth": t}


def _check_money_and_codes(out: Path, facts: dict) -> None:
    df = _read(out).sort("id")
    assert df["amount"].to_list() == facts["truth"]["amount"]
    assert np.allclose(df["share"].to_numpy(), [(i % 100) / 1000 for i in range(N)])
    assert df["country"].to_list() == [["NA", "DE", "FR", "None"][i % 4] for i in range(N)]
    notes = " ".join(_ingest_json(out)["notes"])
    assert "'country' is text and keeps" in notes and "'NA'" in notes


# -- 7. ids of any width, identifiers and free text left out -------------------------------------


def _ids_and_text(d: Path) -> dict:
    df = frame(3000)
    rng = np.random.default_rng(4)
    words = np.array(["late", "order", "refund", "card", "please", "again", "shipping", "item"])
    note = [" ".join(rng.choice(words, 6)) + f" #{i}" for i in range(df.height)]
    df = df.with_columns(
        pl.Series("txn_id", [f"T{rng.integers(1e9):09d}{i}" for i in range(df.height)]),
        pl.Series("note", note),
        pl.Series("seq", np.arange(df.height) + 5000),
        pl.lit(7).alias("constant"),
        pl.lit(None, dtype=pl.Float64).alias("empty"),
    )
    parts(df, d, 2)
    return {"path": str(d), "rows": df.height, "quarantined": 0}


def _check_left_out(run: Path, facts: dict) -> None:
    left = _json(run, "profile.json")["features"]["left_out"]
    assert left["txn_id"].startswith("identifier-like") and "distinct strings" in left["txn_id"]
    assert left["note"].startswith("free text"), left["note"]
    assert left["seq"].startswith("identifier-like") and "a sequence" in left["seq"]
    assert left["constant"].startswith("constant") and left["empty"].startswith("all null")
    decisions = {d["what"]: d for d in _json(run, "run.json")["decisions"]}
    assert decisions["column 'txn_id'"]["undo"] == "data.include=[txn_id] keeps it"


def _uint64_ids(d: Path) -> dict:
    df = frame(3000)
    rng = np.random.default_rng(8)
    big = rng.integers(0, 2**63, df.height, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    df = df.with_columns(
        pl.Series("id", big, dtype=pl.UInt64), pl.Series("hash_key", big, dtype=pl.UInt64)
    )
    parts(df, d, 3)
    return {"path": str(d), "rows": df.height, "quarantined": 0, "ids": big}


def _check_uint64(run: Path, facts: dict) -> None:
    sample = pl.read_parquet(run / "sample" / "*.parquet")
    assert sample["id"].dtype == pl.UInt64 and sorted(sample["id"].to_list()) == sorted(
        int(x) for x in facts["ids"]
    )
    left = _json(run, "profile.json")["features"]["left_out"]
    assert "hash-like magnitudes" in left["hash_key"]


def _string_and_binary_ids(kind: str):
    def make(d: Path) -> dict:
        df = frame(3000)
        ids = [f"cust-{i:06d}" for i in range(df.height)]
        col = pl.Series("cid", ids if kind == "string" else [s.encode() for s in ids])
        parts(df.drop("id").with_columns(col), d, 2)
        return {"path": str(d), "rows": df.height, "quarantined": 0}

    return make


def _check_every_row_sampled(run: Path, facts: dict) -> None:
    rep = _json(run, "sampling_report.json")
    assert rep["sample_rows"] == facts["rows"]


# -- 8. numbers at any finite scale; strict JSON -------------------------------------------------


def _huge(d: Path) -> dict:
    df = frame(3000)
    rng = np.random.default_rng(2)
    df = df.with_columns(
        (pl.Series(rng.normal(size=df.height)) * 1e200 + 3e200).alias("huge"),
        (pl.Series(rng.normal(size=df.height)) * 1e-200).alias("tiny"),
        pl.lit(3.3).alias("flat"),
    )
    parts(df, d, 2)
    return {"path": str(d), "rows": df.height, "quarantined": 0}


def _strict(text: str) -> Any:
    def no(c: str) -> Any:
        raise ValueError(f"non-standard JSON literal {c}")

    return json.loads(text, parse_constant=no)


def _check_scale(run: Path, facts: dict) -> None:
    for p in run.rglob("*.json"):  # every artifact is standard JSON
        _strict(p.read_text())
    spec = _json(run, "preprocessor.json")
    huge = spec["numeric"]["huge"]
    assert math.isfinite(huge["std"]) and 0.9e200 < huge["std"] < 1.1e200
    flat = spec["numeric"]["flat"]
    assert flat["std"] == 0 and flat["median"] == 3.3 == flat["mean"]
    feats = pl.read_parquet(run / "features" / "train" / "*.parquet")
    for c in ("huge", "tiny"):
        x = feats[c].to_numpy()
        assert np.isfinite(x).all() and np.unique(x).size > 1000, c  # not lost to inf or 0
    assert (feats["flat"] == 0).all()  # a constant scales to 0
    prof = _json(run, "profile.json")["columns"]["flat"]
    assert prof["min"] <= prof["quantiles"]["p50"] <= prof["max"]


# -- 9. nested columns whose fields differ -------------------------------------------------------


def _structs(conflict: bool):
    def make(d: Path) -> dict:
        df = frame(3000)
        a = df[:1500].to_arrow().append_column("meta", pa.array([{"a": 1}] * 1500))
        second = {"a": "x", "b": 2} if conflict else {"a": 2, "b": "x"}
        b = df[1500:].to_arrow().append_column("meta", pa.array([second] * 1500))
        write(a, d / "a.parquet")
        write(b, d / "b.parquet")
        return {"path": str(d), "rows": df.height, "quarantined": 0}

    return make


def _check_structs(run: Path, facts: dict) -> None:
    s = pl.read_parquet(run / "sample" / "*.parquet").sort("id")
    assert s["meta"].struct.field("a").to_list()[:1] == [1]
    assert s["meta"].struct.field("b").to_list()[-1] == "x"
    assert s["meta"].struct.field("b").to_list()[0] is None  # a field a file lacks is null


def _check_struct_left_out(run: Path, facts: dict) -> None:
    prof = _json(run, "profile.json")
    assert "meta" not in prof["schema"]["types"]
    assert "left out" in prof["features"]["left_out"]["meta"]


# -- 10. Parquet strings that hold numbers, leakage, high cardinality ----------------------------


def _parquet_strings(d: Path) -> dict:
    df = frame(3000)
    x = [f"{v:.4f}" for v in df["x"].to_list()]
    x[3] = "1,234.5000"
    x[4] = "bad value"
    df = df.with_columns(pl.Series("x", x))
    parts(df, d, 2)
    return {"path": str(d), "rows": df.height, "quarantined": 1}


def _check_parquet_strings(run: Path, facts: dict) -> None:
    prof = _json(run, "profile.json")
    assert prof["schema"]["types"]["x"] == "Float64" and prof["schema"]["inferred"]["x"]
    q = pl.read_parquet(run / "quarantine" / "*.parquet")
    assert q["id"].to_list() == [4]
    _check_numeric_feature("x")(run, facts)


def _leaky(d: Path) -> dict:
    df = frame(3000)
    rng = np.random.default_rng(1)
    leak = df["label"].to_numpy() * 10 + rng.normal(0, 0.5, df.height)
    parts(df.with_columns(pl.Series("chargeback_amount", leak)), d, 2)
    return {"path": str(d), "rows": df.height, "quarantined": 0}


def _check_leak(run: Path, facts: dict) -> None:
    warnings = " ".join(_json(run, "run.json")["warnings"])
    assert "possible leakage: column 'chargeback_amount'" in warnings
    assert "'x'" not in warnings.split("possible leakage")[1]  # a real signal is not flagged


def _high_cardinality(d: Path) -> dict:
    df = frame(3000)
    rng = np.random.default_rng(3)
    shop = [f"shop{int(v)}" for v in rng.integers(0, 1200, df.height)]
    parts(df.with_columns(pl.Series("shop", shop)), d, 2)
    return {"path": str(d), "rows": df.height, "quarantined": 0}


def _check_high_cardinality(run: Path, facts: dict) -> None:
    warnings = " ".join(_json(run, "run.json")["warnings"])
    assert "column 'shop'" in warnings and "share one code" in warnings


def _parquet_headers(d: Path) -> dict:
    df = frame(3000)
    write(df[:1000].rename({"k": "Item Count", "c": "CHANNEL"}), d / "a.parquet")
    write(df[1000:].rename({"k": "item_count", "c": "channel"}), d / "b.parquet")
    write(df[2000:].rename({"k": "item_count", "c": "channel"}), d / "c.parquet")
    return {"path": str(d), "rows": 4000, "quarantined": 0}


def _check_parquet_headers(run: Path, facts: dict) -> None:
    prof = _json(run, "profile.json")
    assert prof["columns"]["item_count"]["nulls"] == 0 and "Item Count" not in prof["columns"]
    assert prof["schema"]["spellings"]["item_count"] == {"Item Count": 1, "item_count": 2}
    whats = [d["what"] for d in _json(run, "run.json")["decisions"]]
    assert "columns 'Item Count' and 'item_count'" in whats


def _parquet_ambiguous(d: Path) -> dict:
    write(frame(3000).with_columns(pl.col("k").alias("K")), d / "a.parquet")
    return {"path": str(d), "rows": 3000, "quarantined": 0}


def _reserved_both(d: Path) -> dict:
    df = frame()
    parts(df.with_columns(pl.lit("a").alias("split"), pl.lit(1.0).alias("weight")), d, 2)
    return {"path": str(d)}


def _plain(d: Path) -> dict:
    parts(frame(3000), d, 2)
    return {"path": str(d), "rows": 3000, "quarantined": 0}


FE = ["x", "k", "c"]

MESSY = [
    Case(
        "a thousands separator and a broken cell in a number column",
        "messy",
        _broken_cells,
        ingest=[],
        ingest_says=("column 'amount' is float", "'12.3.4'"),
        ingest_check=_check_broken_cells,
        features=["amount", "customer_age"],
        check=_check_numeric_feature("amount", "customer_age"),
    ),
    Case(
        "a ',' export with thousands separators and a ';' export with decimal commas",
        "messy",
        _two_conventions,
        ingest=[],
        ingest_check=_check_two_conventions,
        features=["amount"],
        check=_check_numeric_feature("amount"),
    ),
    Case(
        "ISO 8601 with Z, offsets, fractions, naive, space and no seconds",
        "messy",
        _iso_forms,
        ingest=["ingest.timezone=Europe/Rome"],
        ingest_check=_check_iso_forms,
        features=["event_time"],
    ),
    Case(
        "headers that differ in case and spacing across files",
        "messy",
        _headers,
        ingest=[],
        ingest_check=_check_headers,
        features=["customer_age", "amount"],
    ),
    Case(
        "two spellings of one header in one file",
        "messy",
        _ambiguous_headers,
        ingest=[],
        ingest_exit=2,
        ingest_says=("'customer_age' and 'Customer Age'", "ingest.match_names=exact"),
    ),
    Case(
        "a ';' export with default options",
        "messy",
        _semicolons,
        ingest=[],
        ingest_check=_check_semicolons,
        features=["amount"],
    ),
    Case(
        "a ';' export read with ingest.delimiter=','",
        "messy",
        _semicolons,
        ingest=["ingest.delimiter=','"],
        ingest_exit=2,
        ingest_says=("is one field when split by ','", "ingest.delimiter=';'"),
    ),
    Case(
        "a file where no line has the header's field count",
        "messy",
        _no_line_fits,
        ingest=[],
        ingest_exit=2,
        ingest_says=("No line of", "as many fields as its header", "ingest.column_names"),
    ),
    Case(
        "NDJSON: zip codes as strings, a number as a string, a broken cell",
        "messy",
        _ndjson,
        ingest=[],
        ingest_check=_check_ndjson,
        features=["zip", "amount"],
    ),
    Case(
        "CSV zip codes with leading zeros",
        "messy",
        _zip_codes_csv,
        ingest=[],
        ingest_check=_check_zip_codes,
        features=["zip"],
    ),
    Case(
        "null markers NaN, None, #N/A, n/a in a number column",
        "messy",
        _null_markers,
        ingest=[],
        ingest_check=_check_null_markers,
        features=["amount"],
    ),
    Case(
        "currency signs, percentages and 'NA' as a country code",
        "messy",
        _money_and_codes,
        ingest=[],
        ingest_check=_check_money_and_codes,
        features=["amount", "share", "country"],
        check=_check_numeric_feature("amount", "share"),
    ),
    Case(
        "an id, free text, a sequence, a constant and an empty column",
        "messy",
        _ids_and_text,
        features=FE,
        check=_check_left_out,
    ),
    Case(
        "the same, kept with data.include",
        "messy",
        _ids_and_text,
        args=["data.include=[txn_id,seq]"],
        features=[*FE, "txn_id", "seq"],
    ),
    Case("uint64 ids", "messy", _uint64_ids, features=FE, check=_check_uint64),
    Case(
        "string ids",
        "messy",
        _string_and_binary_ids("string"),
        args=["data.id_column=cid"],
        features=FE,
        check=_check_every_row_sampled,
    ),
    Case(
        "binary ids",
        "messy",
        _string_and_binary_ids("binary"),
        args=["data.id_column=cid"],
        features=FE,
        check=_check_every_row_sampled,
    ),
    Case(
        "values near 1e200 and 1e-200, and a constant kept and scaled",
        "messy",
        _huge,
        args=["+preprocess.columns.flat={scale: standard}", "data.include=[flat]"],
        features=[*FE, "huge", "tiny", "flat"],
        check=_check_scale,
    ),
    Case(
        "struct fields that differ between files",
        "messy",
        _structs(conflict=False),
        features=FE,
        check=_check_structs,
    ),
    Case(
        "struct fields of conflicting types, never a feature",
        "messy",
        _structs(conflict=True),
        features=FE,
        check=_check_struct_left_out,
    ),
    Case(
        "a Parquet string column of numbers with a broken cell",
        "messy",
        _parquet_strings,
        features=FE,
        check=_check_parquet_strings,
    ),
    Case(
        "a column that leaks the label",
        "messy",
        _leaky,
        features=[*FE, "chargeback_amount"],
        check=_check_leak,
    ),
    Case(
        "a high-cardinality categorical",
        "messy",
        _high_cardinality,
        features=[*FE, "shop"],
        check=_check_high_cardinality,
    ),
    Case(
        "Parquet headers that differ in case and spacing across files",
        "messy",
        _parquet_headers,
        features=["x", "item_count", "channel"],
        check=_check_parquet_headers,
    ),
    Case(
        "two spellings of one Parquet column in one file",
        "messy",
        _parquet_ambiguous,
        exit=2,
        says=("has the columns 'k' and 'K'", "quality.match_names=exact"),
    ),
    Case(
        "the same, names matched exactly",
        "messy",
        _parquet_ambiguous,
        args=["quality.match_names=exact"],
        features=[*FE, "K"],
    ),
    Case(
        "columns named split and weight",
        "messy",
        _reserved_both,
        exit=2,
        says=("'split' (the name", "'weight' (the name", "data.weight_column=weight"),
    ),
    Case(
        "a data.path with '=' unquoted",
        "messy",
        _plain,
        args=["data.path=/tmp/dt=2024-01-01"],
        exit=2,
        says=("Hydra cannot read the override 'data.path=/tmp/dt=2024-01-01'", "\"data.path='"),
    ),
    Case(
        "a derived feature with a SQL function unquoted",
        "messy",
        _plain,
        args=['+preprocess.derived.z=COALESCE(x, "k")'],
        exit=2,
        says=("Unknown function 'COALESCE'", "quote the value for Hydra and the whole for your"),
    ),
    Case(
        "experiment=rare_positives on your own data",
        "messy",
        _plain,
        args=["experiment=rare_positives"],
        features=FE,
    ),
]
