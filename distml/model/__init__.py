"""Training XGBoost across the cluster (``model.*`` in conf/): the worker side (``worker``), the
collective's start and stop hooks (``collective``), checkpoints (``checkpoints``) and the driver
that restarts from the newest checkpoint after losing a worker (``train``)."""
