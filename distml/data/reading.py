"""Reading a shard inside a shard task, with the run's policy for a file that cannot be read."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from distml.data.shards import Shard, read_shard
from distml.errors import UserError


def read_or_skip(
    shard: Shard, columns: Sequence[str] | None, on_bad_file: str
) -> tuple[pl.DataFrame | None, dict[str, str] | None]:
    """``read_shard`` in a shard task: (rows, None), or for a file that cannot be read with
    ``on_bad_file`` 'skip' (None, {"path", "reason"}). With 'error' it raises a UserError naming
    the file."""
    try:
        return read_shard(shard, columns), None
    # a Polars reader that panics on a malformed file raises PanicException (a BaseException)
    except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException, ValueError) as exc:
        if on_bad_file == "skip":
            return None, {"path": shard.path, "reason": f"unreadable: {exc}"}
        raise UserError(
            f"The Parquet file '{shard.path}' cannot be read: {exc}. Replace or remove the file, "
            "or set data.on_bad_file=skip to leave it out (it is then listed with the files "
            "skipped)."
        ) from None
