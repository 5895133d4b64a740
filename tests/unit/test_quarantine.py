"""Every row that breaks a rule lands in quarantine/ with its reasons; no other row does.

The expected rows are picked out with numpy from the generating arrays, not with the contract's
expressions, and compared with what the profile pass wrote (in process, several files).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from distml.cluster import tasks as parallel
from distml.config import ProfileConfig, QualityConfig
from distml.data.columns import REASON
from distml.data.shards import plan
from distml.profile.stage import run_profile
from distml.quality.contract import build_contract


def test_quarantine_holds_exactly_the_rows_that_break_a_rule(tmp_path):
    rng = np.random.default_rng(3)
    n = 9_000
    label = rng.choice([0.0, 1.0, 2.0, np.nan], n, p=[0.8, 0.15, 0.02, 0.03])
    amount = rng.normal(10, 8, n)
    df = pl.DataFrame({"id": np.arange(n), "label": label, "amount": amount}).with_columns(
        pl.col("label").fill_nan(None).cast(pl.Int64)
    )
    data = tmp_path / "d"
    data.mkdir()
    for i in range(4):
        df[i * n // 4 : (i + 1) * n // 4].write_parquet(data / f"p{i}.parquet", row_group_size=700)
    ds = plan(str(data), shard_rows=1_000)
    cfg = QualityConfig(rules={"amount_pos": {"column": "amount", "min": 0}})
    contract = build_contract(cfg, dict(df.schema), "label", [0, 1])
    with parallel.in_process():
        report = run_profile(
            ds,
            contract,
            ProfileConfig(duplicates=False),
            label="label",
            id_column="id",
            out_dir=str(tmp_path / "run"),
        ).report
    null_label = np.isnan(label)
    bad_label = ~null_label & (label == 2)
    negative = amount < 0
    broken = null_label | bad_label | negative
    q = pl.read_parquet(tmp_path / "run" / "quarantine" / "*.parquet").sort("id")
    assert q["id"].to_list() == np.flatnonzero(broken).tolist()
    want = [
        "; ".join(
            name
            for name, hit in (
                ("not_null(label)", null_label[i]),
                ("label_values", bad_label[i]),
                ("amount_pos", negative[i]),
            )
            if hit
        )
        for i in np.flatnonzero(broken)
    ]
    assert q[REASON].to_list() == want
    # the quarantined rows are the rows as read: same values in every column
    assert q.drop(REASON).equals(df.filter(pl.Series(broken)).sort("id"))
    assert report.rows_in == n and report.rows_quarantined == int(broken.sum())
    # the label's counts are the accepted rows' (the classes the gates and the sample see)
    kept = label[~broken]
    assert report.label_counts == {"0": int((kept == 0).sum()), "1": int((kept == 1).sum())}
    assert report.rows_accepted == n - int(broken.sum())
    assert report.rules == {
        "not_null(label)": int(null_label.sum()),
        "label_values": int(bad_label.sum()),
        "amount_pos": int(negative.sum()),
    }
    per = report.per_shard.values()
    assert len(report.per_shard) == len(ds.shards) > 4
    assert sum(a["rows_quarantined"] for a in per) == int(broken.sum())
    assert all(a["rows_in"] == a["rows_accepted"] + a["rows_quarantined"] for a in per)
