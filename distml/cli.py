"""``distml <command> [hydra overrides]``: the command entries.

Each command is a Hydra app over its own primary config (``conf/<command>.yaml``); its task
converts the composed config to typed settings, opens the one Ray session of the command
(started on first use, distml/cluster/session.py) and calls the command. A user error is one
paragraph on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

USAGE = """usage: distml <command> [overrides...]

commands:
  run        the whole pipeline: profile, sample, preprocess, train, evaluate (-m for a sweep)
  ingest     CSV/TSV/NDJSON files or a PostgreSQL table into sharded Parquet:
             source=<files or postgresql://host/db> out=<folder> [ingest.table=...]
  generate   write the synthetic dataset (synthetic.rows, synthetic.shards, ..., seed)
  predict    score new data with a trained run: model_run=<run or model dir> data.path=<data>
  monitor    drift of new data against a run's reference: model_run=... data.path=...
             (exit 0 ok, 4 warn, 5 drift)
  serve      the model behind HTTP with Ray Serve: model_run=<run or models/current>
             (POST /predict, GET /model, GET /healthz; follows models/current as it moves)
  submit     run the pipeline as a Ray Job: cluster.address=http://HEAD:8265 [overrides]
             [--env NAME]... [--no-wait]; `submit status|logs|stop JOB_ID cluster.address=...`
  curve      how big must the sample be? models on nested training sets of growing size
             (curve.sizes=[...] or a ladder up to the sample's train split), the learning curve
             fitted and a size recommended: curve.json, plots/curve.png, report.html
  retrain    train a candidate on data.path and promote it to retrain.models_dir/current only if
             it passes eval.gates, is not worse than the current model on rows neither trained
             on (paired bootstrap interval) and shows skill (exit 3 if not)
  promote    make a finished run the current model by hand: model_run=<run> [reason=...]
  rollback   current back to the model before it: [to=vNNNN] [reason=...]
             (retrain.models_dir; both keep history.jsonl there)

Overrides are Hydra's: key=value, e.g. `distml run sampling.size=50000 model.params.max_depth=4`.
`distml run --cfg job` prints the composed config; `distml run --help` lists the config groups.
"""


def _uploaded(fn: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """The command, then its run directory copied to pipeline.output_uri (when set)."""

    def command(s: Any, run_dir: str) -> Any:
        from distml.data.fs import upload
        from distml.progress import say

        try:
            return fn(s, run_dir)
        finally:
            if s.pipeline.output_uri:
                seconds = upload(run_dir, s.pipeline.output_uri)
                say("upload", f"copied {run_dir} to {s.pipeline.output_uri} in {seconds:.1f} s")

    return command


def _run(s: Any, run_dir: str) -> Any:
    from distml.pipeline import run_pipeline

    return run_pipeline(s, run_dir)


def _curve(s: Any, run_dir: str) -> Any:
    from distml.curve.stage import run_curve

    return run_curve(s, run_dir)


def _generate(s: Any, run_dir: str) -> dict[str, Any]:
    from distml.cluster.session import choose_executor
    from distml.synthetic import generate, synthetic_path

    choose_executor(s.cluster, s.synthetic.rows, workers=1)
    uri = s.data.path or os.path.abspath(synthetic_path(s.synthetic, s.seed))
    info = generate(s.synthetic, s.seed, uri, num_cpus=s.cluster.task_cpus)
    print(
        f"wrote {s.synthetic.rows:,} rows in {s.synthetic.shards} files to {uri} "
        f"({info['seconds']:.1f} s)",
        file=sys.stderr,
    )
    return info


def _ingest(s: Any, run_dir: str) -> Any:
    from distml.ingest.stage import run_ingest

    return run_ingest(s, run_dir)


def _predict(s: Any, run_dir: str) -> Any:
    from distml.predict import run_predict

    return run_predict(s, run_dir)


def _monitor(s: Any, run_dir: str) -> Any:
    from distml.monitor import run_monitor

    return run_monitor(s, run_dir)


def _serve(s: Any, run_dir: str) -> Any:
    from distml.serve.command import prepare_serve
    from distml.serve.deployment import serve_app

    return serve_app(*prepare_serve(s, run_dir))


def _retrain(s: Any, run_dir: str) -> Any:
    from distml.retrain import run_retrain

    return run_retrain(s, run_dir)


def _promote(s: Any, run_dir: str) -> Any:
    from distml.registry import run_promote

    return run_promote(s, run_dir)


def _rollback(s: Any, run_dir: str) -> Any:
    from distml.registry import run_rollback

    return run_rollback(s, run_dir)


COMMANDS: dict[str, Callable[[Any, str], Any]] = {
    "run": _uploaded(_run),
    "curve": _uploaded(_curve),
    "generate": _generate,
    "ingest": _ingest,
    "predict": _predict,
    "monitor": _monitor,
    "retrain": _retrain,
    "serve": _serve,
    "promote": _promote,
    "rollback": _rollback,
}
"""Command -> its function of (settings, Hydra's run directory); the config is conf/<command>.yaml."""


def _task(fn: Callable[[Any, str], Any]) -> Callable[[Any], Any]:
    """The Hydra task of a command: typed settings, the command's Ray session, the command."""

    def task(cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig

        from distml.cluster.session import ray_session
        from distml.config import to_settings

        s = to_settings(cfg)
        if not hasattr(s, "cluster"):  # the models directory's commands need no Ray
            return fn(s, HydraConfig.get().runtime.output_dir)
        with ray_session(s.cluster):
            return fn(s, HydraConfig.get().runtime.output_dir)

    return task


def _app(cmd: str) -> Callable[[], Any]:
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from distml.config import conf_dir, register_configs
    from distml.errors import UserError

    register_configs()
    GlobalHydra.instance().clear()  # a second command in the same process starts afresh
    task = _task(COMMANDS[cmd])

    @hydra.main(version_base="1.3", config_path=conf_dir(), config_name=cmd)
    def app(cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig

        from distml.progress import tee_console

        out = HydraConfig.get().runtime.output_dir
        os.makedirs(out, exist_ok=True)
        with tee_console(os.path.join(out, "distml.log")):  # the console, kept with the run
            try:
                return task(cfg)
            except UserError as exc:
                if os.environ.get("DISTML_TRIAL"):  # a sweep trial: the launcher reports it
                    raise
                print(f"distml: {exc.prefix}: {exc}", file=sys.stderr, flush=True)
                sys.exit(exc.exit_code)
            except KeyboardInterrupt:
                print("distml: interrupted", file=sys.stderr)
                sys.exit(130)

    return app


_NOISE = ("full_key", "reference_type", "object_type", "Config search path")


def _unparsable(overrides: list[str]) -> None:
    """The first override Hydra's grammar cannot read, in one paragraph with the quoting that
    works: values holding '=', brackets, commas, spaces or a word followed by '(' (Hydra reads
    ``NAME(...)`` as one of its functions) must be quoted for Hydra, and that for the shell."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from distml.errors import UserError, shell_quoted

    parser = OverridesParser.create()
    for o in overrides:
        if o.startswith("-") or "=" not in o:
            continue
        try:
            parser.parse_overrides([o])
        except HydraException as exc:
            skip = ("See ", "Available:", "Error parsing override", "^")
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            why = next((ln for ln in lines if not ln.startswith(skip)), "")
            why = why.split("': ", 1)[-1] if why.startswith("HydraException") else why
            key, _, value = o.partition("=")
            fixed = shell_quoted(o)
            raise UserError(
                f"Hydra cannot read the override {o!r}: {why.rstrip('.')}. Its value holds "
                "characters Hydra's override grammar gives a meaning to ('=', brackets, braces, "
                "commas, spaces, quotes, or NAME(...), which Hydra calls as a function), so "
                f"quote the value for Hydra and the whole for your shell: {fixed} (the shell "
                f"removes the outer quotes, Hydra the inner ones, and {key} gets {value!r})."
            ) from None


def check_overrides(cmd: str, overrides: list[str]) -> None:
    """Compose the command's config once before Hydra runs, to report a bad key or value in one
    paragraph (Hydra's own hints kept). Skipped for sweeps and Hydra's flags."""
    from distml.config import conf_dir, register_configs, renamed_key
    from distml.errors import UserError

    for o in overrides:
        new = renamed_key(o)
        if new is not None:
            old = o.lstrip("+~").split("=", 1)[0]
            raise UserError(
                f"The key '{old}' is now '{new}'; write {new}=... instead (the synthetic "
                "dataset's settings are under synthetic.*, the profile's under profile.*)."
            )
    if any(a.startswith("-") for a in overrides):
        return
    _unparsable(overrides)
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_configs()
    try:
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            cfg = compose(cmd, overrides=[o for o in overrides if not o.startswith("hydra.")])
    except (HydraException, OmegaConfBaseException) as exc:
        parts: list[str] = []
        for e in (exc, exc.__cause__):
            for line in str(e or "").split("\n"):
                line = line.strip()
                if line.startswith("provider="):
                    break
                if line and not line.startswith(_NOISE) and line not in parts:
                    parts.append(line)
        raise UserError(
            f"{' '.join(parts).rstrip('.')}. Check the key's spelling and type against "
            f"conf/ (`distml {cmd} --cfg job` prints every key with its value)."
        ) from None
    synthetic = [o for o in overrides if o.lstrip("+~").startswith(("synthetic.", "synthetic="))]
    path = cfg.get("data", {}).get("path") if "synthetic" in cfg else None
    if synthetic and path and cmd != "generate":  # generate writes the dataset to data.path
        raise UserError(
            f"{synthetic[0]!r} describes the generated dataset, which a run reads only when "
            f"data.path is null; data.path is '{path}'. Drop the synthetic.* overrides, or "
            "data.path."
        )


def _need_optuna() -> None:
    import importlib.util

    from distml.errors import UserError

    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None:
        raise UserError(
            "hydra/sweeper=optuna needs the Optuna sweeper, an optional extra of distml: "
            "pip install 'distml[optuna]' (it installs hydra-optuna-sweeper and optuna 2.10)."
        )


def _no_secrets(overrides: list[str]) -> None:
    """A password in a database URI is refused before Hydra saves the overrides of the run."""
    from distml.ingest.postgres import check_uri

    for o in overrides:
        key, _, value = o.partition("=")
        if key.lstrip("+~") == "source":
            check_uri(value.strip("'\""))


def _submit(rest: list[str]) -> int:
    from distml.cluster import jobs

    overrides, _, _ = jobs.split_args(rest)
    if not overrides or overrides[0] not in jobs.ACTIONS:
        check_overrides("run", overrides)  # reported here, not after the job has started
    return jobs.main(rest)


def main(argv: list[str] | None = None) -> None:
    """The ``distml`` console script (and ``python -m distml``)."""
    # Ray reads its auth mode when it is imported: decide it before anything imports ray.
    from distml.cluster.session import configure_auth
    from distml.errors import UserError

    configure_auth()
    from distml.sweep import TALLY

    TALLY.trials = TALLY.failed = 0
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0 if args else 2)
    cmd, rest = args[0], args[1:]
    try:
        if cmd == "submit":
            sys.exit(_submit(rest))
        if cmd not in COMMANDS:
            raise UserError(
                f"unknown command '{cmd}'. Commands: {', '.join([*COMMANDS, 'submit'])}.\n\n{USAGE}"
            )
        if cmd == "ingest":
            _no_secrets(rest)
        if any(a.replace(" ", "") == "hydra/sweeper=optuna" for a in rest):
            _need_optuna()
        check_overrides(cmd, rest)
    except UserError as exc:
        print(f"distml: {exc.prefix}: {exc}", file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)
    sys.argv = [f"distml {cmd}", *rest]
    _app(cmd)()
    if TALLY.failed:
        print(
            f"distml: error: {TALLY.failed} of {TALLY.trials} sweep trials failed; the "
            "leaderboard above and sweep.json in the sweep directory have each trial's error.",
            file=sys.stderr,
        )
        sys.exit(1)
