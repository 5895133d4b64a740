"""Row ids and sampling keys: pure functions of (seed, id), independent of files and shards
(SplitMix64, Steele et al. 2014, as the key's mixing function)."""

from __future__ import annotations

import hashlib
import json

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


_NULL = np.uint64(0x6A09E667F3BCC909)  # a fixed stand-in for a missing value
_START = np.uint64(0x243F6A8885A308D3)


def _digest(values: list) -> list[int]:
    return [int.from_bytes(hashlib.blake2b(v, digest_size=8).digest(), "little") for v in values]


def _value_codes(col: pl.Series) -> np.ndarray:
    """A uint64 per value that depends on the value alone, not on the library version: integers
    (and integral floats below 2^63, so 3 and 3.0 agree) as themselves, other floats by their
    bits, dates and times by their epoch count, text and bytes by BLAKE2b."""
    dt = col.dtype
    if dt == pl.Boolean:
        col = col.cast(pl.Int64)
        dt = col.dtype
    if isinstance(dt, pl.Datetime):
        col = (col.dt.convert_time_zone("UTC") if dt.time_zone else col).dt.epoch("us")
    elif dt == pl.Date:
        col = col.dt.epoch("d").cast(pl.Int64)
    elif dt in (pl.Duration, pl.Time):
        col = col.to_physical().cast(pl.Int64)
    if col.dtype.is_integer():
        out = col.cast(pl.Int64, strict=False).fill_null(0).to_numpy().view(np.uint64).copy()
        if col.dtype == pl.UInt64:
            out = col.fill_null(0).to_numpy().astype(np.uint64)
    elif col.dtype.is_float() or col.dtype.is_decimal():
        x = col.cast(pl.Float64).fill_null(0.0).to_numpy()
        whole = np.isfinite(x) & (np.abs(x) < 2.0**63)
        whole[whole] = x[whole] == np.floor(x[whole])
        x = np.where(x == 0, 0.0, x)  # -0.0 is 0.0
        x = np.where(np.isnan(x), np.nan, x)  # one NaN
        out = x.view(np.uint64).copy()
        out[whole] = x[whole].astype(np.int64).view(np.uint64)
    else:
        if col.dtype == pl.Binary:
            raw = col
        elif col.dtype in (pl.String, pl.Categorical) or isinstance(col.dtype, pl.Enum):
            raw = col.cast(pl.String)
        else:  # nested: its JSON text
            raw = pl.Series([None if v is None else json.dumps(v, default=str) for v in col])
        uniq = raw.drop_nulls().unique()
        keys = [v if isinstance(v, bytes) else v.encode() for v in uniq.to_list()]
        codes = pl.Series(_digest(keys), dtype=pl.UInt64)
        out = raw.replace_strict(uniq, codes, default=0, return_dtype=pl.UInt64).to_numpy()
        out = out.astype(np.uint64)
    return np.where(col.is_null().to_numpy(), _NULL, out)


def row_fingerprints(df: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """A uint64 per row from the values of ``columns`` (in that order), stable across library
    versions and across the types a column may take in different files (3 and 3.0 agree): the
    rows a model trained on, recognised in other data (distml/retrain.py)."""
    h = np.full(df.height, _START, dtype=np.uint64)
    for c in columns:
        h = splitmix64(h ^ _value_codes(df.get_column(c)))
    return h
