"""A port the service cannot listen on stops start-up with one line naming it."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from agent.base.errors import ConfigError

# What listens where: the variables that choose the address.
AUDIOSOCKET = ("AudioSocket", "VOICE_AGENT_HOST", "VOICE_AGENT_PORT")
FASTAGI = ("FastAGI", "VOICE_AGENT_AGI_HOST", "VOICE_AGENT_AGI_PORT")
METRICS = ("metrics", "VOICE_AGENT_METRICS_HOST", "VOICE_AGENT_METRICS_PORT")


@contextlib.contextmanager
def naming_the_port(what: tuple[str, str, str], host: str, port: int) -> Iterator[None]:
    """Turn the OSError of a bind into a ConfigError naming the port's variable."""
    label, host_var, port_var = what
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "the address is in use (is voice-agent already running?)"
        elif exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or exc.errno is None:
            why = f"{host_var}={host!r} is not an address of this machine ({exc.strerror or exc})"
        else:
            why = exc.strerror or str(exc)
        where = f"{label} cannot listen on {host}:{port}"
        raise ConfigError(f"{port_var}={port}: {where}: {why}") from None
