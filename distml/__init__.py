"""distml: tabular ML from proof of concept to production scale on Ray, Polars and XGBoost."""

__version__ = "0.1.0"
