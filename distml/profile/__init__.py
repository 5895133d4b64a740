"""The profile stage (``profile.*`` in conf/): one pass of mergeable per-column statistics,
exact duplicates, freshness and the quarantine; its typed result feeds the gates, the sample
stage and the monitoring reference."""
