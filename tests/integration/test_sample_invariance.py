"""The sample is identical for any file layout, shard size and number of workers."""

import polars as pl
import pyarrow.parquet as pq

from distml.config import SamplingConfig
from distml.data.shards import plan
from distml.sampling.stage import SampleJob, draw_sample


def _relayout(src: str, dst, files: int, row_group: int) -> str:
    df = pl.read_parquet(f"{src}/*.parquet").sample(fraction=1.0, shuffle=True, seed=11)
    dst.mkdir()
    n = df.height
    for i in range(files):
        part = df[i * n // files : (i + 1) * n // files]
        pq.write_table(part.to_arrow(), dst / f"f-{i:03d}.parquet", row_group_size=row_group)
    return str(dst)


def _sample(
    uri: str, out, seed: int, shard_rows: int, task_cpus: float, strata=None
) -> pl.DataFrame:
    ds = plan(uri, shard_rows=shard_rows)
    rep = draw_sample(
        ds,
        SamplingConfig(size=3_000, strata=strata),
        SampleJob(label="label", id_column="id", seed=seed, out=str(out), num_cpus=task_cpus),
    )
    df = pl.read_parquet(f"{out}/*.parquet")
    assert df.height == rep["sample_rows"] == 3_000
    return df.sort("id", "split")


def test_same_sample_for_other_files_shards_and_workers(small_data, tmp_path):
    # 6 files / 2 concurrent tasks  vs  1 shuffled file cut into 12 row-group shards / 1 task at a time
    # vs  17 shuffled files
    a = _sample(small_data, tmp_path / "a", 5, 1_000_000, 1.0)
    one = _relayout(small_data, tmp_path / "one", 1, 5_000)
    b = _sample(one, tmp_path / "b", 5, 5_000, 2.0)
    many = _relayout(small_data, tmp_path / "many", 17, 1_000)
    c = _sample(many, tmp_path / "c", 5, 1_000, 1.0)
    cols = a.columns
    assert b.select(cols).equals(a) and c.select(cols).equals(a)
    # strata and split proportions follow the population
    pop = pl.read_parquet(f"{small_data}/*.parquet")["label"].mean()
    assert abs(a["label"].mean() - pop) < 1 / 3_000 + 1e-9
    assert a.group_by("split").len().sort("split")["len"].to_list() == [450, 2100, 450]
    d = _sample(small_data, tmp_path / "d", 6, 1_000_000, 1.0)
    assert not d["id"].equals(a["id"])


def test_multi_column_strata_are_exact(small_data, tmp_path):
    df = _sample(small_data, tmp_path / "m", 1, 1_000_000, 1.0, strata=["label", "device"])
    import json  # noqa: F401

    counts = df.group_by("stratum").len()
    pop = pl.read_parquet(f"{small_data}/*.parquet").group_by("label", "device").len()
    # every stratum present in the population is present in the sample (min_per_stratum=1)
    assert counts.height == pop.height
    w = df.group_by("stratum").agg(pl.col("weight").first(), pl.len())
    total = (w["weight"] * w["len"]).sum()
    assert abs(total - 60_000) < 1e-6
