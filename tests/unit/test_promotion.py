"""Promotion that luck cannot pass: the paired bootstrap and its rule (distml/stats/paired.py) on
real XGBoost models, and the models directory's moves (distml/registry.py)."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import average_precision_score, roc_auc_score

from distml import registry
from distml.errors import UserError
from distml.stats.paired import PairedState, Rule, Scored, decide

RULE = Rule("average_precision", tolerance=0.0, confidence=0.95, skill_gate=True)
REPLICATES = 500  # retrain.replicates' default


def _population(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A fraud-like table: about 3% positives, a smooth signal in five columns."""
    x = rng.normal(size=(n, 5))
    logit = -4.2 + 1.2 * x[:, 0] + 0.8 * x[:, 1] - 0.6 * x[:, 2] + 0.5 * x[:, 3] * x[:, 4]
    return x, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)


def _fit(x: np.ndarray, y: np.ndarray, rounds: int = 60) -> xgb.Booster:
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "nthread": 1}
    return xgb.train(params, xgb.DMatrix(x, label=y), rounds)


def _paired(cand, cur, x, y, seed: int, shards: int = 3, rule: Rule = RULE) -> dict:
    """Both models on the rows, the state built shard by shard and merged (as the map does)."""
    pc = cand.predict(xgb.DMatrix(x)).astype(np.float64)
    po = cur.predict(xgb.DMatrix(x)).astype(np.float64) if cur is not None else None
    ids = np.arange(len(y), dtype=np.uint64) * np.uint64(7919)
    st = PairedState()
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(y)), shards - 1, False))
    for part in np.split(np.arange(len(y)), cuts):
        one = PairedState(rows=len(part))
        one.candidate = Scored.of("binary", pc[part], y[part], ids[part], None, REPLICATES, 0, 0.5)
        if po is not None:
            one.current = Scored.of(
                "binary", po[part], y[part], ids[part], None, REPLICATES, 0, 0.5
            )
        st.merge(one)
    return decide(st, "binary", rule)


def test_a_candidate_without_skill_is_never_promoted_and_a_better_one_is():
    """10 seeds. No skill: new data whose labels were shuffled, the candidate trained and judged
    on it against a current model trained on 20,000 true rows. Better: a current model trained
    on 2,000 rows with a fifth of the labels flipped, a candidate on 20,000 clean rows, both judged
    on 20,000 clean rows (about 600 positives)."""
    shuffled, better, shown = 0, 0, []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x, y = _population(rng, 60_000)
        current = _fit(x[:20_000], y[:20_000])
        y_new = rng.permutation(y[20_000:])  # the new data's labels, shuffled
        cand = _fit(x[20_000:40_000], y_new[:20_000])
        d = _paired(cand, current, x[40_000:], y_new[20_000:], seed)
        shuffled += d["promote"]
        assert d["improvement"] == pytest.approx(
            average_precision_score(y_new[20_000:], cand.predict(xgb.DMatrix(x[40_000:])))
            - average_precision_score(y_new[20_000:], current.predict(xgb.DMatrix(x[40_000:]))),
            abs=1e-9,
        )
        noisy = y[:2_000].copy()
        flip = rng.random(2_000) < 0.2
        noisy[flip] = 1 - noisy[flip]
        weak = _fit(x[:2_000], noisy)
        strong = _fit(x[20_000:40_000], y[20_000:40_000])
        d = _paired(strong, weak, x[40_000:], y[40_000:], seed)
        better += d["promote"]
        shown.append((round(d["improvement"], 4), [round(v, 4) for v in d["interval"]]))
    print(f"no-skill candidates promoted: {shuffled}/10; better candidates promoted: {better}/10")
    print("better candidates' AP improvement and 95% interval:", shown)
    assert shuffled == 0
    assert better >= 9


def test_without_a_current_model_the_skill_gate_alone_decides():
    """No current model: a candidate trained on shuffled labels is promoted only as often as the
    interval's level allows (at most 1 of 10 at 95%, each time with probability 2.5%); a real one
    always."""
    promoted = 0
    for seed in range(10):
        rng = np.random.default_rng(100 + seed)
        x, y = _population(rng, 40_000)
        cand = _fit(x[:20_000], rng.permutation(y[:20_000]))
        d = _paired(cand, None, x[20_000:], rng.permutation(y[20_000:]), seed)
        promoted += d["promote"]
        assert d["current"] is None and "no current model" in d["reason"]
        real = _paired(_fit(x[:20_000], y[:20_000]), None, x[20_000:], y[20_000:], seed)
        assert real["promote"] and real["skill"]["interval"][0] > 0.5
        assert real["skill"]["value"] == pytest.approx(
            roc_auc_score(y[20_000:], _fit(x[:20_000], y[:20_000]).predict(xgb.DMatrix(x[20_000:])))
        )
    assert promoted <= 1


def test_the_same_model_twice_has_a_zero_width_interval_for_any_sharding():
    """Paired replicates: the same scores on the same rows differ by exactly 0 in every
    replicate, whatever the sharding; a worse model's interval does not depend on the sharding."""
    rng = np.random.default_rng(3)
    x, y = _population(rng, 30_000)
    m = _fit(x[:20_000], y[:20_000])
    for shards in (1, 4, 7):
        d = _paired(m, m, x[20_000:], y[20_000:], seed=shards, shards=shards)
        assert d["interval"] == [0.0, 0.0] and d["improvement"] == 0.0 and d["promote"]
    worse = _fit(x[:20_000], y[:20_000], rounds=2)
    ivs = {
        tuple(_paired(worse, m, x[20_000:], y[20_000:], seed=k, shards=k)["interval"])
        for k in (1, 3, 5)
    }
    assert len({tuple(round(v, 12) for v in iv) for iv in ivs}) == 1
    (iv,) = list(ivs)[:1]
    assert iv[1] < 0  # two rounds are clearly worse than sixty


def test_tolerance_is_a_non_inferiority_margin_in_the_metrics_direction():
    rng = np.random.default_rng(5)
    x, y = _population(rng, 30_000)
    good, worse = _fit(x[:20_000], y[:20_000]), _fit(x[:20_000], y[:20_000], rounds=4)
    d = _paired(worse, good, x[20_000:], y[20_000:], seed=0)
    lo = d["interval"][0]
    assert lo < 0 and not d["promote"] and "may be worse" in d["reason"]
    loose = Rule("average_precision", tolerance=-lo + 1e-6, confidence=0.95, skill_gate=True)
    assert _paired(worse, good, x[20_000:], y[20_000:], seed=0, rule=loose)["promote"]
    # log loss: lower is better, so the improvement is current minus candidate
    ll = Rule("log_loss", tolerance=0.0, confidence=0.95, skill_gate=True)
    d = _paired(good, worse, x[20_000:], y[20_000:], seed=0, rule=ll)
    assert d["lower_is_better"] and d["improvement"] == pytest.approx(d["current"] - d["candidate"])
    assert d["improvement"] > 0 and d["interval"][0] > 0 and d["promote"]


# -- the models directory -------------------------------------------------------------------


def _run(tmp_path, name: str) -> str:
    """A stand-in for a finished run: the files a promotion copies."""
    d = tmp_path / name
    (d / ".hydra").mkdir(parents=True)
    for f in registry.REQUIRED:
        (d / f).write_bytes(b"{}")
    (d / "model.ubj").write_bytes(name.encode())
    (d / "metrics.json").write_text(json.dumps({"test": {"roc_auc": 0.8}}))
    (d / ".hydra" / "config.yaml").write_text("seed: 0\n")
    return str(d)


def test_promote_and_rollback_follow_the_history(tmp_path):
    root = str(tmp_path / "models")
    for k in range(3):
        registry.promote(_run(tmp_path, f"r{k}"), root, {}, reason=f"r{k}")
    assert registry.current_version(root) == "v0003"
    assert registry.rollback(root, reason="bad scores") == ("v0003", "v0002")
    assert registry.rollback(root) == ("v0002", "v0001")
    with pytest.raises(UserError, match="first model"):
        registry.rollback(root)
    # forward again by hand, then a new promotion; rolling back goes to the model current
    # before it (v0002), not to the newest older number
    registry.rollback(root, "v0002")
    registry.promote(_run(tmp_path, "r3"), root, {})
    registry.rollback(root, "v0001")
    registry.promote(_run(tmp_path, "r4"), root, {})
    assert registry.current_version(root) == "v0005"
    assert registry.rollback(root) == ("v0005", "v0001")
    moves = [(e["action"], e.get("previous"), e["version"]) for e in registry.history(root)]
    assert moves == [
        ("promote", None, "v0001"),
        ("promote", "v0001", "v0002"),
        ("promote", "v0002", "v0003"),
        ("rollback", "v0003", "v0002"),
        ("rollback", "v0002", "v0001"),
        ("rollback", "v0001", "v0002"),
        ("promote", "v0002", "v0004"),
        ("rollback", "v0004", "v0001"),
        ("promote", "v0001", "v0005"),
        ("rollback", "v0005", "v0001"),
    ]
    assert registry.history(root)[3]["reason"] == "bad scores"
    with pytest.raises(UserError, match="v0009"):
        registry.rollback(root, "v0009")


def test_a_run_that_did_not_finish_is_not_promoted(tmp_path):
    run = _run(tmp_path, "partial")
    os.remove(os.path.join(run, "reference.json"))
    os.remove(os.path.join(run, "trained_rows.parquet"))
    with pytest.raises(UserError, match="lacks reference.json, trained_rows.parquet"):
        registry.promote(run, str(tmp_path / "models"), {})
    # a binary model needs its decision threshold too
    run = _run(tmp_path, "binary")
    with open(os.path.join(run, "metrics.json"), "w") as f:
        json.dump({"task": "binary", "test": {}}, f)
    with pytest.raises(UserError, match="lacks threshold.json"):
        registry.promote(run, str(tmp_path / "models"), {})
    assert not os.path.exists(tmp_path / "models" / "current")


def test_two_promotions_at_the_same_moment_one_wins_one_is_refused(tmp_path):
    root = str(tmp_path / "models")
    registry.promote(_run(tmp_path, "base"), root, {})
    runs = [_run(tmp_path, f"c{k}") for k in range(2)]
    start = threading.Barrier(2)
    results: list = [None, None]

    def go(k: int) -> None:
        start.wait()
        try:
            results[k] = registry.promote(runs[k], root, {}, expected="v0001", by=f"c{k}")
        except UserError as exc:
            results[k] = exc

    threads = [threading.Thread(target=go, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if isinstance(r, UserError)]
    assert len(won) == 1 and len(lost) == 1
    assert "moved from v0001 to v0002" in str(lost[0]) and "\n" not in str(lost[0])
    assert registry.current_version(root) == "v0002" and registry.versions(root) == [
        "v0001",
        "v0002",
    ]
    h = registry.history(root)
    assert [e["action"] for e in h] == ["promote", "promote", "refused"]
    assert h[2]["expected"] == "v0001" and h[2]["found"] == "v0002"
    assert {h[1]["by"], h[2]["by"]} == {"c0", "c1"}
    assert os.readlink(os.path.join(root, "current")) == "v0002"
