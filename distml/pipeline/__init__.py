"""``distml run`` (``pipeline.*`` in conf/): the stage runner (``runner``), the stages as
functions over a typed run context (``stages``), and run.json (``context``)."""

from distml.pipeline.runner import run_pipeline

__all__ = ["run_pipeline"]
