"""Row ids, sampling keys and strata: the deterministic, sharding-independent parts of sampling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

NULL_TOKEN = "\u2205"  # how a null value appears inside a stratum name
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a bijective, well-mixed map of uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64, copy=True) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def row_ids(df: pl.DataFrame, id_column: str | None) -> np.ndarray:
    """A uint64 per row: the integer id itself, a hash of a non-integer id, or of the whole row.

    Integer ids map exactly (no hashing), so keys are stable across library versions; string ids
    and content-derived ids use Polars' hash with fixed seeds (stable for a given Polars version).
    """
    if id_column is None:
        return df.hash_rows(seed=0).to_numpy().astype(np.uint64)
    col = df.get_column(id_column)
    if col.dtype.is_integer():
        return col.cast(pl.Int64).fill_null(-1).to_numpy().view(np.uint64)
    return col.hash(seed=0).to_numpy().astype(np.uint64)


def sample_keys(ids: np.ndarray, seed: int) -> np.ndarray:
    """Uniform uint64 keys, a pure function of (seed, id): the sampling order of the rows."""
    salt = splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    return splitmix64(splitmix64(ids) ^ salt)


def stratum_expr(strata: Sequence[str]) -> pl.Expr:
    """The stratum name of each row: the strata columns' values joined by '|' (nulls as ∅)."""
    parts = [pl.col(c).cast(pl.String).fill_null(NULL_TOKEN) for c in strata]
    if not parts:
        return pl.repeat(pl.lit("all"), pl.len()).alias("stratum")
    return pl.concat_str(parts, separator="|").alias("stratum")
