import numpy as np
import polars as pl
import pytest

from distml.data.shards import plan
from distml.errors import UserError
from distml.sampling.strata import stratum_expr
from distml.stats.keys import row_ids, sample_keys


def test_keys_depend_only_on_seed_and_id():
    ids = np.arange(1000, dtype=np.uint64)
    k = sample_keys(ids, 3)
    assert np.array_equal(sample_keys(ids[::-1], 3), k[::-1])
    assert not np.array_equal(sample_keys(ids, 4), k)
    assert len(np.unique(k)) == 1000
    # keys are uniform: about half fall below 2^63
    assert abs((k < np.uint64(2**63)).mean() - 0.5) < 0.06


def test_row_ids_for_int_string_and_content():
    df = pl.DataFrame({"id": [5, 6], "s": ["a", "b"]})
    assert row_ids(df, "id").tolist() == [5, 6]
    assert row_ids(df, "s").tolist() == row_ids(df[::-1], "s").tolist()[::-1]
    content = row_ids(df, None)
    assert content[0] != content[1] and row_ids(df[1:], None)[0] == content[1]


def test_stratum_names_join_values_and_mark_nulls():
    df = pl.DataFrame({"a": [1, None], "b": ["x", "y"]})
    assert df.select(stratum_expr(["a", "b"]))["stratum"].to_list() == ["1|x", "\u2205|y"]


def test_plan_cuts_large_files_at_row_groups(tmp_path):
    df = pl.DataFrame({"id": range(1000), "label": [0, 1] * 500})
    df.write_parquet(tmp_path / "a.parquet", row_group_size=100)
    df.write_parquet(tmp_path / "b.parquet", row_group_size=1000)
    ds = plan(str(tmp_path), shard_rows=250)
    assert ds.num_rows == 2000
    a = [s for s in ds.shards if s.path.endswith("a.parquet")]
    assert [s.row_offset for s in a] == [0, 300, 600, 900]
    assert sum(s.num_rows for s in a) == 1000


def test_missing_path_and_empty_folder_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        plan(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="No files were found"):
        plan(str(tmp_path))
