"""Local paths and URIs (s3://, gs://, file://) as pyarrow filesystems, and whole files written and
read on any of them (a stage's Parquet outputs, its Arrow IPC scratch files)."""

from __future__ import annotations

import posixpath

import polars as pl
import pyarrow.fs as pafs
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq


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


def write_ipc(df: pl.DataFrame, uri: str) -> None:
    """Write one uncompressed Arrow IPC file (a stage's private scratch data, read back soon)."""
    fs, path = filesystem(uri)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    with fs.open_output_stream(path) as out:
        df.write_ipc(out, compression="uncompressed")


def read_ipc(uri: str) -> pl.DataFrame:
    fs, path = filesystem(uri)
    with fs.open_input_file(path) as f:  # through Arrow: faster than Polars' reader here
        return pl.DataFrame(pa_ipc.open_file(f).read_all())


def write_parquet(df: pl.DataFrame, uri: str, compression: str = "zstd") -> None:
    """Write one Parquet file to a local path or URI, creating parent folders."""
    fs, path = filesystem(uri)
    fs.create_dir(posixpath.dirname(path), recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        df.write_parquet(path, compression=compression)  # type: ignore[arg-type]
        return
    with fs.open_output_stream(path) as out:
        pq.write_table(df.to_arrow(), out, compression=compression)
