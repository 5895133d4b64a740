"""distml serve (Ray Serve) against a plain one-process ASGI service, under bounded load on loopback.

    python benchmarks/serve.py [--model-run RUN] [--requests 2000] [--seconds 20]

A model is trained first unless --model-run is given (`distml run` on 200k generated rows, 50k
sample, 100 rounds). Both services score the same JSON rows with the same model:

- reference: one uvicorn process (one worker) running a minimal ASGI app, no Ray: JSON rows ->
  Polars frame (timestamps parsed, no contract) -> the saved preprocessor -> the booster's
  ``inplace_predict`` (nthread=2); one request at a time, no batching.
- distml: ``distml serve`` on a local 2-CPU Ray (Serve's proxy, one replica with one XGBoost
  thread, dynamic batching): schema conformance, the row rules, the same preprocessor and model.

Load: an aiohttp client in its own process keeps ``concurrency`` requests in flight until
``--requests`` requests (a tenth of that for 1,000-row bodies) or ``--seconds`` have passed; for
single-row requests and 1,000-row batches, at concurrency 1, 8 and 64. Reported per cell:
rows/s, requests/s, p50 and p99 latency, failed requests. Then a replica is killed during a load
test (two replicas, concurrency 8): the requests that failed, why, and whether the requests after
the kill were served. Served scores are checked equal to the reference's for 1,000 rows.
Writes benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import train_model, write  # noqa: E402

CONCURRENCY = (1, 8, 64)
ARROW = "application/vnd.apache.arrow.stream"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_rows(model_run: str, n: int = 1000) -> list[dict[str, Any]]:
    """n rows of the training data's files as a client would send them (no label)."""
    import polars as pl
    import yaml

    cfg = yaml.safe_load((Path(model_run) / ".hydra" / "config.yaml").read_text())
    files = sorted(Path(cfg["data"]["path"]).glob("*.parquet"))
    df = pl.read_parquet(files[-1]).tail(n).drop("label")
    return json.loads(df.write_json())


# -- the reference: a minimal ASGI app in one process --------------------------------------------


def baseline_app(model_run: str):
    import numpy as np
    import polars as pl
    import xgboost as xgb

    from distml.preprocess.apply import apply, load

    spec = load(os.path.join(model_run, "preprocessor.json"))
    booster = xgb.Booster(params={"nthread": 2})
    booster.load_model(os.path.join(model_run, "model.ubj"))
    feats = spec["output_columns"]
    times = list(spec["datetime"])

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        df = pl.DataFrame(json.loads(body), infer_schema_length=None)
        df = df.with_columns(pl.col(c).str.to_datetime(time_zone="UTC") for c in times)
        x = apply(spec, df).select(feats).to_numpy().astype(np.float32)
        score = booster.inplace_predict(x)
        out = json.dumps([{"score": float(s)} for s in score]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": out})

    return app


def serve_baseline(model_run: str, port: int) -> None:
    import uvicorn

    uvicorn.run(baseline_app(model_run), host="127.0.0.1", port=port, log_level="warning")


# -- the load client (its own process) -----------------------------------------------------------


async def _load(
    url: str, bodies: list[bytes], concurrency: int, total: int, seconds: float, arrow: bool
):
    import aiohttp

    lat: list[float] = []
    fails: list[dict[str, Any]] = []
    sent = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    conn = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal sent
            while sent < total and time.perf_counter() < deadline:
                body = bodies[sent % len(bodies)]
                sent += 1
                start = time.perf_counter()
                try:
                    async with session.post(
                        url,
                        data=body,
                        headers={"Content-Type": ARROW if arrow else "application/json"},
                    ) as r:
                        text = await r.read()
                        if r.status != 200:
                            fails.append(
                                {
                                    "t": start - t0,
                                    "status": r.status,
                                    "body": text[:300].decode(errors="replace"),
                                }
                            )
                            continue
                except Exception as exc:
                    fails.append({"t": start - t0, "status": None, "body": repr(exc)[:300]})
                    continue
                lat.append((start - t0, time.perf_counter() - start))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat, fails, time.perf_counter() - t0


def client(args: argparse.Namespace) -> None:
    import numpy as np

    bodies = [Path(p).read_bytes() for p in args.bodies]
    lat, fails, wall = asyncio.run(
        _load(args.client, bodies, args.concurrency, args.total, args.seconds, args.arrow)
    )
    d = np.array([x for _, x in lat]) if lat else np.array([np.nan])
    print(
        json.dumps(
            {
                "requests_ok": len(lat),
                "requests_failed": len(fails),
                "seconds": wall,
                "requests_per_s": len(lat) / wall,
                "rows_per_s": len(lat) * args.rows_per_request / wall,
                "p50_ms": float(np.percentile(d, 50) * 1e3),
                "p99_ms": float(np.percentile(d, 99) * 1e3),
                "ok_times": [round(t, 3) for t, _ in lat] if args.times else None,
                "failures": fails[:50],
            }
        )
    )


def load(
    url: str,
    bodies: list[Path],
    rows: int,
    conc: int,
    total: int,
    seconds: float,
    times: bool = False,
    arrow: bool = False,
):
    cmd = [
        sys.executable,
        __file__,
        "--client",
        url,
        "--concurrency",
        str(conc),
        "--total",
        str(total),
        "--seconds",
        str(seconds),
        "--rows-per-request",
        str(rows),
        *(["--times"] if times else []),
        *(["--arrow"] if arrow else []),
        "--bodies",
        *map(str, bodies),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def _wait(url: str, body: bytes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=5)
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer")


def cells(url: str, one: list[Path], batch: list[Path], total: int, seconds: float) -> dict:
    out = {}
    for kind, bodies, rows, n in (
        ("1 row", one, 1, total),
        ("1000 rows", batch, 1000, total // 10),
    ):
        for c in CONCURRENCY:
            load(url, bodies, rows, c, min(n, 4 * c), seconds)  # warm-up
            r = load(url, bodies, rows, c, n, seconds)
            out[f"{kind}, concurrency {c}"] = r
            print(
                f"  {kind:9s} c={c:3d}: {r['rows_per_s']:10.0f} rows/s  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  failed {r['requests_failed']}",
                file=sys.stderr,
            )
    return out


def arrow_cells(url: str, work: Path, rows: list[dict], args: argparse.Namespace) -> dict:
    """The same 1,000 rows as an Arrow IPC stream (the bulk callers' body), answered in JSON."""
    import io

    import polars as pl
    import pyarrow as pa

    table = pl.DataFrame(rows, infer_schema_length=None).to_arrow()
    buf = io.BytesIO()
    with pa.ipc.new_stream(buf, table.schema) as w:
        w.write_table(table)
    body = work / "batch.arrow"
    body.write_bytes(buf.getvalue())
    out = {}
    for c in CONCURRENCY:
        load(url, [body], 1000, c, min(args.requests // 10, 4 * c), args.seconds, arrow=True)
        r = load(url, [body], 1000, c, args.requests // 10, args.seconds, arrow=True)
        out[f"1000 rows, concurrency {c}"] = r
        print(
            f"  1000 rows Arrow c={c:3d}: {r['rows_per_s']:10.0f} rows/s  p50 {r['p50_ms']:7.1f} ms"
            f"  p99 {r['p99_ms']:7.1f} ms  failed {r['requests_failed']}",
            file=sys.stderr,
        )
    return out


def serve_floor(port: int, one: list[Path], total: int, seconds: float) -> dict:
    """Ray Serve's own cost on this machine: a deployment that returns the body it gets (one
    replica, the same proxy and queue settings), under the same single-row load."""
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import Response

    @serve.deployment(max_ongoing_requests=256)
    class Echo:
        async def __call__(self, request: Request) -> Response:
            return Response(await request.body())

    quiet = {"log_level": "WARNING", "enable_access_log": False}  # as distml's deployment
    serve.run(Echo.bind(), name="floor", route_prefix="/floor", logging_config=quiet)
    print("Ray Serve floor: a deployment that echoes the body", file=sys.stderr)
    out = {}
    url = f"http://127.0.0.1:{port}/floor"
    for c in CONCURRENCY:
        load(url, one, 1, c, min(total, 4 * c), seconds)
        r = load(url, one, 1, c, total, seconds)
        out[f"1 row, concurrency {c}"] = r
        print(
            f"  1 row     c={c:3d}: {r['requests_per_s']:10.0f} req/s   p50 {r['p50_ms']:7.1f} ms  "
            f"p99 {r['p99_ms']:7.1f} ms",
            file=sys.stderr,
        )
    serve.delete("floor")
    return out


def kill_replica_during_load(url: str, one: list[Path], seconds: float) -> dict:
    """Two replicas, concurrency 8: one replica is killed 1/3 into the load."""
    import threading

    import ray

    box: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: box.update(r=load(url, one, 1, 8, 10**9, seconds, times=True))
    )
    start = time.perf_counter()
    t.start()
    time.sleep(seconds / 3)
    names = [
        a for a in ray.util.list_named_actors(all_namespaces=True) if "SERVE_REPLICA" in a["name"]
    ]
    victim = sorted(a["name"] for a in names)[0]
    killed_at = time.perf_counter() - start
    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    t.join()
    r = box["r"]
    after = [x for x in r["ok_times"] if x > killed_at + 0.5]
    return {
        "replicas": 2,
        "concurrency": 8,
        "killed": victim,
        "killed_at_s": round(killed_at, 2),
        "requests_ok": r["requests_ok"],
        "requests_ok_after_kill": len(after),
        "requests_failed": r["requests_failed"],
        "failures": r["failures"],
        "seconds": r["seconds"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-run", default=None)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--client", default=None)
    ap.add_argument("--baseline-server", default=None)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--total", type=int, default=100)
    ap.add_argument("--rows-per-request", type=int, default=1)
    ap.add_argument("--times", action="store_true")
    ap.add_argument("--arrow", action="store_true")
    ap.add_argument("--bodies", nargs="*", default=[])
    args = ap.parse_args()
    if args.client:
        return client(args)
    if args.baseline_server:
        return serve_baseline(args.baseline_server, args.port)

    with tempfile.TemporaryDirectory(prefix="distml-serve-bench-") as tmp:
        work = Path(tmp)
        model_run = args.model_run or train_model(work, 200_000, 4, 50_000)
        rows = request_rows(model_run)
        one = []
        for i in range(200):
            one.append(work / f"one-{i}.json")
            one[-1].write_text(json.dumps([rows[i]]))
        batch = [work / "batch.json"]
        batch[0].write_text(json.dumps(rows))
        result: dict[str, Any] = {"model_run": model_run, "cores": os.cpu_count()}

        # the reference first, with no Ray on the machine
        port = _port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--baseline-server", model_run, "--port", str(port)]
        )
        try:
            _wait(f"http://127.0.0.1:{port}/", one[0].read_bytes())
            with urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{port}/", data=batch[0].read_bytes(), method="POST"
                )
            ) as r:
                ref_scores = [a["score"] for a in json.loads(r.read())]
            print("reference: one uvicorn process, inplace_predict", file=sys.stderr)
            result["reference"] = cells(
                f"http://127.0.0.1:{port}/", one, batch, args.requests, args.seconds
            )
        finally:
            server.terminate()
            server.wait()

        import ray

        from distml.config import ServeConfig, ServeSettings
        from distml.serve.deployment import deploy, undeploy

        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        try:
            port = _port()
            s = ServeSettings(model_run=model_run, serve=ServeConfig(port=port))
            t0 = time.perf_counter()
            url = deploy(s, None)
            result["deploy_seconds"] = time.perf_counter() - t0
            with urllib.request.urlopen(
                urllib.request.Request(url + "predict", data=batch[0].read_bytes(), method="POST")
            ) as r:
                got = [a["score"] for a in json.loads(r.read())]
            result["scores_equal_reference"] = got == ref_scores
            print(f"distml serve (scores equal: {got == ref_scores})", file=sys.stderr)
            result["distml"] = cells(url + "predict", one, batch, args.requests, args.seconds)
            result["distml_arrow"] = arrow_cells(url + "predict", work, rows, args)
            undeploy(s.serve.app_name)
            result["serve_floor"] = serve_floor(port, one, args.requests, args.seconds)
            s2 = ServeSettings(
                model_run=model_run,
                serve=ServeConfig(port=port, replicas=2, replica_cpus=0.5, app_name="kill"),
            )
            url2 = deploy(s2, None)
            result["replica_killed"] = kill_replica_during_load(url2 + "predict", one, args.seconds)
            print(
                f"  replica killed: {json.dumps({k: v for k, v in result['replica_killed'].items() if k != 'failures'})}",
                file=sys.stderr,
            )
        finally:
            ray.shutdown()
    result["summary"] = {
        k: {
            "distml_rows_per_s": round(result["distml"][k]["rows_per_s"]),
            "reference_rows_per_s": round(result["reference"][k]["rows_per_s"]),
            "ratio": round(
                result["distml"][k]["rows_per_s"] / result["reference"][k]["rows_per_s"], 3
            ),
            "p50_ms": [round(result[x][k]["p50_ms"], 1) for x in ("distml", "reference")],
            "p99_ms": [round(result[x][k]["p99_ms"], 1) for x in ("distml", "reference")],
            "p99_extra_ms": round(
                result["distml"][k]["p99_ms"] - result["reference"][k]["p99_ms"], 1
            ),
        }
        for k in result["distml"]
    }
    write("serve", result)


if __name__ == "__main__":
    main()
