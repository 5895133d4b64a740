"""Hydra launcher running sweep trials as Ray tasks (the logic is in distml/sweep.py)."""
