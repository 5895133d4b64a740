"""The only package that imports Ray (``cluster.*`` in conf/): the Ray session (``session``),
maps over shards with mergeable results (``tasks``), gang-scheduled actor groups (``actors``),
Ray Jobs (``jobs``) and sweep trials (``sweep``). Everything else is plain Python that these run."""
