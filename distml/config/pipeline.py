"""``pipeline.*``: which stages run and where the run directory is copied (distml/pipeline/)."""

from __future__ import annotations

from dataclasses import dataclass

from distml.config._check import check

STAGES = ("profile", "sample", "preprocess", "train", "evaluate")


@dataclass
class PipelineConfig:
    until: str | None = None
    """Stop after this stage: profile, sample, preprocess, train or evaluate."""
    output_uri: str | None = None
    """Copy the run directory here when the run ends (s3://, gs://, file:// or a path); the
    training checkpoints go there as the run goes, so a lost driver can resume from them."""

    def __post_init__(self) -> None:
        if self.until is not None:
            check(
                self.until in STAGES,
                "pipeline.until",
                f"one of {', '.join(STAGES)} or null",
                self.until,
            )
