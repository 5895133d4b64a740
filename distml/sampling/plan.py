"""How big the sample is, per stratum and per split: the plan the driver makes from N_h alone.

n_h comes from ``stats.allocation.allocate`` (water-filling with floors and caps, then Hamilton's
largest remainder); the split sizes are allocated within each stratum the same way, so every
stratum is split like the whole. The plan also holds, once found, each stratum's exact cut keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from distml.config import SamplingConfig
from distml.config.sampling import DEFAULT_SIZE
from distml.data.columns import SPLITS
from distml.data.schema import polars_schema
from distml.data.shards import Dataset
from distml.errors import UserError
from distml.sampling.strata import Term, parse_strata
from distml.stats.allocation import allocate
from distml.stats.moments import NumericStats

Cut = tuple[int, int, int]
"""The last (key, file, row) a split takes in a stratum."""


@dataclass
class Plan:
    """What the sample stage decided: per stratum N_h, n_h, split sizes and the key cuts."""

    population: dict[str, int]
    sizes: dict[str, int]
    split_sizes: dict[str, dict[str, int]]
    cuts: dict[str, list[Cut | None]] = field(default_factory=dict)
    """Per stratum, the last (key, file, row) of train, of train+valid and of the sample; None
    means no row."""

    def weight(self, stratum: str) -> float:
        """The inverse inclusion probability N_h / n_h (0 for an empty stratum)."""
        return self.population[stratum] / self.sizes[stratum] if self.sizes[stratum] else 0.0


def parse_bytes(text: str) -> int:
    """'4GiB', '500MB', '1.5G' or a plain number of bytes."""
    units = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6}
    units |= {"mib": 2**20, "g": 1e9, "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}
    t = str(text).strip().lower().replace(" ", "")
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = t[len(num) :]
    try:
        value = float(num) * units[unit]
    except (ValueError, KeyError):
        raise UserError(
            f"The 'sampling.max_memory' parameter must be a size such as 4GiB or 500MB. Got {text!r}."
        ) from None
    if value <= 0:
        raise UserError(f"The 'sampling.max_memory' parameter must be positive. Got {text!r}.")
    return int(value)


def target_size(
    cfg: SamplingConfig, n_pop: int, where: str, bytes_per_row: int | None = None
) -> int:
    """The sample size: sampling.size, sampling.fraction, what sampling.max_memory allows, or
    the default (DEFAULT_SIZE rows, every row of a smaller population)."""
    if cfg.size is None and cfg.fraction is None and cfg.max_memory is None:
        return min(DEFAULT_SIZE, n_pop)
    if cfg.size is not None:
        if cfg.size > n_pop:
            raise UserError(
                f"sampling.size={cfg.size:,} is larger than the population: {where} has "
                f"{n_pop:,} usable rows. Use a smaller sampling.size, or drop it: without a size "
                f"the sample takes {DEFAULT_SIZE:,} rows, or every row of a smaller population "
                "(sampling.fraction=1.0 also takes every row)."
            )
        return cfg.size
    if cfg.fraction is not None:
        return max(1, round(cfg.fraction * n_pop))
    assert cfg.max_memory is not None
    per_row = max(1, bytes_per_row or 1)
    # the training matrix holds the train split: size * split.train rows of per_row bytes
    return max(1, min(n_pop, int(parse_bytes(cfg.max_memory) / (per_row * cfg.split.train))))


def size_note(cfg: SamplingConfig, n_pop: int) -> str:
    """How the sample's size was set, in words (the log and sampling_report.json)."""
    if cfg.size is not None:
        return f"sampling.size={cfg.size:,}"
    if cfg.fraction is not None:
        return f"sampling.fraction={cfg.fraction:g}"
    if cfg.max_memory is not None:
        return f"sampling.max_memory={cfg.max_memory}"
    if n_pop <= DEFAULT_SIZE:
        return f"every row: the population ({n_pop:,}) is smaller than the default {DEFAULT_SIZE:,}"
    return f"the default size {DEFAULT_SIZE:,}"


def allocation_weights(
    cfg: SamplingConfig, population: dict[str, int], neyman: dict[str, NumericStats]
) -> dict[str, float]:
    """Proportional (N_h), equal (1) or Neyman (N_h * S_h) weights per stratum."""
    if cfg.allocation == "equal":
        return {s: 1.0 for s in population}
    if cfg.allocation == "neyman":
        w = {s: population[s] * (neyman[s].std if s in neyman else 0.0) for s in population}
        if not any(v > 0 for v in w.values()):
            raise UserError(
                f"sampling.neyman_column '{cfg.neyman_column}' is constant within every stratum, so "
                "Neyman allocation (n_h ~ N_h * S_h) is undefined. Choose a column that varies, or "
                "use sampling.allocation=proportional."
            )
        return w
    return {s: float(n) for s, n in population.items()}


def make_plan(
    cfg: SamplingConfig,
    population: dict[str, int],
    where: str,
    neyman: dict[str, NumericStats] | None = None,
    bytes_per_row: int | None = None,
) -> Plan:
    """Sample and split sizes per stratum; ``where`` names the data in errors."""
    n_pop = sum(population.values())
    if n_pop == 0:
        raise UserError(f"{where} has no usable rows to sample. Check data.path and data.label.")
    total = target_size(cfg, n_pop, where, bytes_per_row)
    floor = {s: cfg.min_per_stratum for s in population}
    sizes = allocate(total, allocation_weights(cfg, population, neyman or {}), population, floor)
    n_valid = round(total * cfg.split.valid)
    n_test = round(total * cfg.split.test)
    test = allocate(n_test, sizes, sizes)
    valid = allocate(n_valid, sizes, {s: sizes[s] - test[s] for s in sizes})
    split_sizes = {
        s: {"train": sizes[s] - valid[s] - test[s], "valid": valid[s], "test": test[s]}
        for s in sizes
    }
    assert all(sum(v[sp] for sp in SPLITS) == sizes[s] for s, v in split_sizes.items())
    return Plan(population, sizes, split_sizes)


def check_columns(
    ds: Dataset,
    strata: tuple[str, ...] | list[str],
    label: str,
    id_column: str | None,
    time_column: str | None = None,
) -> tuple[Term, ...]:
    """The strata as terms, after checking the label, id and strata columns exist."""
    ds.require(label, "data.label", "Set data.label to one of them.")
    if id_column is not None:
        ds.require(
            id_column,
            "data.id_column",
            "Set data.id_column to a unique id column, or data.id_column=null to derive a stable id "
            "from each row's content.",
        )
    return parse_strata(strata, polars_schema(ds.schema), time_column)
