"""``cache.*``: reuse of the data stages across runs and sweep trials (distml/cache.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CacheConfig:
    enabled: bool = True
    """Reuse the data stages (profile, sample, preprocess) of an earlier run with the same inputs
    and config; sweep trials compute them once. conf/cache/default.yaml reads DISTML_CACHE."""
    dir: str = ".distml-cache"
    """The cache index (small JSON files naming the run that holds the outputs); under the
    launch directory by default (conf/cache/default.yaml)."""
