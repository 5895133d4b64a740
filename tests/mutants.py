"""Deliberate bugs, each put into a scratch copy of the project, and the tests that must catch them.

    python tests/mutants.py                 # every mutant (about 20 minutes on 2 cores)
    python tests/mutants.py -k neyman,split # mutants whose name contains one of these
    python tests/mutants.py --source '#28'  # mutants whose source contains this
    python tests/mutants.py --list

A mutant is one or more exact text replacements in distml/ (each must match once). The copy is
the working tree (tracked and untracked files, not ignored ones); its tests run with the copy
first on PYTHONPATH, so the CLI subprocesses and Ray workers import the mutated package. A mutant
is *caught* when pytest reports failed tests (exit 1); any other exit is shown as an error.
Not collected by pytest (no test_ prefix): it runs the suite, it is not part of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    stage: str
    bug: str
    edits: tuple[tuple[str, str, str], ...]
    """(file, old text, new text)."""
    tests: tuple[str, ...]
    source: str = "issue #14"
    extra: list[str] = field(default_factory=list)


M = Mutant
AD = "tests/integration/test_after_deployment.py"
UI = "tests/unit/test_ingest_types.py"
MR = "tests/unit/test_messy_rules.py"
MUTANTS = [
    # -- the bugs listed in the tests issue -----------------------------------------------------
    M(
        "neyman-ignores-spread",
        "sample",
        "Neyman weights use N_h only (S_h ignored)",
        (
            (
                "distml/sampling/plan.py",
                "w = {s: population[s] * (neyman[s].std if s in neyman else 0.0) for s in population}",
                "w = {s: population[s] * 1.0 for s in population}",
            ),
        ),
        ("tests/unit/test_sample_sizes.py",),
    ),
    M(
        "split-valid-test-swapped",
        "sample",
        "valid and test fractions swapped in the split plan (0.7/0.1/0.2 becomes 0.7/0.2/0.1)",
        (
            (
                "distml/sampling/plan.py",
                "n_valid = round(total * cfg.split.valid)\n    n_test = round(total * cfg.split.test)",
                "n_valid = round(total * cfg.split.test)\n    n_test = round(total * cfg.split.valid)",
            ),
        ),
        ("tests/unit/test_sample_sizes.py",),
    ),
    M(
        "no-collective",
        "train",
        "no collective: each rank trains alone on its share, rank 0's model returned",
        (
            (
                "distml/model/collective.py",
                "    with collective.CommunicatorContext(dmlc_task_id=task_id, **args):\n"
                "        yield collective.get_rank()",
                "    yield int(task_id)",
            ),
            (
                "distml/model/collective.py",
                "        if self.n_workers == 1:\n            return {}",
                "        if True:\n            return {}",
            ),
        ),
        (
            "tests/integration/test_train_distributed.py::test_every_rank_grows_the_same_trees_and_stops_at_the_same_round",
        ),
    ),
    M(
        "bootstrap-level-99",
        "evaluate",
        "bootstrap interval level 0.95 changed to 0.99",
        (("distml/stats/bootstrap.py", "level: float = 0.95", "level: float = 0.99"),),
        (
            "tests/unit/test_evaluate.py::test_bootstrap_interval_width_matches_the_known_standard_error",
        ),
    ),
    M(
        "quarantine-loses-a-row",
        "profile",
        "the quarantine file loses one row (counts unchanged)",
        (
            (
                "distml/profile/stage.py",
                "write_parquet(bad, join(job.quarantine,",
                "write_parquet(bad.slice(1), join(job.quarantine,",
            ),
        ),
        ("tests/unit/test_quarantine.py",),
    ),
    M(
        "precision-recall-swapped",
        "evaluate",
        "precision and recall swapped",
        (
            (
                "distml/stats/binary.py",
                '"precision": prec,\n        "recall": rec,',
                '"precision": rec,\n        "recall": prec,',
            ),
        ),
        ("tests/unit/test_evaluate.py",),
    ),
    # -- behaviours the issue listed as untested ------------------------------------------------
    M(
        "resume-from-oldest-checkpoint",
        "train",
        "a restart resumes from the oldest kept checkpoint, not the newest",
        (
            (
                "distml/model/checkpoints.py",
                "rounds, path = max(found)",
                "rounds, path = min(found)",
            ),
        ),
        (
            "tests/integration/test_train_distributed.py::test_resume_from_a_stopped_run_continues_to_the_same_model",
            "tests/integration/test_train_distributed.py::test_losing_a_worker_node_resumes_from_the_newest_checkpoint",
        ),
    ),
    M(
        "max-failures-off-by-one",
        "train",
        "one more restart than cluster.max_failures allows",
        (
            (
                "distml/model/train.py",
                "if lost and att.failures < res.max_failures:",
                "if lost and att.failures <= res.max_failures:",
            ),
        ),
        (
            "tests/integration/test_train_distributed.py::test_losing_more_workers_than_max_failures_is_a_clear_error",
        ),
    ),
    M(
        "monitor-never-warns",
        "monitor",
        "monitor reports ok where it should warn (exit 0 instead of 4)",
        (
            (
                "distml/monitor.py",
                'return "drift" if value >= drift else ("warn" if value >= warn else "ok")',
                'return "drift" if value >= drift else "ok"',
            ),
        ),
        (
            "tests/integration/test_after_deployment.py::test_moderate_drift_is_a_warning_with_exit_code_4",
        ),
    ),
    M(
        "retrain-ignores-tolerance",
        "retrain",
        "retrain.tolerance ignored",
        (
            (
                "distml/stats/paired.py",
                "not_worse = iv is not None and iv[0] >= -rule.tolerance",
                "not_worse = iv is not None and iv[0] >= 0",
            ),
        ),
        (
            "tests/integration/test_after_deployment.py::test_retrain_tolerance_and_evaluation_gates",
        ),
    ),
    M(
        "retrain-rmse-higher-is-better",
        "retrain",
        "lower-is-better metrics (RMSE) compared as higher-is-better",
        (
            (
                "distml/stats/paired.py",
                "sign = -1.0 if m in LOWER_IS_BETTER else 1.0",
                "sign = 1.0",
            ),
        ),
        (
            "tests/integration/test_after_deployment.py::test_retrain_on_rmse_promotes_the_lower_error",
        ),
    ),
    M(
        "retrain-ignores-gates",
        "retrain",
        "a candidate that fails eval.gates is promoted",
        (
            (
                "distml/retrain.py",
                'gate_ok = rec is not None and cand.get("gate", {"passed": True})["passed"]',
                "gate_ok = True",
            ),
        ),
        (
            "tests/integration/test_after_deployment.py::test_retrain_tolerance_and_evaluation_gates",
        ),
    ),
    M(
        "sample-weights-ignored",
        "train",
        "model.use_sample_weights=true trains without the weights",
        (
            (
                "distml/pipeline/stages.py",
                "weight=WEIGHT if s.model.use_sample_weights else row_weight_column(",
                "weight=None if s.model.use_sample_weights else row_weight_column(",
            ),
        ),
        (
            "tests/integration/test_pipeline_options.py::test_sample_weights_make_a_balanced_sample_estimate_the_population",
        ),
    ),
    M(
        "eval-bins-ignored",
        "evaluate",
        "eval.bins ignored when scoring (exact histograms, wrong stated error)",
        (
            (
                "distml/scoring.py",
                "st.metric = evaluation_state(task, pred, y, rw, sm.bins)",
                "st.metric = evaluation_state(task, pred, y, rw, None)",
            ),
        ),
        (
            "tests/integration/test_pipeline_options.py::test_binned_metrics_a_recall_target_and_content_ids",
        ),
    ),
    M(
        "fixed-threshold-ignored",
        "evaluate",
        "eval.threshold.policy=fixed uses 0.5 instead of eval.threshold.value",
        (
            (
                "distml/stats/binary.py",
                'if policy == "fixed":\n        return {"policy": policy, "value": value}',
                'if policy == "fixed":\n        return {"policy": policy, "value": 0.5}',
            ),
        ),
        (
            "tests/integration/test_pipeline_options.py::test_sample_weights_make_a_balanced_sample_estimate_the_population",
        ),
    ),
    M(
        "content-id-is-position",
        "sample",
        "data.id_column=null keys rows by their position in the shard, not their content",
        (
            (
                "distml/stats/keys.py",
                "return df.select(pl.struct(pl.all()).hash(0)).to_series().to_numpy().astype(np.uint64)",
                "return np.arange(df.height, dtype=np.uint64)",
            ),
        ),
        (
            "tests/unit/test_sample_sizes.py::test_content_ids_give_the_same_exact_sample_for_any_layout",
        ),
    ),
    # -- one of ours per stage ---------------------------------------------------------------------
    M(
        "profile-distinct-merge-keeps-one-side",
        "profile",
        "merging two distinct-count sketches keeps the first one's registers",
        (
            (
                "distml/stats/sketches.py",
                "return DistinctSketch(np.maximum(self.registers, o.registers))",
                "return DistinctSketch(self.registers)",
            ),
        ),
        ("tests/unit/test_profile_merge.py",),
        "ours",
    ),
    M(
        "sample-weight-inverted",
        "sample",
        "the sample's weight is n_h/N_h instead of N_h/n_h",
        (
            (
                "distml/sampling/plan.py",
                "return self.population[stratum] / self.sizes[stratum] if self.sizes[stratum] else 0.0",
                "return self.sizes[stratum] / self.population[stratum] if self.sizes[stratum] else 0.0",
            ),
        ),
        ("tests/unit/test_sample_sizes.py",),
        "ours",
    ),
    M(
        "preprocess-unseen-gets-a-real-code",
        "preprocess",
        "unseen categories get the most frequent category's code instead of the rare/unseen slot",
        (
            (
                "distml/preprocess/apply.py",
                'v.replace_strict(s["codes"], default=s["unseen_code"], return_dtype=pl.Float32)',
                'v.replace_strict(s["codes"], default=1, return_dtype=pl.Float32)',
            ),
        ),
        ("tests/unit/test_stats_preprocess.py",),
        "ours",
    ),
    M(
        "train-share-drops-a-row",
        "train",
        "each rank's share loses its last row",
        (
            (
                "distml/model/worker.py",
                "lo, hi = rank * total // world, (rank + 1) * total // world",
                "lo, hi = rank * total // world, (rank + 1) * total // world - 1",
            ),
        ),
        (
            "tests/integration/test_train_distributed.py::test_one_two_three_workers_give_the_same_quality",
        ),
        "ours",
    ),
    M(
        "evaluate-log-loss-over-positives",
        "evaluate",
        "log loss divided by the positives instead of all rows",
        (
            (
                "distml/stats/binary.py",
                'out["log_loss"] = float((pos @ -np.log(s) + neg @ -np.log1p(-s)) / (p + n))',
                'out["log_loss"] = float((pos @ -np.log(s) + neg @ -np.log1p(-s)) / max(p, 1.0))',
            ),
        ),
        ("tests/unit/test_evaluate.py",),
        "ours",
    ),
    M(
        "predict-drops-the-threshold",
        "predict",
        "predict writes prediction = score > threshold (ties go negative)",
        (
            (
                "distml/scoring.py",
                "positive = (pred >= model.threshold).astype(np.int64)",
                "positive = (pred > model.threshold + 1e-3).astype(np.int64)",
            ),
        ),
        (
            "tests/integration/test_after_deployment.py::test_predict_scores_every_row_or_quarantines_it",
        ),
        "ours",
    ),
    M(
        "curve-shares-by-dhondt",
        "curve",
        "nested training sets share rows by D'Hondt (s_h + 1) instead of Sainte-Laguë (2 s_h + 1)",
        (("distml/curve/nested.py", "(2.0 * within + 1.0)", "(within + 1.0)"),),
        ("tests/unit/test_curve.py",),
        "issue #18",
    ),
    M(
        "curve-sets-not-nested",
        "curve",
        "each size trains on its own band only, not on every smaller set's rows too",
        (
            (
                "distml/curve/stage.py",
                "for band in bands[: i + 1]",
                "for band in bands[i : i + 1]",
            ),
        ),
        (
            "tests/integration/test_curve.py::test_curve_nested_sets_same_test_rows_and_cached_data_stages",
        ),
        "issue #18",
    ),
    M(
        "curve-fit-sign-flipped",
        "curve",
        "the power law is fitted with the wrong direction (a + b n^-c for higher-is-better)",
        (
            (
                "distml/curve/fit.py",
                "sign = 1.0 if lower_is_better else -1.0",
                "sign = -1.0 if lower_is_better else 1.0",
            ),
        ),
        ("tests/unit/test_curve.py",),
        "issue #18",
    ),
    # -- distml ingest (issue #20) -----------------------------------------------------------------
    M(
        "ingest-line-numbers-shifted",
        "ingest",
        "valid CSV rows are numbered one line too far (the header not counted as line 1)",
        (
            (
                "distml/ingest/readers.py",
                "start, yielded = header + 1, False",
                "start, yielded = header + 2, False",
            ),
        ),
        (
            "tests/integration/test_ingest.py::test_every_line_accounted_for_mixed_headers_compression_and_malformed_lines",
        ),
        "issue #20",
    ),
    M(
        "ingest-types-merged-as-union",
        "ingest",
        "text types of two batches merged as a union (one int batch makes a text column int)",
        (
            (
                "distml/data/text.py",
                "{k: self.fails.get(k, 0) + o.fails.get(k, 0) for k in KINDS}",
                "{k: min(self.fails.get(k, 0), o.fails.get(k, 0)) for k in KINDS}",
            ),
        ),
        ("tests/unit/test_ingest_types.py",),
        "issue #20",
    ),
    M(
        "ingest-null-keys-dropped",
        "ingest",
        "rows whose partition key is null are read by no partition",
        (
            (
                "distml/ingest/postgres.py",
                'where = f"({where} OR {col} IS NULL)"',
                "where = where",
            ),
        ),
        (
            "tests/integration/test_ingest.py::test_a_postgres_table_in_four_partitions_equals_the_table",
        ),
        "issue #20",
    ),
    M(
        "ingest-declared-failures-written",
        "ingest",
        "rows whose value does not parse as its column's type are written (as null), not quarantined",
        (
            (
                "distml/ingest/pieces.py",
                "elif any_bad.any():",
                "elif False:",
            ),
        ),
        (
            "tests/integration/test_ingest.py::test_a_declared_type_quarantines_the_values_that_do_not_parse",
        ),
        "issue #20",
    ),
    M(
        "ingest-failed-run-leaves-staging",
        "ingest",
        "a run that fails leaves its half-written staging folder beside out",
        (
            (
                "distml/ingest/stage.py",
                "        if sfs.get_file_info(sroot).type != pafs.FileType.NotFound:\n            sfs.delete_dir(sroot)\n",
                "",
            ),
        ),
        (
            "tests/integration/test_ingest.py::test_rerun_refuses_or_replaces_atomically_and_a_failed_run_leaves_nothing",
        ),
        "issue #20",
    ),
    M(
        "ingest-overwrite-deletes-any-folder",
        "ingest",
        "ingest.overwrite=true replaces an out folder that ingest did not write",
        (
            (
                "distml/ingest/stage.py",
                "if kind != pafs.FileType.Directory or fs.get_file_info(marker).type != pafs.FileType.File:",
                "if False:",
            ),
        ),
        (
            "tests/integration/test_ingest.py::test_rerun_refuses_or_replaces_atomically_and_a_failed_run_leaves_nothing",
        ),
        "issue #20 (review)",
    ),
    M(
        "ingest-long-ints-only-where-int-fails",
        "ingest",
        "integers of 16+ digits noticed only in batches that are not all integers (digits lost in float64)",
        (
            (
                "distml/data/text.py",
                'long = f & m["long"]',
                'long = f & ~i & m["long"]',
            ),
        ),
        ("tests/integration/test_ingest.py::test_types_across_files_folders_and_odd_headers",),
        "issue #20 (review)",
    ),
    # -- distml serve (issue #19) -------------------------------------------------------------------
    M(
        "serve-contract-not-checked",
        "serve",
        "served rows are all scored: the row rules are not checked online",
        (
            (
                "distml/serve/answers.py",
                "    ok = served.contract.check(df).to_numpy() &",
                "    ok = (served.contract.check(df).to_numpy() | True) &",
            ),
        ),
        (
            "tests/integration/test_serve.py::test_each_row_that_breaks_the_contract_gets_its_own_error",
        ),
        "issue #19",
    ),
    M(
        "serve-batch-answers-shifted",
        "serve",
        "a batch's answers handed back one row off to the requests that were batched together",
        (
            (
                "distml/serve/deployment.py",
                "                out.append(answers.slice(start, f.height))",
                "                out.append(answers.slice(start + 1, f.height))",
            ),
        ),
        (
            "tests/integration/test_serve.py::test_served_scores_equal_predict_scores_exactly_json_and_arrow",
        ),
        "issue #19",
    ),
    M(
        "serve-type-errors-imputed",
        "serve",
        "a value that does not parse as its column's type is imputed (null) instead of an error",
        (
            (
                "distml/serve/rows.py",
                "            bad = lost.to_numpy() if lost.any() else None",
                "            bad = None",
            ),
        ),
        (
            "tests/integration/test_serve.py::test_each_row_that_breaks_the_contract_gets_its_own_error",
        ),
        "issue #19",
    ),
    M(
        "serve-never-follows-current",
        "serve",
        "the replica compares the old stamp with itself: a promoted model is never swapped in",
        (
            (
                "distml/serve/deployment.py",
                "        if stamp_of(str(self.s.model_run)) == self.served.stamp:",
                "        if self.served.stamp == self.served.stamp:",
            ),
        ),
        (
            "tests/integration/test_serve.py::test_a_promotion_and_a_rollback_are_swapped_in_under_load_with_no_failed_request",
        ),
        "issue #19",
    ),
    M(
        "serve-log-not-flushed-on-stop",
        "serve",
        "a replica that stops does not write the request log rows it holds",
        (
            (
                "distml/serve/deployment.py",
                "        self._stop.set()\n        if self.log is not None:\n            self.log.flush()",
                "        self._stop.set()",
            ),
        ),
        ("tests/integration/test_serve.py::test_the_request_log_is_read_back_by_distml_monitor",),
        "issue #19",
    ),
    M(
        "serve-types-from-families",
        "serve",
        "request values read as the canonical type of their family (float32 columns as float64)",
        (
            (
                "distml/serve/model.py",
                '    p = os.path.join(path, "profile.json")\n    if not os.path.isfile(p):',
                '    p = os.path.join(path, "profile.json")\n    if True:',
            ),
        ),
        ("tests/integration/test_serve.py::test_json_values_are_read_as_the_training_types",),
        "issue #19 (review)",
    ),
    M(
        "contract-reasons-without-rules",
        "monitor",
        "the reasons of a contract with no rules concatenate nothing (monitor of unlabelled data fails)",
        (
            (
                "distml/quality/contract.py",
                "        if not parts:  # no rules",
                "        if False:  # no rules",
            ),
        ),
        ("tests/integration/test_serve.py::test_the_request_log_is_read_back_by_distml_monitor",),
        "issue #19 (review)",
    ),
    M(
        "executor-threads-drop-a-shard",
        "cluster",
        "map_merge on threads never runs the last item",
        (
            (
                "distml/cluster/tasks.py",
                "                for item in it:\n",
                "                for item in it:\n                    if item is items[-1]:\n                        continue\n",
            ),
        ),
        (
            "tests/unit/test_executor.py",
            "tests/integration/test_executor.py::test_a_run_in_threads_writes_what_the_run_on_ray_writes",
        ),
        "issue #17",
    ),
    M(
        "executor-keeper-writes-nothing",
        "train",
        "the keeper of a run in threads stores no checkpoint",
        (
            (
                "distml/model/train.py",
                "        self.keeper.save(rounds, raw, metrics)",
                "        pass",
            ),
        ),
        (
            "tests/integration/test_executor.py::test_a_run_in_threads_writes_what_the_run_on_ray_writes",
        ),
        "issue #17",
    ),
    M(
        "executor-auto-ignores-size",
        "cluster",
        "cluster.executor=auto runs any local run in threads, whatever its rows",
        (
            (
                "distml/cluster/session.py",
                "small = rows is not None and rows <= cluster.threads_max_rows and workers == 1",
                "small = workers == 1",
            ),
        ),
        ("tests/unit/test_executor.py",),
        "issue #17",
    ),
    M(
        "moments-keep-infinities",
        "profile",
        "moments take +-inf in (NaN only is missing): mean and std become inf/NaN",
        (
            (
                "distml/stats/moments.py",
                "    ok = np.isfinite(x)",
                "    ok = ~np.isnan(x)",
            ),
        ),
        ("tests/unit/test_stats_preprocess.py",),
        "issue #17 (found on the way)",
    ),
    M(
        "apply-passes-infinities",
        "preprocess",
        "the shared transform passes +-inf through instead of imputing it",
        (
            (
                "distml/preprocess/apply.py",
                "    raw = finite(pl.col(c))",
                "    raw = pl.col(c).cast(pl.Float64).fill_nan(None)",
            ),
        ),
        ("tests/unit/test_stats_preprocess.py",),
        "issue #17 (found on the way)",
    ),
    M(
        "sketch-share-by-position",
        "profile",
        "the sketches' share at scale is each shard's first rows, not a row-hash share",
        (
            (
                "distml/profile/state.py",
                "    keep = in_share(row_hashes(data) if hashes is None else hashes, job.sketch_fraction)",
                "    keep = np.arange(data.height) < job.sketch_fraction * data.height",
            ),
        ),
        ("tests/unit/test_profile_merge.py",),
        "issue #17",
    ),
    M(
        "hll-small-remainders-unranked",
        "profile",
        "HyperLogLog: hashes whose remainder's top 16 bits are zero keep rank 0",
        (
            (
                "distml/stats/sketches.py",
                "            rank[j] = _REST + 1 - (int(c[j]) & low).bit_length()",
                "            pass",
            ),
        ),
        ("tests/unit/test_profile_merge.py",),
        "issue #17",
    ),
    M(
        "polars-reader-types-unaligned",
        "data",
        "local shards keep Polars' reader's types where pyarrow's (the plan's) differ: date64 "
        "as Datetime, INT96 zoned timestamps shifted by the plan's localize",
        (
            (
                "distml/data/schema.py",
                "    return fix\n",
                "    return {}\n",
            ),
        ),
        ("tests/unit/test_quality.py",),
        "issue #17 (review)",
    ),
    M(
        "value-counts-trust-float-range",
        "profile",
        "integer value counts by bincount trust the float64 range beyond 2^53",
        (("distml/profile/state.py", "        or max(-stats.min, stats.max) >= 2.0**53\n", ""),),
        ("tests/unit/test_profile_merge.py",),
        "issue #17 (review)",
    ),
    M(
        "row-hashes-unmixed",
        "profile",
        "row hashes are Polars' hash_rows as is (top bits not uniform: a share of the hash "
        "space holds another share of the rows)",
        (
            (
                "distml/profile/duplicates.py",
                "    return splitmix64(df.hash_rows(_ROW_SEED).to_numpy())",
                "    return df.hash_rows(_ROW_SEED).to_numpy()",
            ),
        ),
        ("tests/unit/test_profile_merge.py",),
        "issue #17 (found on the way)",
    ),
    # -- issue #28: the bugs a reviewer put into the newest code (each caught now) -----------
    M(
        "text-type-from-the-first-values",
        "ingest",
        "a column's type is decided by its first 64 values (the rest of the column unchecked)",
        (
            (
                "distml/data/text.py",
                "v = s.cast(pl.String).drop_nulls().str.strip_chars()",
                "v = s.cast(pl.String).drop_nulls().str.strip_chars().head(64)",
            ),
        ),
        ("tests/unit/test_ingest_types.py::test_a_late_offending_value_is_counted",),
        "issue #28",
    ),
    M(
        "csv-trailing-bad-lines-lost",
        "ingest",
        "bad lines after the last good block are dropped from the quarantine and from 'in'",
        (("distml/ingest/readers.py", "if bads or not yielded:", "if not yielded:"),),
        ("tests/unit/test_ingest_files.py",),
        "issue #28",
    ),
    M(
        "serve-error-names-the-last-bad-column",
        "serve",
        "a row's error names the last failing column instead of the first",
        (("distml/serve/rows.py", "            if which[i] is None:", "            if True:"),),
        (
            "tests/integration/test_serve.py::test_answers_keep_the_request_order_and_name_a_rows_first_bad_column",
        ),
        "issue #28",
    ),
    M(
        "serve-answers-out-of-request-order",
        "serve",
        "answers come back scored rows first, then error rows, not in request order",
        (
            (
                "distml/serve/answers.py",
                'pl.concat(parts, how="diagonal_relaxed").sort("_i").drop("_i")',
                'pl.concat(parts, how="diagonal_relaxed").drop("_i")',
            ),
        ),
        (
            "tests/integration/test_serve.py::test_answers_keep_the_request_order_and_name_a_rows_first_bad_column",
        ),
        "issue #28",
    ),
    M(
        "label-counts-include-quarantined-rows",
        "profile",
        "the label's counts include the quarantined rows",
        (
            (
                "distml/profile/state.py",
                "vc = counts.get(job.label) if n_bad == 0 else None",
                "vc = counts.get(job.label)",
            ),
        ),
        ("tests/unit/test_quarantine.py",),
        "issue #28",
    ),
    M(
        "distinct-counts-null",
        "profile",
        "DistinctSketch.of counts null as one more distinct value",
        (
            (
                "distml/stats/sketches.py",
                "return cls(hll_registers(s.drop_nulls().hash(HLL_SEED).to_numpy()))",
                "return cls(hll_registers(s.hash(HLL_SEED).to_numpy()))",
            ),
        ),
        ("tests/unit/test_profile_merge.py::test_distinct_counts_leave_nulls_out",),
        "issue #28",
    ),
    M(
        "duplicate-ids-error-is-the-rows-error",
        "duplicates",
        "the duplicate ids' 95% error is reported as the duplicate rows' error",
        (
            (
                "distml/profile/duplicates.py",
                'out["ids_error_95"] = id_error',
                'out["ids_error_95"] = row_error',
            ),
        ),
        (
            "tests/unit/test_profile_merge.py::test_duplicate_estimates_and_their_errors_on_a_hand_worked_case",
        ),
        "issue #28",
    ),
    M(
        "retrain-tolerance-against-lower-is-better",
        "retrain",
        "for lower-is-better metrics the improvement's sign is flipped (tolerance on the wrong side)",
        (
            (
                "distml/stats/paired.py",
                "sign = -1.0 if m in LOWER_IS_BETTER else 1.0",
                "sign = 1.0 if m in LOWER_IS_BETTER else 1.0",
            ),
        ),
        ("tests/unit/test_decisions.py",),
        "issue #28",
    ),
    M(
        "map-shards-in-finish-order",
        "executor",
        "map_shards returns results in the order tasks finish, not item order",
        (
            (
                "distml/cluster/tasks.py",
                "return [out[i] for i in range(len(items))]",
                "return list(out.values())",
            ),
        ),
        (
            "tests/unit/test_executor.py::test_map_shards_keeps_item_order_when_tasks_finish_out_of_order",
            "tests/integration/test_executor.py::test_map_shards_on_ray_keeps_item_order",
        ),
        "issue #28",
    ),
    M(
        "monitor-last-status-wins",
        "monitor",
        "the verdict is the last component's status, not the worst",
        (("distml/monitor.py", "return a if order.index(a) >= order.index(b) else b", "return b"),),
        ("tests/unit/test_decisions.py",),
        "issue #28 (caught before)",
    ),
    M(
        "score-state-scored-as-quarantined",
        "scoring",
        "merged scoring states add the scored rows to the quarantined count",
        (
            (
                "distml/scoring.py",
                "self.rows_quarantined += o.rows_quarantined",
                "self.rows_quarantined += o.rows_scored",
            ),
        ),
        (
            "tests/integration/test_after_deployment.py::test_predict_scores_every_row_or_quarantines_it",
        ),
        "issue #28 (caught before)",
    ),
    # -- issue #28: deliberate bugs of this session's own, in the code it added or guards ------
    M(
        "text-leading-zeros-ignored",
        "ingest",
        "zip codes and account numbers with leading zeros become integers",
        (
            (
                "distml/data/text.py",
                'if kind in ("int", "uint") and self.leading_zero:',
                'if kind in ("int", "uint") and False:',
            ),
        ),
        (UI,),
        "issue #28 (own)",
    ),
    M(
        "text-thousands-separator-kept",
        "ingest",
        "a thousands separator (1,234.50) makes the value fail as a number",
        (
            (
                "distml/data/parse.py",
                "    grouped = t.str.contains(_US_GROUPED)\n",
                "    grouped = pl.lit(False)\n",
            ),
        ),
        (UI,),
        "issue #28 (own)",
    ),
    M(
        "text-decimal-comma-ignored",
        "ingest",
        "with the comma convention, -0,083 is not read as -0.083",
        (
            (
                "distml/data/parse.py",
                '        return t.str.replace(",", ".", literal=True)',
                "        return t",
            ),
        ),
        (UI,),
        "issue #28 (own)",
    ),
    M(
        "text-space-separated-timestamps-fail",
        "ingest",
        "ISO 8601 timestamps with a space for 'T' do not parse",
        (
            (
                "distml/data/parse.py",
                '    if "space" in forms:\n',
                '    if "space" in forms and False:\n',
            ),
        ),
        (UI,),
        "issue #28 (own)",
    ),
    M(
        "text-naive-timestamps-read-as-utc",
        "ingest",
        "naive timestamps are read as UTC instead of ingest.timezone / quality.timezone",
        (
            (
                "distml/data/parse.py",
                'naive = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")',
                'naive = naive.dt.replace_time_zone("UTC", ambiguous="earliest", non_existent="null")',
            ),
        ),
        (UI,),
        "issue #28 (own)",
    ),
    M(
        "text-counts-merged-by-max",
        "ingest",
        "merged failure counts take the larger side's instead of the sum",
        (
            (
                "distml/data/text.py",
                "{k: self.fails.get(k, 0) + o.fails.get(k, 0) for k in KINDS}",
                "{k: max(self.fails.get(k, 0), o.fails.get(k, 0)) for k in KINDS}",
            ),
        ),
        (UI,),
        "issue #28 (own)",
    ),
    M(
        "text-first-kind-not-fewest-failures",
        "ingest",
        "the first kind in order is taken, not the one with the fewest failures (1, 2.5 is text)",
        (
            (
                "distml/data/text.py",
                "kind = min(kinds, key=lambda k: (fails[k], KINDS.index(k)))",
                "kind = kinds[0]",
            ),
        ),
        (UI,),
        "issue #28 (own)",
    ),
    M(
        "headers-matched-case-sensitively",
        "ingest",
        "'Customer Age' and 'customer_age' stay two half-null columns",
        (("distml/data/columns.py", "name.casefold()", "name"),),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "headers-spelled-as-the-first-file",
        "ingest",
        "a merged column takes the first file's spelling, not the most common one",
        (
            (
                "distml/data/columns.py",
                "max(sp, key=lambda s: (sp[s], -first[s]))",
                "max(sp, key=lambda s: -first[s])",
            ),
        ),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "delimiter-first-that-splits",
        "ingest",
        "the sniffer takes the first delimiter that splits lines, not the most consistent",
        (
            (
                "distml/ingest/readers.py",
                "if fields >= 2 and (share, fields) > score:",
                "if fields >= 2 and best is None:",
            ),
        ),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "broken-cells-written",
        "ingest",
        "rows with a cell that does not parse are counted as quarantined but still written",
        (
            (
                "distml/ingest/pieces.py",
                "            out = out.filter(keep)\n",
                "            pass\n",
            ),
        ),
        (
            "tests/integration/test_corpus.py::test_case[a thousands separator and a broken cell in a number column]",
        ),
        "issue #28 (own)",
    ),
    M(
        "hygiene-sequences-kept",
        "profile",
        "an integer sequence (1..N) is not recognised as an identifier",
        (("distml/profile/hygiene.py", "if hi - lo + 1 <= 2 * distinct:", "if False:"),),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "hygiene-constant-beside-nulls",
        "profile",
        "a column with one value beside nulls is left out as constant (its null pattern lost)",
        (("distml/profile/hygiene.py", "if constant and n == rows:", "if constant:"),),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "leakage-null-bucket-one-end",
        "preprocess",
        "the single-column AUC tries the null bucket at the low end only",
        (
            (
                "distml/preprocess/separation.py",
                "for placed in ([null, *ordered], [*ordered, null]) if null else ([*ordered],):",
                "for placed in ([null, *ordered],) if null else ([*ordered],):",
            ),
        ),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "moments-unscaled",
        "profile",
        "moments of values near 1e200 are computed unscaled: the standard deviation overflows",
        (
            (
                "distml/stats/moments.py",
                "    if top == 0 or SMALL <= top <= BIG:\n",
                "    if True:\n",
            ),
        ),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "quantiles-outside-the-range",
        "profile",
        "quantiles are bucket boundaries beyond the column's min and max",
        (
            (
                "distml/stats/sketches.py",
                "                v = min(max(v, lo), hi)\n",
                "                pass\n",
            ),
        ),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "float32-overflow",
        "preprocess",
        "a feature near 1e200 reaches the model's float32 as infinity (no power-of-two rescale)",
        (
            (
                "distml/preprocess/fit.py",
                "    if half == 0 or lo <= 2 * half <= hi:",
                "    if True:",
            ),
        ),
        (MR,),
        "issue #28 (own)",
    ),
    M(
        "duplicates-none-seen-no-error",
        "duplicates",
        "an estimate of zero duplicates is given no error (the rule of three dropped)",
        (("distml/profile/duplicates.py", "if n else 3.0", "if n else 0.0"),),
        (
            "tests/unit/test_profile_merge.py::test_duplicate_estimates_and_their_errors_on_a_hand_worked_case",
        ),
        "issue #28 (own)",
    ),
    M(
        "monitor-drift-threshold-exclusive",
        "monitor",
        "a PSI exactly at monitor's drift threshold is only a warning",
        (
            (
                "distml/monitor.py",
                'return "drift" if value >= drift else',
                'return "drift" if value > drift else',
            ),
        ),
        ("tests/unit/test_decisions.py",),
        "issue #28 (own)",
    ),
    M(
        "curve-lower-is-better-reversed",
        "curve",
        "the curve's recommendation reads RMSE as higher-is-better",
        (
            (
                "distml/curve/fit.py",
                "return v - ref if lower_is_better else ref - v",
                "return ref - v if lower_is_better else v - ref",
            ),
        ),
        ("tests/unit/test_curve.py::test_recommend_on_hand_made_curves",),
        "issue #28 (own)",
    ),
    M(
        "serve-floats-truncated-to-integers",
        "serve",
        "a JSON 2.5 sent for an integer column is truncated to 2 instead of rejected",
        (
            (
                "distml/serve/rows.py",
                "whole = (s.is_finite() & (s == s.floor())).fill_null(False)",
                "whole = s.is_finite().fill_null(False)",
            ),
        ),
        (
            "tests/integration/test_serve.py::test_each_row_that_breaks_the_contract_gets_its_own_error",
        ),
        "issue #28 (own)",
    ),
    M(
        "json-artifacts-with-nan",
        "artifacts",
        "a non-finite float reaches a JSON artifact (NaN/Infinity literals)",
        (("distml/artifacts.py", "return obj if math.isfinite(obj) else None", "return obj"),),
        (MR,),
        "issue #28 (own)",
    ),
    # -- issue #30: decisions on intervals ------------------------------------------------------
    M(
        "skill-gate-on-the-point",
        "retrain",
        "the skill gate reads the candidate's point ROC AUC, not its interval's lower end",
        (
            (
                "distml/stats/paired.py",
                "passed = iv is not None and iv[0] > chance",
                "passed = (c_all.get(name) or 0.0) > chance",
            ),
        ),
        ("tests/unit/test_decisions.py",),
        "issue #30",
    ),
    M(
        "paired-replicates-unpaired",
        "retrain",
        "the current model's replicate weights drawn with another seed (an unpaired comparison)",
        (
            (
                "distml/retrain.py",
                "Scored.of(job.task, pred, y, ids, rw, job.replicates, job.seed, th)",
                "Scored.of(job.task, pred, y, ids, rw, job.replicates, job.seed + (name == 'current'), th)",
            ),
        ),
        (f"{AD}::test_retrain_promotes_only_a_candidate_that_is_not_worse",),
        "issue #30",
    ),
    M(
        "trained-rows-not-excluded",
        "retrain",
        "test rows the current model trained on are compared anyway",
        (
            (
                "distml/retrain.py",
                "seen = job.trained.seen(df)",
                "seen = job.trained.seen(df) & False",
            ),
        ),
        (f"{AD}::test_retrain_promotes_only_a_candidate_that_is_not_worse",),
        "issue #30",
    ),
    M(
        "promotion-without-compare-and-swap",
        "registry",
        "a promotion does not check that current is still what it compared against",
        (("distml/registry.py", "if expected is ANY or now == expected:", "if True:"),),
        (
            "tests/unit/test_promotion.py::test_two_promotions_at_the_same_moment_one_wins_one_is_refused",
        ),
        "issue #30",
    ),
    M(
        "rollback-to-the-newest-older-number",
        "registry",
        "rollback goes to the newest older version number, not the model current before",
        (
            (
                "distml/registry.py",
                'if e.get("action") == "promote" and e.get("version") == now and e.get("previous"):',
                "if False:",
            ),
        ),
        ("tests/unit/test_promotion.py::test_promote_and_rollback_follow_the_history",),
        "issue #30",
    ),
    M(
        "early-stopping-on-the-last-metric",
        "train",
        "early stopping watches XGBoost's last eval_metric (aucpr) instead of the chosen one",
        (("distml/model/worker.py", "metric_name=job.stopping_metric,", "metric_name=None,"),),
        (
            "tests/integration/test_early_stopping.py::test_early_stopping_is_as_good_as_fixed_rounds_at_100_valid_positives",
        ),
        "issue #30",
    ),
    M(
        "ranking-stopping-at-any-positive-count",
        "train",
        "a ranking stopping metric is used whatever valid's positive count",
        (("distml/objective.py", "if positives >= min_positives:", "if True:"),),
        ("tests/integration/test_early_stopping.py",),
        "issue #30",
    ),
    M(
        "curve-recommends-anyway",
        "curve",
        "the curve recommends a size when its intervals are wider than the tolerance",
        (("distml/curve/report.py", "if half <= tolerance:", "if True:"),),
        ("tests/unit/test_curve.py",),
        "issue #30",
    ),
    M(
        "curve-extrapolates-an-untrusted-fit",
        "curve",
        "an untrusted fit is extrapolated",
        (
            (
                "distml/curve/report.py",
                "            if trusted\n",
                "            if law is not None\n",
            ),
        ),
        ("tests/unit/test_curve.py",),
        "issue #30",
    ),
    M(
        "label-verdict-on-the-point",
        "monitor",
        "the positive rate's verdict reads the point change, not its interval",
        (
            (
                "distml/monitor.py",
                'status = verdict(ch["interval"], 0.0, ch["reference_rate"], m.label_rate_drift)',
                'status = verdict([ch["difference"]] * 2, 0.0, ch["reference_rate"], m.label_rate_drift)',
            ),
        ),
        (f"{AD}::test_no_drift_on_fresh_data_from_the_training_distribution",),
        "issue #30",
    ),
    M(
        "promote-an-unfinished-run",
        "registry",
        "a run lacking reference.json or trained_rows.parquet is promoted",
        (("distml/registry.py", "    if missing:\n", "    if False:\n"),),
        ("tests/unit/test_promotion.py::test_a_run_that_did_not_finish_is_not_promoted",),
        "issue #30 (review)",
    ),
    M(
        "stopping-metric-unchecked",
        "train",
        "model.stopping_metric is not checked against XGBoost's names at start",
        (("distml/config/model.py", "base in XGBOOST_METRICS,", "True,"),),
        (
            "tests/integration/test_early_stopping.py::test_a_stopping_metric_is_checked_against_xgboosts_names",
        ),
        "issue #30 (review)",
    ),
    M(
        "live-metrics-unchecked-and-unlabelled-silent",
        "monitor",
        "monitor.live_metrics is not checked before scoring, and unlabelled data says nothing",
        (
            ("distml/monitor.py", "    if unknown:\n", "    if False:\n"),
            ("distml/monitor.py", 'report["not_checked"] = (', 'report["_"] = ('),
        ),
        (
            f"{AD}::test_unlabelled_data_says_what_is_not_checked_and_live_metrics_are_checked_first",
        ),
        "issue #30 (review)",
    ),
    M(
        "curve-largest-not-the-runs-model",
        "curve",
        "the largest size trains on the curve's bands with its share of CPUs, not as distml run",
        (
            (
                "distml/curve/stage.py",
                "if run_train is not None and i == len(sizes) - 1:",
                "if False:",
            ),
        ),
        (
            "tests/integration/test_curve.py::test_curve_nested_sets_same_test_rows_and_cached_data_stages",
        ),
        "issue #30 (review)",
    ),
    M(
        "live-metrics-do-not-count",
        "monitor",
        "a live metric's drop is reported but does not change the status",
        (
            (
                "distml/monitor.py",
                '        v.add(\n            ch["status"],',
                '        v.add(\n            "ok",',
            ),
        ),
        (f"{AD}::test_a_live_precision_drop_is_not_ok_and_the_page_plots_it",),
        "issue #30",
    ),
    # -- issue #31: the house, second pass ------------------------------------------------------
    M(
        "cluster-imports-serve",
        "layout",
        "a deliberate cluster -> serve import (a loop through packages, no module loop)",
        (
            (
                "distml/cluster/session.py",
                '    """The open session (a default one outside a command)."""\n',
                '    """The open session (a default one outside a command)."""\n'
                "    from distml.serve.rows import MARKS  # noqa: F401\n",
            ),
        ),
        ("tests/unit/test_layout.py",),
        "issue #31",
    ),
    M(
        "ray-imported-at-load",
        "layout",
        "cluster/tasks.py imports Ray when it is loaded (every in-process run pays for it)",
        (
            (
                "distml/cluster/tasks.py",
                "from distml.errors import UserError\n",
                "import ray  # noqa: F401\nfrom distml.errors import UserError\n",
            ),
        ),
        ("tests/unit/test_layout.py::test_importing_distml_does_not_load_ray",),
        "issue #31",
    ),
    M(
        "console-not-kept",
        "cli",
        "distml.log does not get what the console shows",
        (
            (
                "distml/progress.py",
                "            if self.log.closed:\n                return n\n",
                "            if True:\n                return n\n",
            ),
        ),
        ("tests/integration/test_cli_pipeline.py::test_distml_log_keeps_what_the_console_showed",),
        "issue #31",
    ),
    M(
        "profile-json-drops-features",
        "profile",
        "the typed profile report leaves its features out of profile.json",
        (
            (
                "distml/profile/report.py",
                '        "features",\n        "schema",\n',
                '        "schema",\n',
            ),
        ),
        (
            "tests/integration/test_corpus.py::"
            "test_an_id_and_free_text_are_left_out_with_the_reason_and_a_console_line",
        ),
        "issue #31",
    ),
    M(
        "lost-worker-not-told-apart",
        "train",
        "a lost worker is raised as Ray's error, not WorkersLost: no restart from the checkpoint",
        (
            (
                "distml/model/train.py",
                "        if lost:\n            raise WorkersLost(",
                "        if False:\n            raise WorkersLost(",
            ),
        ),
        (
            "tests/integration/test_train_distributed.py::"
            "test_losing_a_worker_node_resumes_from_the_newest_checkpoint",
        ),
        "issue #31",
    ),
    M(
        "threads-run-loads-ray",
        "cluster",
        "deciding the workers' CPUs imports Ray before seeing the run is in threads",
        (
            (
                "distml/cluster/session.py",
                "    if cluster.cpus_per_worker is not None:\n        return cluster.cpus_per_worker\n",
                "    import ray  # noqa: F401\n\n    if cluster.cpus_per_worker is not None:\n        return cluster.cpus_per_worker\n",
            ),
        ),
        (
            "tests/integration/test_executor.py::"
            "test_a_small_local_run_chooses_threads_and_needs_no_ray",
        ),
        "issue #31",
    ),
    M(
        "progress-redraws-logged",
        "cli",
        "every redraw of a progress bar on a terminal goes into distml.log, run together",
        (
            (
                "distml/progress.py",
                'self.log.write(line.rstrip("\\r").rsplit("\\r", 1)[-1] + "\\n")',
                'self.log.write(line + "\\n")',
            ),
        ),
        ("tests/unit/test_console.py",),
        "issue #31",
    ),
    # -- issue #33: online scoring as documented -------------------------------------------------
    M(
        "serve-duplicate-key-last-wins",
        "serve",
        "a row naming a key twice is scored with the last value, not refused",
        (
            (
                "distml/serve/rows.py",
                "json.loads(body, parse_constant=_not_json, object_pairs_hook=_object)",
                "json.loads(body, parse_constant=_not_json)",
            ),
        ),
        ("tests/integration/test_serve.py::test_a_malformed_request_is_a_4xx_with_one_message",),
        "issue #33",
    ),
    M(
        "serve-token-not-checked",
        "serve",
        "with DISTML_SERVE_TOKEN set, a request without the token is scored anyway",
        (
            (
                "distml/serve/auth.py",
                "    if token is None:\n        return True\n",
                "    return True\n",
            ),
        ),
        (
            "tests/integration/test_serve.py::"
            "test_a_bearer_token_from_the_environment_guards_predict_and_model",
        ),
        "issue #33",
    ),
]


def _copy(dst: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for f in files:
        if not f:
            continue
        src = ROOT / f.decode()
        if src.is_file():
            (dst / f.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f.decode())


def _apply(copy: Path, m: Mutant) -> None:
    for path, old, new in m.edits:
        p = copy / path
        text = p.read_text()
        n = text.count(old)
        if n != 1:
            raise SystemExit(f"mutant {m.name}: {path} has {n} copies of {old!r} (need exactly 1)")
        p.write_text(text.replace(old, new))


def run(m: Mutant, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.name}-") as tmp:
        copy = Path(tmp)
        _copy(copy)
        _apply(copy, m)
        env = {**os.environ, "PYTHONPATH": str(copy), "DISTML_CACHE": "false"}
        probe = subprocess.run(
            [sys.executable, "-c", "import distml; print(distml.__file__)"],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
        )
        assert probe.stdout.strip().startswith(str(copy)), probe.stdout + probe.stderr
        t0 = time.time()
        try:
            p = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
                cwd=copy,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            rc, tail = p.returncode, (p.stdout + p.stderr)[-600:]
        except subprocess.TimeoutExpired:
            rc, tail = -1, "timed out"
    failed = [ln for ln in tail.splitlines() if ln.startswith("FAILED")]
    return {
        "mutant": m.name,
        "stage": m.stage,
        "bug": m.bug,
        "source": m.source,
        "tests": list(m.tests),
        "exit": rc,
        "caught": rc == 1,
        "failed": failed,
        "seconds": round(time.time() - t0, 1),
        "tail": tail if rc != 1 else "",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-k", default="", help="comma-separated parts of mutant names")
    ap.add_argument("--source", default="", help="part of the mutants' source (an issue: '#28')")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    keys = [k for k in a.k.split(",") if k]
    chosen = [
        m for m in MUTANTS if (not keys or any(k in m.name for k in keys)) and a.source in m.source
    ]
    if a.list:
        for m in chosen:
            print(f"{m.name:40} {m.stage:10} {m.bug}")
        return 0
    results = []
    print("| deliberate bug | stage | tests run | caught? | seconds |")
    print("|---|---|---|---|---|")
    for m in chosen:
        r = run(m, a.timeout)
        results.append(r)
        tests = ", ".join(t.split("::")[-1] for t in m.tests)
        verdict = "yes" if r["caught"] else f"NO (exit {r['exit']})"
        print(f"| {m.bug} | {m.stage} | {tests} | {verdict} | {r['seconds']} |", flush=True)
        if not r["caught"]:
            print(r["tail"], file=sys.stderr)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))
    return 0 if all(r["caught"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
