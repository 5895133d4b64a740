"""Who may call ``distml serve``: an optional bearer token read from the replica's environment.

With ``DISTML_SERVE_TOKEN`` set, ``predict`` and ``model`` need ``Authorization: Bearer <that
token>`` (``healthz`` stays open for probes). Read from the environment only: never a config
key, never written to serve.json or a log."""

from __future__ import annotations

import hmac
import os

TOKEN_ENV = "DISTML_SERVE_TOKEN"


def token_from_environment() -> str | None:
    """DISTML_SERVE_TOKEN without surrounding whitespace (a Secret file's newline); None when
    unset. Set but blank is "" and lets no request in (never an open service by mistake)."""
    token = os.environ.get(TOKEN_ENV)
    return None if token is None else token.strip()


def authorized(header: str | None, token: str | None) -> bool:
    """Whether a request's Authorization header carries the bearer ``token`` (None: no token is
    needed; "": none is accepted). Compared in constant time, as the header's bytes (HTTP
    headers arrive decoded as latin-1) against the token's UTF-8."""
    if token is None:
        return True
    scheme, _, given = (header or "").strip().partition(" ")
    raw = given.strip().encode("latin-1", errors="replace")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(raw, token.encode())
