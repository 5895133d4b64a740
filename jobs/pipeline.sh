#!/usr/bin/env bash
# Entry point for a Ray job: the pipeline against the job's own cluster. Extra arguments are Hydra
# overrides, e.g. data.path=s3://bucket/events sampling.size=1000000 cluster.num_workers=8
set -euo pipefail
exec python -m distml run cluster.address=auto hydra.run.dir="${DISTML_RUN_DIR:-outputs/job}" "$@"
