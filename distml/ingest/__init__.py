"""Ingest: CSV/TSV/NDJSON exports and PostgreSQL tables into sharded Parquet (``distml ingest``)."""
