"""Batch scoring: a trained run's contract, preprocessor and model applied to new sharded data.

``distml predict model_run=<run or model dir> data.path=<new data>`` conforms the new files to the
training schema and checks the training run's row rules (the same contract), quarantines rows
that break them, and scores the rest in parallel Ray tasks through the one scoring path
(distml/scoring.py). Each shard task writes ``predictions/part-NNNNN.parquet`` (id, ``label``
when present, ``score``, ``prediction``) and its quarantined rows; per shard and in total
``rows_in = rows_scored + rows_quarantined`` (``predict.json``).
"""

from __future__ import annotations

import os
from typing import Any

from distml.artifacts import write_json
from distml.cluster.session import choose_executor
from distml.config import PredictSettings
from distml.scoring import Summary, score
from distml.trained.run import load_run, plan_new_data, score_job


def run_predict(s: PredictSettings, run_dir: str) -> dict[str, Any]:
    """``distml predict``: predictions/, quarantine/ and predict.json in ``run_dir``."""
    run = load_run(s.model_run)
    ds, skipped = plan_new_data(run, s.data.path, s.data.on_bad_file)
    executor = choose_executor(s.cluster, ds.num_rows, workers=1)
    os.makedirs(run_dir, exist_ok=True)
    job = score_job(run, ds, run_dir, Summary(metrics=False), on_bad_file=s.data.on_bad_file)
    st = score(ds.shards, job, "predict", s.cluster.task_cpus)
    out = {
        "model_run": run.path,
        "data_path": ds.uri,
        "rows_in": st.rows_in,
        "rows_scored": st.rows_scored,
        "rows_quarantined": st.rows_quarantined,
        "threshold": run.model.threshold,
        "executor": executor,
        "skipped_files": [*skipped, *st.skipped],
        "empty_files": list(ds.empty_files),
        "per_shard": st.per_shard,
    }
    write_json(os.path.join(run_dir, "predict.json"), out)
    print(
        f"distml predict: scored {st.rows_scored:,} of {st.rows_in:,} rows "
        f"({st.rows_quarantined:,} quarantined"
        + (f"; {len(out['skipped_files'])} files skipped" if out["skipped_files"] else "")
        + f") -> {os.path.join(run_dir, 'predictions')}",
        flush=True,
    )
    return out
