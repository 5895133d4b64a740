"""User-facing errors: one clear paragraph, a non-zero exit, no traceback."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (a path, a column, a config key).

    The message is one paragraph that names the offending file, column or key and says what to do.
    The CLI prints it without a traceback and exits with ``exit_code``.
    """

    exit_code = 2
    prefix = "error"


class ConfigError(UserError, ValueError):
    """A config value is out of range; the message quotes the key and the value."""


class GateFailed(UserError):
    """A quality or model gate failed; the run's outputs are written, the exit code says so."""

    exit_code = 3


def shell_quoted(override: str) -> str:
    """``key=value`` with the value quoted for Hydra's grammar (single quotes, inner ones
    escaped) and the whole quoted for a POSIX shell (double quotes), as a user types it."""
    key, _, value = override.partition("=")
    hydra_value = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    text = f"{key}={hydra_value}"
    for ch in ("\\", '"', "$", "`"):
        text = text.replace(ch, "\\" + ch)
    return f'"{text}"'
