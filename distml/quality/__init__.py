"""The data contract (``quality.*`` in conf/): files conformed to one schema, row rules that
quarantine bad rows, and dataset gates checked on the profile before sampling."""
