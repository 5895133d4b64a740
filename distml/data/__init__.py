"""The dataset: filesystems and URIs, shards planned from Parquet footers, reading a shard
conformed to one schema, and the names of the columns distml adds (``data.*`` in conf/)."""
