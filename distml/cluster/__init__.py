"""Ray, below every other package (``cluster.*`` in conf/): the Ray session (``session``), maps
over shards with mergeable results (``tasks``), gang-scheduled actor groups (``actors``), Ray
Jobs (``jobs``) and sweep trials (``sweep``). It imports nothing of distml but config, errors
and progress; everything else is plain Python that these run. Ray is imported inside the
functions that use it, so a run in threads, scoring, preprocessing and a Serve replica's code
never load it (tests/unit/test_layout.py). Outside this package only the Serve application
(distml/serve/deployment.py) and the sweep launcher plugin import Ray."""
