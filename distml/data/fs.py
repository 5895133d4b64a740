"""Local paths and URIs (s3://, gs://, file://) as pyarrow filesystems; nothing heavier."""

from __future__ import annotations

import posixpath

import pyarrow.fs as pafs


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and in-filesystem path for a local path or a URI."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), posixpath.abspath(uri)


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])


def upload(local_dir: str, uri: str) -> float:
    """Copy a local folder (following links) to ``uri``; returns the seconds it took."""
    import time

    fs, root = filesystem(uri)
    t0 = time.perf_counter()
    pafs.copy_files(
        posixpath.abspath(local_dir),
        root,
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=fs,
    )
    return time.perf_counter() - t0
