"""A new user's first run on a small real public dataset, against single-process baselines.

    python benchmarks/first_run.py

The data: ``Default`` from the ISLP package on PyPI (James, Witten, Hastie & Tibshirani, *An
Introduction to Statistical Learning*): 10,000 credit-card customers, the label ``default``
``No``/``Yes`` (3.3% Yes), features ``student`` (No/Yes), ``balance``, ``income``. The wheel is
fetched with ``pip download --no-deps`` and the CSV converted to Parquet with Polars, as the
README tells a user to.

distml: ``distml run data.path=default.parquet data.label=default data.positive_label=Yes``,
nothing else. References, on exactly the rows of distml's train/valid/test split (read back from
its ``sample/``): scikit-learn's LogisticRegression (standardized numbers, student as 0/1) and one
``xgboost.train`` process with the same parameters and early stopping on valid. Each model's
threshold is chosen on valid for the best F1, as distml does. Writes
benchmarks/results/first_run.json.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import write  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "islp"


def fetch() -> Path:
    """default.parquet from ISLP's wheel (downloaded once)."""
    import polars as pl

    out = DATA / "default.parquet"
    if out.is_file():
        return out
    DATA.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "islp==0.6.0",
            "--no-deps",
            "-q",
            "-d",
            str(DATA),
        ],
        check=True,
    )
    with zipfile.ZipFile(glob.glob(str(DATA / "islp-*.whl"))[0]) as z:
        (DATA / "Default.csv").write_bytes(z.read("ISLP/data/Default.csv"))
    pl.read_csv(DATA / "Default.csv").write_parquet(out)
    return out


def run_distml(data: Path, run: Path) -> dict:
    cmd = [
        sys.executable, "-m", "distml", "run",
        f"data.path={data}", "data.label=default", "data.positive_label=Yes",
        f"hydra.run.dir={run}",
    ]  # fmt: skip
    p = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "DISTML_CACHE": "false"}
    )
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    return json.loads((run / "metrics.json").read_text())


def _best_f1_threshold(y, s) -> float:
    from sklearn.metrics import precision_recall_curve

    p, r, t = precision_recall_curve(y, s)
    f1 = 2 * p * r / (p + r + 1e-300)
    return float(t[min(int(f1[:-1].argmax()), len(t) - 1)])


def _scores(y, s, threshold: float) -> dict:
    from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "average_precision": float(average_precision_score(y, s)),
        "f1": float(f1_score(y, s >= threshold)),
    }


def references(run: Path) -> dict:
    import numpy as np
    import polars as pl
    import xgboost as xgb
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sample = pl.read_parquet(run / "sample" / "*.parquet").with_columns(
        (pl.col("student") == "Yes").cast(pl.Float64).alias("student"),
        (pl.col("default") == "Yes").cast(pl.Int64).alias("y"),
    )
    cols = ["student", "balance", "income"]
    parts = {sp: sample.filter(pl.col("split") == sp) for sp in ("train", "valid", "test")}
    x = {sp: d.select(cols).to_numpy() for sp, d in parts.items()}
    y = {sp: d["y"].to_numpy() for sp, d in parts.items()}
    out = {}
    scaler = StandardScaler().fit(x["train"])
    lr = LogisticRegression(max_iter=1000).fit(scaler.transform(x["train"]), y["train"])
    s = {sp: lr.predict_proba(scaler.transform(x[sp]))[:, 1] for sp in ("valid", "test")}
    out["sklearn_logistic_regression"] = _scores(
        y["test"], s["test"], _best_f1_threshold(y["valid"], s["valid"])
    )
    d = {sp: xgb.DMatrix(x[sp], y[sp]) for sp in x}
    params = {"objective": "binary:logistic", "eval_metric": ["logloss", "aucpr"], "max_depth": 6,
              "eta": 0.1, "tree_method": "hist", "nthread": 2}  # fmt: skip
    b = xgb.train(params, d["train"], 300, evals=[(d["valid"], "valid")], early_stopping_rounds=20,
                  verbose_eval=False)  # fmt: skip
    it = (0, b.best_iteration + 1)
    s = {sp: b.predict(d[sp], iteration_range=it) for sp in ("valid", "test")}
    out["xgboost_single_process"] = _scores(
        y["test"], s["test"], _best_f1_threshold(y["valid"], s["valid"])
    )
    out["rows"] = {sp: int(len(v)) for sp, v in y.items()}
    out["test_positives"] = int(np.sum(y["test"]))
    return out


def main() -> None:
    data = fetch()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        m = run_distml(data, run)
        ref = references(run)
    result = {
        "dataset": "ISLP Default (10,000 rows, label default No/Yes)",
        "command": "distml run data.path=default.parquet data.label=default data.positive_label=Yes",
        "distml": {
            k: m["test"][k] for k in ("roc_auc", "average_precision", "f1", "positives", "rows")
        },
        **ref,
    }
    write("first_run", result)


if __name__ == "__main__":
    main()
