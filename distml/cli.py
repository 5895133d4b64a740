"""``distml <command> [hydra overrides]``: each command is a Hydra app over conf/."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

USAGE = """usage: distml <command> [overrides...]

commands:
  run        the whole pipeline: profile, sample, preprocess, train, evaluate (-m for a sweep)
  generate   write the synthetic dataset (data.rows, data.shards, data.positive_rate, data.drift, seed)
  predict    score new data with a trained run: model_run=<run or model dir> data.path=<data>
  monitor    drift of new data against a run's reference: model_run=... data.path=...
             (exit 0 ok, 4 warn, 5 drift)
  submit     run the pipeline as a Ray Job: cluster.address=http://HEAD:8265 [overrides]
             [--env NAME]... [--no-wait]; `submit status|logs|stop JOB_ID cluster.address=...`
  retrain    train a candidate on data.path and promote it to retrain.models_dir/current only if
             it passes eval.gates and is not worse than the current model (exit 3 if not)

Overrides are Hydra's: key=value, e.g. `distml run sampling.size=50000 model.params.max_depth=4`.
`distml run --cfg job` prints the composed config; `distml run --help` lists the config groups.
"""


def conf_dir() -> str:
    """conf/ next to the package (source checkout, Ray job working dir) or in the current dir."""
    candidates = [
        os.environ.get("DISTML_CONFIG_DIR"),
        str(Path(__file__).resolve().parent.parent / "conf"),
        str(Path.cwd() / "conf"),
    ]
    for c in candidates:
        if c and (Path(c) / "config.yaml").is_file():
            return str(Path(c).resolve())
    print(
        "distml: error: cannot find the config folder conf/ (with config.yaml). Run distml from the "
        "project folder, or set DISTML_CONFIG_DIR to the folder that holds config.yaml.",
        file=sys.stderr,
    )
    sys.exit(2)


def _in_run_dir(fn: Callable[[Any, str], Any]) -> Callable[[Any], Any]:
    """A Hydra task calling ``fn(settings, hydra_run_dir)``."""

    def task(cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig

        from distml.config import to_settings

        return fn(to_settings(cfg), HydraConfig.get().runtime.output_dir)

    return task


def _commands() -> dict[str, Callable[[Any], Any]]:
    from distml import monitor, pipeline, predict, retrain

    return {
        "run": pipeline.hydra_run,
        "generate": pipeline.hydra_generate,
        "predict": _in_run_dir(predict.run_predict),
        "monitor": _in_run_dir(monitor.run_monitor),
        "retrain": _in_run_dir(retrain.run_retrain),
    }


def _app(task: Callable[[Any], Any]) -> Callable[[], Any]:
    import hydra

    from distml.config import register_configs
    from distml.errors import UserError

    register_configs()

    @hydra.main(version_base="1.3", config_path=conf_dir(), config_name="config")
    def app(cfg: Any) -> Any:
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


def check_overrides(overrides: list[str]) -> None:
    """Compose the config once before Hydra runs, to report a bad key or value in one paragraph.

    Skipped for sweeps and Hydra's own flags, where Hydra reports problems itself.
    """
    if any(a.startswith("-") for a in overrides):
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from distml.config import register_configs

    register_configs()
    try:
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            compose("config", overrides=[o for o in overrides if not o.startswith("hydra.")])
    except (HydraException, OmegaConfBaseException) as exc:
        parts = []
        for e in (exc, exc.__cause__):
            for line in str(e or "").split("\n"):
                line = line.strip()
                if line.startswith(
                    ("To append", "full_key", "reference_type", "object_type", "Config search path")
                ):
                    continue
                if line.startswith("provider="):
                    break
                if line and line not in parts:
                    parts.append(line)
        print(
            f"distml: error: {' '.join(parts).rstrip('.')}. Check the key's spelling and type "
            "against conf/ (`distml run --cfg job` prints every key with its value).",
            file=sys.stderr,
        )
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    # Ray reads its auth mode when it is imported: decide it before anything imports ray.
    from distml.runtime import configure_auth

    configure_auth()
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0 if args else 2)
    cmd, rest = args[0], args[1:]
    if cmd == "submit":
        from distml import submit
        from distml.errors import UserError

        try:
            sys.exit(submit.main(rest))
        except UserError as exc:
            print(f"distml: {exc.prefix}: {exc}", file=sys.stderr, flush=True)
            sys.exit(exc.exit_code)
    commands = _commands()
    if cmd not in commands:
        print(
            f"distml: error: unknown command '{cmd}'. Commands: {', '.join([*commands, 'submit'])}."
            f"\n\n{USAGE}",
            file=sys.stderr,
        )
        sys.exit(2)
    check_overrides(rest)
    sys.argv = [f"distml {cmd}", *rest]
    _app(commands[cmd])()
    from distml.sweep import FAILED

    if FAILED["failed"]:
        print(
            f"distml: error: {FAILED['failed']} of {FAILED['trials']} sweep trials failed; the "
            "leaderboard above and sweep.json in the sweep directory have each trial's error.",
            file=sys.stderr,
        )
        sys.exit(1)
