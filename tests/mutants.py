"""Deliberate bugs, each put into a scratch copy of the project, and the tests that must catch them.

    python tests/mutants.py                 # every mutant (about 20 minutes on 2 cores)
    python tests/mutants.py -k neyman,split # mutants whose name contains one of these
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
                "distml/retrain.py",
                "better = c_val >= o_val - tolerance",
                "better = c_val >= o_val",
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
        (("distml/retrain.py", "lower = metric in LOWER_IS_BETTER", "lower = False"),),
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
                "st.metric = _state(task, pred, y, rw, sm.bins)",
                "st.metric = _state(task, pred, y, rw, None)",
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
                "distml/ingest/files.py",
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
        (("distml/ingest/types.py", "self.mask & other.mask", "self.mask | other.mask"),),
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
                "if failed is not None:",
                "if False:",
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
                "distml/ingest/types.py",
                'if mask & bits["float"] and not long_int:',
                'if mask & bits["float"] and not mask & bits["int"] and not long_int:',
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
                "    ok = accepted(df, served.contract).to_numpy() &",
                "    ok = (accepted(df, served.contract).to_numpy() | True) &",
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
                "distml/cluster/serve.py",
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
                "distml/cluster/serve.py",
                "        if stamp_of(str(self.s.model_run)) == self.served.stamp:",
                "        if self.served.stamp == self.served.stamp:",
            ),
        ),
        (
            "tests/integration/test_serve.py::test_a_promoted_model_is_swapped_in_under_load_with_no_failed_request",
        ),
        "issue #19",
    ),
    M(
        "serve-log-not-flushed-on-stop",
        "serve",
        "a replica that stops does not write the request log rows it holds",
        (
            (
                "distml/cluster/serve.py",
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
                "small = rows <= cluster.threads_max_rows and workers == 1",
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
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    keys = [k for k in a.k.split(",") if k]
    chosen = [m for m in MUTANTS if not keys or any(k in m.name for k in keys)]
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
