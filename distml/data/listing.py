"""The files under a data path (a folder, a glob or one file, local or any pyarrow filesystem):
which are candidates, which are left out by name and why, and the Hive partitions in their
paths."""

from __future__ import annotations

import fnmatch
import posixpath
import urllib.parse
from dataclasses import dataclass

import pyarrow.fs as pafs

from distml.data.fs import filesystem
from distml.errors import UserError

PARQUET_MAGIC = b"PAR1"


HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


@dataclass(frozen=True)
class Listing:
    """The files under a data path: the candidates, and those left out by name (with why)."""

    fs: pafs.FileSystem
    base: str
    """The folder the files are relative to (Hive partitions are read below it)."""
    files: list[str]
    ignored: list[tuple[str, str]]


def _hidden(rel: str) -> bool:
    return any(part.startswith(("_", ".")) for part in rel.split("/"))


READ_PARQUET = (
    "distml reads every Parquet file below a folder (local path or a URI such as "
    "s3://bucket/prefix); leave data.path null to use the generated synthetic dataset."
)


def list_files(uri: str, what: str = "data.path", advice: str = READ_PARQUET) -> Listing:
    """Every file of a folder (whatever its extension), the files a glob matches, or one file.

    A path that exists is never read as a glob (folders named like ``run[1]`` are common); files
    and folders whose names start with ``_`` or ``.`` (_SUCCESS, .crc, _temporary/) are left out
    and listed."""
    fs, path = filesystem(uri)
    info = fs.get_file_info(path.rstrip("/") or "/")
    if info.type == pafs.FileType.File:
        return Listing(fs, posixpath.dirname(path), [path], [])
    pattern = None
    base = path.rstrip("/") or "/"
    if info.type == pafs.FileType.NotFound:
        if not any(c in path for c in "*?["):
            raise UserError(
                f"The {what} '{uri}' does not exist. Point {what} at a folder, a glob or a "
                f"file. {advice}"
            )
        pattern = path
        base = path.split("*")[0].split("?")[0].split("[")[0]
        base = (base if base.endswith("/") else posixpath.dirname(base)).rstrip("/") or "/"
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            raise UserError(f"The folder '{base}' of the {what} glob '{uri}' does not exist.")
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    files, ignored = [], []
    for i in sorted(infos, key=lambda i: i.path):
        if i.type != pafs.FileType.File or (pattern and not fnmatch.fnmatch(i.path, pattern)):
            continue
        if _hidden(posixpath.relpath(i.path, base)):
            ignored.append((i.path, "a hidden or metadata name (starts with _ or .)"))
        else:
            files.append(i.path)
    if not files:
        raise UserError(
            f"No files were found at {what} '{uri}'"
            + (f" ({len(ignored)} hidden or metadata files left out)" if ignored else "")
            + f". Check the path or glob; {advice}"
        )
    return Listing(fs, base, files, ignored)


def hive_partitions(base: str, path: str) -> dict[str, str | None]:
    """``key=value`` folders between ``base`` and the file (Hive-style), as raw strings."""
    out: dict[str, str | None] = {}
    for part in posixpath.relpath(posixpath.dirname(path), base).split("/"):
        key, eq, value = part.partition("=")
        if eq and key:
            v = urllib.parse.unquote(value)
            out[urllib.parse.unquote(key)] = None if v == HIVE_NULL else v
    return out
