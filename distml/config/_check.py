"""Helpers shared by the config schemas: value checks that quote the key and the value."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from distml.errors import ConfigError


def check(ok: bool, key: str, expected: str, got: Any) -> None:
    """Raise a ConfigError in scikit-learn's words unless ``ok``."""
    if not ok:
        raise ConfigError(
            f"The '{key}' parameter must be {expected}. Got {got!r}. "
            f"Fix it in your config or on the command line ({key}=...)."
        )


def as_dataclass(cls: type, value: Any, key: str) -> Any:
    """A dict from the config (or an instance) as ``cls``, naming the key of an unknown field.

    Dicts of dataclasses are typed ``dict[str, Any]`` in the schema because Hydra cannot add a
    new entry to a ``Dict[str, Dataclass]`` from the command line; they are checked here."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(
            f"The '{key}' entry must be a mapping of {cls.__name__} fields. Got {value!r}."
        )
    known = {f.name for f in fields(cls)}
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ConfigError(
            f"The '{key}' entry has unknown keys {unknown}; allowed: {', '.join(sorted(known))}."
        )
    return cls(**value)
