"""distml serve on a real Ray Serve deployment on the session's Ray, over HTTP on loopback.

The served model is a promoted model directory (models/v0001, models/current) made from the
session's trained run by ``distml.registry.promote`` (what ``distml retrain`` calls), with two row
rules added to its saved config, so the contract has a column rule and a SQL rule to break.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
import yaml

from distml.config import ServeConfig, ServeSettings
from tests.integration.conftest import distml

RULES = {"amount_cap": {"column": "amount", "max": 400.0}, "items_ok": {"expr": "n_items <= 8"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _promote(run_dir: Path, models: Path, threshold: float | None = None) -> Path:
    """The next models/vNNNN from the run (as distml retrain promotes), with RULES in its config
    and, when given, another decision threshold."""
    from distml import registry

    target = Path(registry.promote(str(run_dir), str(models), {"source_run": str(run_dir)}))
    cfg = yaml.safe_load((target / "config.yaml").read_text())
    cfg.setdefault("quality", {})["rules"] = RULES
    (target / "config.yaml").write_text(yaml.safe_dump(cfg))
    if threshold is not None:
        th = json.loads((target / "threshold.json").read_text())
        (target / "threshold.json").write_text(json.dumps({**th, "value": threshold}))
    return target


@pytest.fixture(scope="module")
def models(run_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    _promote(run_dir, root)
    return root


@pytest.fixture(scope="module")
def port() -> int:
    return _free_port()


def _settings(model_run: str, port: int, **serve) -> ServeSettings:
    cfg = ServeConfig(port=port, replica_cpus=0.25, **serve)
    return ServeSettings(model_run=model_run, serve=cfg)


@pytest.fixture(scope="module")
def app(models, port, ray_local):
    """The application serving models/current, following it every 0.2 s, at /m/."""
    from ray import serve

    from distml.serve.deployment import deploy

    s = _settings(
        str(models / "current"), port, route_prefix="/m", follow_s=0.2, max_request_rows=2000
    )
    url = deploy(s, None)
    yield url
    serve.shutdown()  # the session's Ray gets its CPUs back


def _post(url: str, body: bytes, ctype: str = "application/json", accept: str = "") -> tuple:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body.startswith(b"{") else {"text": body.decode()}


def _rows(small_data: str, n: int) -> pl.DataFrame:
    files = sorted(f for f in os.listdir(small_data) if f.endswith(".parquet"))
    return pl.read_parquet(os.path.join(small_data, files[1])).head(n)


def _json_rows(df: pl.DataFrame) -> list[dict]:
    return json.loads(df.write_json())  # timestamps as ISO text, as a client sends them


@pytest.fixture(scope="module")
def row(small_data) -> dict:
    """One full row of the training data as a client sends it (no label)."""
    return _json_rows(_rows(small_data, 1).drop("label"))[0]


@pytest.fixture(scope="module")
def predicted(models, small_data, ray_local, tmp_path_factory):
    """400 rows and what `distml predict` made of them with models/v0001."""
    d = tmp_path_factory.mktemp("served_rows")
    df = _rows(small_data, 400)
    df.write_parquet(d / "rows.parquet")
    out = d / "p"
    address = ray_local.get_runtime_context().gcs_address
    distml(
        "predict",
        f"model_run={models / 'v0001'}",
        f"data.path={d / 'rows.parquet'}",
        f"cluster.address={address}",
        f"hydra.run.dir={out}",
    )
    pred = pl.read_parquet(out / "predictions" / "*.parquet")
    quarantined = pl.read_parquet(out / "quarantine" / "*.parquet")
    return df, pred, quarantined


def test_served_scores_equal_predict_scores_exactly_json_and_arrow(app, predicted):
    df, pred, quarantined = predicted
    assert pred.height > 300 and quarantined.height > 0  # both kinds of rows are in the test
    rows = _json_rows(df)
    chunks = [rows[i : i + 25] for i in range(0, len(rows), 25)]
    with ThreadPoolExecutor(16) as ex:  # concurrent requests: batched together on the replica
        answers = list(ex.map(lambda c: _post(app + "predict", json.dumps(c).encode()), chunks))
    assert all(st == 200 for st, _, _ in answers)
    assert answers[0][2].get("x-distml-ignored-columns") == "label"
    served = [a for _, body, _ in answers for a in json.loads(body)]
    assert len(served) == df.height
    want = {r["id"]: r for r in pred.iter_rows(named=True)}
    scored = [a for a in served if a["score"] is not None]
    assert {a["id"] for a in scored} == set(want)
    for a in scored:
        assert a["score"] == want[a["id"]]["score"]  # exact: the same scoring path
        assert a["prediction"] == want[a["id"]]["prediction"]
        assert a["model_version"] == "v0001"
    errors = {a["id"]: a for a in served if a.get("error")}
    assert set(errors) == set(quarantined["id"].to_list())
    for i, reason in zip(quarantined["id"], quarantined["_quarantine_reason"], strict=True):
        assert sorted(errors[i]["rules"]) == sorted(reason.split("; "))

    # the same rows as one Arrow IPC body, answered in Arrow
    buf = io.BytesIO()
    table = df.to_arrow()
    with pa.ipc.new_stream(buf, table.schema) as w:
        w.write_table(table)
    arrow = "application/vnd.apache.arrow.stream"
    st, body, headers = _post(app + "predict", buf.getvalue(), arrow, accept=arrow)
    assert st == 200 and headers["content-type"] == arrow
    back = pl.from_arrow(pa.ipc.open_stream(body).read_all())
    got = back.filter(pl.col("score").is_not_null())
    joined = got.join(pred, on="id", suffix="_p")
    assert joined.height == pred.height
    assert (joined["score"] == joined["score_p"]).all()
    assert (joined["prediction"] == joined["prediction_p"]).all()


def test_each_row_that_breaks_the_contract_gets_its_own_error(app, row):
    ok = {**row, "id": 1, "amount": 10.0, "n_items": 2}
    lacking = {k: v for k, v in ok.items() if k not in ("num_03", "region")}
    rows = [
        ok,
        {**ok, "id": 2, "amount": 1e6},  # breaks amount_cap
        {**ok, "id": 3, "n_items": 50},  # breaks items_ok (a SQL rule)
        {**ok, "id": 4, "num_00": "abc"},  # not a number
        {**ok, "id": 5, "n_items": 2.5},  # not an integer
        {**ok, "id": 6, "amount": {"v": 1}},  # an object is not a value
        {**ok, "id": 7, "amount": "10", "n_items": "2", "event_time": "2024-05-01T10:00:00"},
        {**lacking, "id": 8},  # two columns absent (not null): missing
        {**ok, "id": 9, "n_items": 2.0},  # JSON has numbers: 2.0 is the integer 2
        {**ok, "id": 10, "region": ["a"]},  # a list is not a value either
        {**ok, "id": 11, "num_00": None, "region": None},  # nulls are values: imputed
    ]
    st, body, _ = _post(app + "predict", json.dumps(rows).encode())
    assert st == 200, body
    out = {a["id"]: a for a in json.loads(body)}
    for i in (1, 7, 9, 11):
        assert out[i]["score"] is not None and out[i]["error"] is None, out[i]
    for i in (2, 3, 4, 5, 6, 8, 10):
        assert out[i]["score"] is None and out[i]["prediction"] is None, out[i]
    assert out[9]["score"] == out[1]["score"]
    assert out[2]["rules"] == ["amount_cap"] and "'amount_cap' on amount" in out[2]["error"]
    assert out[3]["rules"] == ["items_ok"] and "'items_ok' on n_items" in out[3]["error"]
    assert out[4]["rules"] == ["type(num_00)"]
    assert "column 'num_00': 'abc' is not a number" in out[4]["error"]
    assert out[5]["rules"] == ["type(n_items)"] and "'2.5' is not an integer" in out[5]["error"]
    assert out[6]["rules"] == ["type(amount)"] and "'{\"v\": 1}'" in out[6]["error"]
    assert out[8]["rules"] == ["missing(num_03)", "missing(region)"]
    assert out[10]["rules"] == ["type(region)"] and """'["a"]'""" in out[10]["error"]
    assert all(a["model_version"] == "v0001" for a in out.values())
    # text that parses as the column's type scores exactly as the typed value does
    typed = {**ok, "id": 12, "event_time": "2024-05-01T10:00:00"}
    st, body, _ = _post(app + "predict", json.dumps([typed]).encode())
    assert json.loads(body)[0]["score"] == out[7]["score"]
    # the same instant written with Z, with an offset, and naive (read in quality.timezone=UTC)
    times = ["2024-05-01T10:00:00Z", "2024-05-01T12:00:00+02:00", "2024-05-01 10:00:00"]
    same = [{**typed, "id": 20 + k, "event_time": t} for k, t in enumerate(times)]
    st, body, _ = _post(app + "predict", json.dumps(same).encode())
    assert [a["score"] for a in json.loads(body)] == [out[7]["score"]] * 3, body


def test_json_values_are_read_as_the_training_types(models, small_data):
    """A float32 training column is read as float32 (as predict reads it from the files), so the
    shortest text of a float32 value is that value; integral floats are integers."""
    from distml.serve.model import load_served
    from distml.serve.rows import read_json_rows

    served = load_served(str(models / "v0001"))
    files = sorted(Path(small_data).glob("*.parquet"))
    schema = pl.read_parquet_schema(files[0])
    assert served.types["num_00"] == schema["num_00"] == pl.Float32
    assert served.types["n_items"] == schema["n_items"] and "label" not in served.types
    df = _rows(small_data, 200).drop("label")
    frame, unknown = read_json_rows(df.write_json().encode(), served, 10**6)
    assert unknown == [] and frame["__missing"].null_count() == frame.height
    for c in ("num_00", "num_05", "amount", "n_items", "region", "is_weekend_promo"):
        assert frame[c].cast(df[c].dtype).equals(df[c], null_equal=True), c


def test_answers_keep_the_request_order_and_name_a_rows_first_bad_column(models, small_data):
    """Answers go back to requests by position: rejected rows before, between and after scored
    ones keep their places, and each scored row's answer is the score of that row alone. A row
    with several bad values is named by its first bad column in the training schema's order."""
    from distml.serve.answers import score_rows
    from distml.serve.model import load_served
    from distml.serve.rows import read_json_rows

    served = load_served(str(models / "v0001"))
    good = _json_rows(_rows(small_data, 6).drop("label"))
    bad_cols = [c for c in served.types if c in ("num_00", "num_03", "n_items")]
    assert len(bad_cols) == 3
    twice = {**good[0], **{c: "not a number" for c in reversed(bad_cols)}}
    rows = [
        {**twice, "id": 100},
        {**good[1], "id": 101},
        {**good[2], "id": 102, "amount": 1e6},  # breaks amount_cap
        {**good[3], "id": 103},
        {**good[4], "id": 104},
        {**twice, "id": 105},
        {**good[5], "id": 106},
    ]
    frame, _ = read_json_rows(json.dumps(rows).encode(), served, 10**6)
    answers, _ = score_rows(served, frame)
    assert answers["id"].to_list() == [r["id"] for r in rows]
    first = bad_cols[0]  # independent of the order the request's keys come in
    for i in (0, 5):
        assert answers["rules"][i].to_list() == [f"type({first})"], answers.row(i, named=True)
    assert answers["rules"][2].to_list() == ["amount_cap"]
    for i in (1, 3, 4, 6):
        alone, _ = score_rows(served, read_json_rows(json.dumps([rows[i]]).encode(), served, 10)[0])
        assert answers["score"][i] == alone["score"][0] and answers["error"][i] is None


@pytest.mark.parametrize(
    ("body", "ctype", "status", "words"),
    [
        (b"[{", "application/json", 400, "not valid JSON"),
        (
            b'[{"amount": 1, "region": "n", "amount": 2}]',
            "application/json",
            400,
            "names the key 'amount' twice",
        ),
        (b"[{", "text/plain", 400, "not valid JSON"),  # read as JSON: what clients send unsaid
        (b"5", "application/json", 400, "a JSON list of row objects"),
        (b"[1, {}]", "application/json", 400, "Row 0 is int"),
        (b"a,b\n1,2", "text/csv", 415, "Content-Type 'text/csv'"),
        (b"not arrow", "application/vnd.apache.arrow.stream", 400, "not an Arrow IPC"),
        (json.dumps([{}] * 2001).encode(), "application/json", 413, "serve.max_request_rows"),
        (b'[{"amount": NaN}]', "application/json", 400, "NaN, which is not JSON"),
        (b'[{"amount": 1e400}]', "application/json", 400, "too large"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400, "nested too deeply"),
    ],
)
def test_a_malformed_request_is_a_4xx_with_one_message(app, body, ctype, status, words):
    st, out, _ = _post(app + "predict", body, ctype)
    msg = json.loads(out)
    assert st == status and words in msg["error"], msg
    assert "Traceback" not in msg["error"] and "\n" not in msg["error"]


def test_routes_methods_and_arrow_types(app, row):
    assert _get(app + "nope")[0] == 404
    st, msg = _get(app + "predict")
    assert st == 405 and "takes POST" in msg["error"]
    st, body, _ = _post(app + "predict", b"[]")
    assert st == 200 and json.loads(body) == []
    st, body, _ = _post(app + "predict", json.dumps(row).encode())  # one row on its own
    assert st == 200 and json.loads(body)[0]["score"] is not None
    st, body, headers = _post(app + "predict", json.dumps([{**row, "π\n": 1}]).encode())
    assert st == 200 and headers["x-distml-ignored-columns"] == "%CF%80%0A"
    st, _, _ = _post(app + "predict", json.dumps(row).encode(), "Application/JSON; charset=utf-8")
    assert st == 200
    buf = io.BytesIO()
    t = pa.table({"amount": pa.array([[1.0]], pa.list_(pa.float64()))})
    with pa.ipc.new_stream(buf, t.schema) as w:
        w.write_table(t)
    st, out, _ = _post(app + "predict", buf.getvalue(), "application/vnd.apache.arrow.stream")
    assert st == 400 and "The Arrow body lacks the columns" in json.loads(out)["error"]
    full = pl.DataFrame([row]).to_arrow()
    for bad, words in (
        (full.append_column("amount", pa.array([1.0])), "more than once"),
        (
            full.set_column(full.column_names.index("region"), "region", pa.array([["a"]])),
            "The column 'region' is list<item: string>",
        ),
    ):
        buf = io.BytesIO()
        with pa.ipc.new_stream(buf, bad.schema) as w:
            w.write_table(bad)
        st, out, _ = _post(app + "predict", buf.getvalue(), "application/vnd.apache.arrow.stream")
        assert st == 400 and words in json.loads(out)["error"], out


def test_model_and_healthz_describe_what_is_served(app, models):
    v1 = models / "v0001"
    st, info = _get(app + "model")
    assert st == 200
    h = hashlib.sha256()
    for f in ("model.ubj", "preprocessor.json", "threshold.json"):
        h.update((v1 / f).read_bytes())
    assert info["version"] == "v0001" and info["fingerprint"] == h.hexdigest()[:16]
    assert info["threshold"] == json.loads((v1 / "threshold.json").read_text())["value"]
    spec = json.loads((v1 / "preprocessor.json").read_text())
    expected = {*spec["numeric"], *spec["categorical"], *spec["datetime"], "amount", "n_items"}
    assert set(info["features"]) == expected
    assert info["rules"] == ["amount_cap", "items_ok"] and info["task"] == "binary"
    st, health = _get(app + "healthz")
    assert st == 200 and health["status"] == "ok" and health["model_version"] == "v0001"


def test_a_promotion_and_a_rollback_are_swapped_in_under_load_with_no_failed_request(
    app, models, run_dir, small_data, tmp_path
):
    rows = json.dumps(_json_rows(_rows(small_data, 20).drop("label"))).encode()
    seen: list[list[tuple[float, str, list]]] = [[] for _ in range(8)]
    failures: list[str] = []
    stop = threading.Event()

    def client(k: int) -> None:
        while not stop.is_set():
            try:
                st, body, _ = _post(app + "predict", rows)
            except Exception as exc:  # a dropped connection counts as a failure too
                failures.append(repr(exc))
                continue
            if st != 200:
                failures.append(f"{st} {body[:200]!r}")
                continue
            out = json.loads(body)
            versions = {a["model_version"] for a in out}
            assert len(versions) == 1  # a request is scored by one model
            seen[k].append((time.monotonic(), versions.pop(), out))

    def served(version: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(s and s[-1][1] == version for s in seen):
            time.sleep(0.2)
        time.sleep(2.0)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    _promote(run_dir, models, threshold=0.999)  # v0002: current moves, as retrain does it
    served("v0002")
    # the promotion turns out wrong: the command line puts v0001 back, clients still sending
    p = distml(
        "rollback",
        f"retrain.models_dir={models}",
        "reason=threshold too high",
        f"hydra.run.dir={tmp_path / 'rollback'}",
    )
    assert "v0001 is current again (was v0002)" in p.stdout
    served("v0001")
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    versions = [v for s in seen for _, v, _ in s]
    assert versions.count("v0001") > 10 and versions.count("v0002") > 10
    for s in seen:  # every client moved from the old model to the new and back, once each
        vs = [v for _, v, _ in s]
        changes = [b for a, b in zip(vs, vs[1:], strict=False) if a != b]
        assert changes == ["v0002", "v0001"], changes
    for _, v, out in (x for s in seen for x in s):
        th = 0.999 if v == "v0002" else None
        for a in out:
            if th is not None and a.get("score") is not None:
                assert a["prediction"] == int(a["score"] >= th)
    assert _get(app + "model")[1]["version"] == "v0001"
    assert _get(app + "healthz")[1]["model_swaps"] == 2
    hist = [json.loads(x) for x in (models / "history.jsonl").read_text().splitlines()]
    moves = [(h["action"], h["version"], h["previous"]) for h in hist]
    assert moves[-2:] == [("promote", "v0002", "v0001"), ("rollback", "v0001", "v0002")]
    assert hist[-1]["reason"] == "threshold too high" and hist[-1]["by"] == "distml rollback"
    assert os.readlink(models / "current") == "v0001"


def test_the_request_log_is_read_back_by_distml_monitor(
    models, port, app, small_data, run_dir, ray_local, tmp_path
):
    from distml.serve.deployment import deploy, undeploy

    log_dir = tmp_path / "requests"
    s = _settings(
        str(models / "v0001"),
        port,
        app_name="logged",
        route_prefix="/logged",
        log_fraction=1.0,
        log_dir=str(log_dir),
        log_flush_s=60,
    )
    url = deploy(s, str(log_dir))
    df = _rows(small_data, 3000).drop("label")
    rows = _json_rows(df)
    with ThreadPoolExecutor(4) as ex:
        answers = list(
            ex.map(
                lambda i: _post(url + "predict", json.dumps(rows[i : i + 500]).encode()),
                range(0, len(rows), 500),
            )
        )
    served = [a for _, body, _ in answers for a in json.loads(body)]
    scored = {a["id"]: a["score"] for a in served if a["score"] is not None}
    undeploy("logged")  # the replica writes what it holds as it stops
    assert os.listdir(log_dir) == ["v0001"]  # one folder per model
    logged = pl.read_parquet(log_dir / "v0001" / "*.parquet")
    assert not [f for f in os.listdir(log_dir / "v0001") if f.startswith(".")]
    assert logged.height == len(scored) and set(logged["id"]) == set(scored)
    assert all(scored[i] == sc for i, sc in zip(logged["id"], logged["score"], strict=True))
    assert set(logged["served_model"]) == {"v0001"}
    address = ray_local.get_runtime_context().gcs_address

    def monitor(model_run, out):
        p = distml(
            "monitor",
            f"model_run={model_run}",
            f"data.path={log_dir / 'v0001'}",
            f"cluster.address={address}",
            f"hydra.run.dir={out}",
            check=False,
        )
        assert p.returncode in (0, 4, 5) and "Traceback" not in p.stderr, p.stderr[-2000:]
        return json.loads((out / "monitor.json").read_text())

    m = monitor(models / "v0001", tmp_path / "m")
    assert m["rows_in"] == len(scored) and m["rows_scored"] == len(scored)
    assert m["features"]["num_00"]["psi"] < 0.1  # served traffic from the training distribution
    # the same log against the run itself, whose contract has no rule once there is no label
    assert monitor(run_dir, tmp_path / "m2")["rows_in"] == len(scored)


def test_the_request_log_samples_each_row_with_log_fraction(models, tmp_path):
    from distml.serve.answers import score_rows
    from distml.serve.log import RequestLog
    from distml.serve.model import load_served
    from distml.serve.rows import read_json_rows

    served = load_served(str(models / "v0001"))
    rows = [{"id": i, "amount": 1.0} for i in range(20_000)]
    frame, _ = read_json_rows(json.dumps(rows).encode(), served, 10**6, missing="null")
    _, scored = score_rows(served, frame, for_log=True)
    assert scored.height == 20_000
    log = RequestLog(str(tmp_path), 0.3, 60, 10**6, "r", rng=np.random.default_rng(1))
    for part in scored.iter_slices(1000):
        log.add(part, served)
    log.flush()
    n = pl.read_parquet(tmp_path / "v0001" / "*.parquet").height
    sd = (20_000 * 0.3 * 0.7) ** 0.5
    assert abs(n - 6000) < 5 * sd  # Binomial(20000, 0.3)


def test_distml_serve_runs_until_terminated(models, port, app, row, ray_local, tmp_path):
    address = ray_local.get_runtime_context().gcs_address
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distml",
            "serve",
            f"model_run={models / 'current'}",
            f"cluster.address={address}",
            f"serve.port={port}",
            "serve.app_name=cli",
            "serve.route_prefix=/cli",
            "serve.replica_cpus=0.25",
            f"hydra.run.dir={out}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "serve.json").is_file() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            time.sleep(0.5)
        info = json.loads((out / "serve.json").read_text())
        assert info["serve"]["url"] == f"http://127.0.0.1:{port}/cli/"
        st, body, _ = _post(info["serve"]["url"] + "predict", json.dumps([row]).encode())
        assert st == 200 and json.loads(body)[0]["score"] is not None
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    assert "serving " in stdout and "Traceback" not in stderr
    assert _get(f"http://127.0.0.1:{port}/cli/healthz")[0] == 404  # the application is gone


def _call(url: str, token: str | None, body: bytes | None = None) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_a_bearer_token_from_the_environment_guards_predict_and_model(models, row, tmp_path):
    """With DISTML_SERVE_TOKEN in the replicas' environment (here: `distml serve`'s own local
    Ray, which its workers inherit), predict and model answer 401 without the token and score
    nothing; healthz stays open for probes; the token is in no file the command writes."""
    secret, port, out = "s3cr3t-" + os.urandom(8).hex(), _free_port(), tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cmd = [sys.executable, "-m", "distml", "serve", f"model_run={models / 'current'}",
           f"serve.port={port}", "serve.replica_cpus=0.25", "cluster.num_cpus=1",
           f"hydra.run.dir={out}"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env={**env, "DISTML_SERVE_TOKEN": secret}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not (out / "serve.json").is_file() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            time.sleep(0.5)
        url = json.loads((out / "serve.json").read_text())["serve"]["url"]
        body = json.dumps([row]).encode()
        for token in (None, "wrong", secret[:-1]):
            st, answer, headers = _call(url + "predict", token, body)
            assert st == 401 and headers.get("www-authenticate", headers.get("WWW-Authenticate"))
            assert "bearer token" in json.loads(answer)["error"]
        assert _call(url + "model", None)[0] == 401
        health = _get(url + "healthz")
        assert health[0] == 200 and health[1]["rows_scored"] == 0  # nothing was scored
        assert health[1]["token_required"] is True and health[1]["requests"] == 0
        st, answer, _ = _call(url + "predict", secret, body)
        assert st == 200 and json.loads(answer)[0]["score"] is not None
        assert _call(url + "model", secret)[0] == 200
        assert _get(url + "healthz")[1]["rows_scored"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written and not [p for p in written if secret in p.read_text(errors="replace")]
    assert secret not in stdout + stderr


def test_a_blank_token_is_refused_before_anything_is_served(models, tmp_path, monkeypatch):
    """Set but blank (a Secret with a missing key): not an open service by mistake."""
    monkeypatch.setenv("DISTML_SERVE_TOKEN", "  \n")
    p = distml(
        "serve", f"model_run={models / 'current'}", f"hydra.run.dir={tmp_path / 'o'}", check=False
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "DISTML_SERVE_TOKEN is set but empty" in p.stderr


def test_a_model_run_that_cannot_be_served_is_one_paragraph(tmp_path):
    p = distml("serve", f"model_run={tmp_path}", f"hydra.run.dir={tmp_path / 'o'}", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "has no model.ubj, preprocessor.json" in p.stderr


def test_the_rayservice_application_builder_serves_with_the_manifests_overrides(
    models, port, app, row, tmp_path
):
    """k8s/rayservice.yaml's application, built as KubeRay's Serve controller builds it (the
    import path and args of serveConfigV2), with the paths moved to this machine."""
    from ray import serve

    from distml.serve.deployment import build_app, undeploy

    root = Path(__file__).resolve().parents[2]
    doc = yaml.safe_load((root / "k8s" / "rayservice.yaml").read_text())
    (spec,) = yaml.safe_load(doc["spec"]["serveConfigV2"])["applications"]
    moved = {"model_run": str(models / "current"), "serve.log_dir": str(tmp_path / "requests")}
    overrides = [
        f"{k}={moved[k]}" if k in moved else f"{k}={v}"
        for k, v in (o.split("=", 1) for o in spec["args"]["overrides"])
    ]
    built = build_app({"overrides": [*overrides, "serve.replica_cpus=0.25"]})
    serve.run(built, name="k8s", route_prefix="/k8s")
    try:
        st, body, _ = _post(f"http://127.0.0.1:{port}/k8s/predict", json.dumps([row]).encode())
        assert st == 200 and json.loads(body)[0]["score"] is not None
        assert serve.status().applications["k8s"].deployments["Scorer"].status == "HEALTHY"
    finally:
        undeploy("k8s")
    with pytest.raises(Exception, match="needs serve.log_dir"):
        build_app({"overrides": [f"model_run={models / 'current'}", "serve.log_fraction=0.5"]})


def test_another_port_on_a_cluster_where_serve_runs_is_one_paragraph(models, port, app, ray_local):
    address = ray_local.get_runtime_context().gcs_address
    p = distml(
        "serve",
        f"model_run={models / 'current'}",
        f"cluster.address={address}",
        f"serve.port={_free_port()}",
        "serve.app_name=other",
        subprocess_=True,
        check=False,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert f"HTTP proxy on port {port}" in p.stderr and f"serve.port={port}" in p.stderr
