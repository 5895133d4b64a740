"""Row ids and sampling keys: pure functions of (seed, id), independent of files and shards
(SplitMix64, Steele et al. 2014, as the key's mixing function)."""

from __future__ import annotations

import numpy as np
import polars as pl

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


_CHUNK = 1 << 15  # values mixed at a time: 256 KiB buffers that stay in cache


def _mix(z: np.ndarray, t: np.ndarray) -> None:
    """SplitMix64's finalizer in place on ``z`` (``t``: scratch of the same length)."""
    z += _GOLDEN
    np.right_shift(z, np.uint64(30), out=t)
    z ^= t
    z *= _M1
    np.right_shift(z, np.uint64(27), out=t)
    z ^= t
    z *= _M2
    np.right_shift(z, np.uint64(31), out=t)
    z ^= t


def _mixed(x: np.ndarray, salt: np.uint64 | None, rounds: int) -> np.ndarray:
    """``rounds`` of SplitMix64 (``salt`` xored in before the last), chunk by chunk: a handful
    of passes over cache-sized slices instead of whole-array temporaries, whose fresh pages
    cost more than the arithmetic (this runs on every row)."""
    x = np.asarray(x)
    if x.dtype != np.uint64:
        x = (
            x.astype(np.int64, copy=False).view(np.uint64)
            if x.dtype.kind == "i"
            else x.astype(np.uint64)
        )
    out = np.empty(x.shape, dtype=np.uint64)
    t = np.empty(min(len(x), _CHUNK), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for lo in range(0, len(x), _CHUNK):
            z = out[lo : lo + _CHUNK]
            tc = t[: len(z)]
            z[:] = x[lo : lo + _CHUNK]
            for r in range(rounds):
                if salt is not None and r == rounds - 1:
                    z ^= salt
                _mix(z, tc)
    return out


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: a bijective, well-mixed map of uint64 (wrapping arithmetic)."""
    return _mixed(x, None, 1)


def row_ids(df: pl.DataFrame, id_column: str | None) -> np.ndarray:
    """A uint64 per row: the integer id itself (any width or sign, modulo 2^64), a hash of a
    string or binary id, or of the whole row.

    Integer ids map exactly (no hashing), so keys are stable across library versions; string ids
    and content-derived ids use Polars' hash with fixed seeds (stable for a given Polars version).
    """
    if id_column is None:
        return df.select(pl.struct(pl.all()).hash(0)).to_series().to_numpy().astype(np.uint64)
    col = df.get_column(id_column)
    if col.dtype == pl.UInt64:  # every uint64 as itself (null as 2^64-1, as -1 below)
        return col.fill_null(np.iinfo(np.uint64).max).to_numpy().astype(np.uint64)
    if col.dtype.is_integer():  # the value modulo 2^64
        return col.cast(pl.Int64).fill_null(-1).to_numpy().view(np.uint64)
    return col.hash(seed=0).to_numpy().astype(np.uint64)


def sample_keys(ids: np.ndarray, seed: int, mixed: np.ndarray | None = None) -> np.ndarray:
    """Uniform uint64 keys, a pure function of (seed, id): the sampling order of the rows,
    ``splitmix64(splitmix64(id) ^ splitmix64(seed))``.

    ``mixed`` is ``splitmix64(ids)`` when the caller has it already (the profile pass does)."""
    salt = splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    return _mixed(ids, salt, 2) if mixed is None else _mixed(mixed, salt, 1)
