"""The records store's PostgreSQL dialect (psycopg 3): same schema and API as SQLite.

Several worker processes (or machines) can share one PostgreSQL database,
which is how the FastAGI steps of a call can be answered by any process.
psycopg is optional: install ``psycopg[binary]`` to use this module.
"""

from __future__ import annotations

from typing import Any

from agent.base.errors import ConfigError
from agent.observe.records_schema import Dialect


def pg_dialect(url: str) -> Dialect:
    """A dialect connecting to ``url`` (``postgresql://user@host:port/db`` or a DSN)."""
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigError(
            "the records store is PostgreSQL (VOICE_AGENT_DB or VOICE_AGENT_RECORDS_URL) but"
            " psycopg is not installed (pip install 'voice-agent[postgres]')"
        ) from exc
    if not url.strip():
        raise ConfigError("records URL is empty: expected postgresql://user@host:port/db")

    def connect() -> Any:
        # Autocommit: the store issues BEGIN/COMMIT itself, as with SQLite.
        return psycopg.connect(url, autocommit=True, connect_timeout=10)

    return Dialect("postgresql", connect, "%s", "BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION")
