"""Before ``serve`` starts: every setting parses, and the files it will open are usable.

A bad value stops start-up with one line naming the variable (``ConfigError``),
never later inside a call or as a traceback from a library.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from agent.base.errors import ConfigError
from agent.base.settings import Env

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_problem(path: Path) -> str | None:
    """Why SQLite could not use ``path`` as its database, or None."""
    if path.is_dir():
        return "is a directory, not a database file"
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {str(folder)!r} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {str(folder)!r} is not writable"
    if path.exists():
        try:
            with open(path, "rb") as file:
                header = file.read(len(SQLITE_HEADER))
        except OSError as exc:
            return f"cannot be read: {exc.strerror or exc}"
        if header and header != SQLITE_HEADER:
            return "is not an SQLite database"
    return None


def check_database(variable: str, path: str | Path) -> None:
    """Raise a ConfigError naming ``variable`` and ``path`` when SQLite cannot use it
    (a PostgreSQL URL is checked when the store opens)."""
    if str(path).startswith(("postgresql://", "postgres://")):
        return
    problem = sqlite_problem(Path(path))
    if problem:
        raise ConfigError(f"{variable}={str(path)!r}: {problem}")


def database_files(env: Mapping[str, str] | Env | None, brain: str) -> list[tuple[str, str]]:
    """(variable, path) of every SQLite file ``serve`` opens with this configuration."""
    reader = Env.of(env)
    files = []
    if brain == "conversation":
        files.append(("VOICE_AGENT_DB", reader.get("VOICE_AGENT_DB")))
    if not reader.get("VOICE_AGENT_RECORDS_URL"):
        if reader.is_set("VOICE_AGENT_RECORDS_PATH"):
            files.append(("VOICE_AGENT_RECORDS_PATH", reader.get("VOICE_AGENT_RECORDS_PATH")))
        elif brain != "conversation":
            files.append(("VOICE_AGENT_DB", reader.get("VOICE_AGENT_DB")))
    return files


def preflight(env: Mapping[str, str] | Env | None, brain: str) -> None:
    """Every declared variable parses, the databases are usable; unknown or renamed
    variables get a WARNING each."""
    reader = Env.of(env)
    reader.validate()
    for variable, path in database_files(reader, brain):
        check_database(variable, path)
    for problem in reader.unknown():
        log.warning("%s", problem)
