"""Preprocessing and feature engineering (``preprocess.*`` in conf/): fitted once on the train
split with full-pass statistics (``fit``), saved as preprocessor.json, and applied by one
row-local Polars function everywhere (``apply``)."""
