"""One TLS client context per process.

``ssl.create_default_context()`` loads the system CA bundle: about 20 ms of CPU
on this box, during which the Trio loop sends no frame for any call. Every
provider connection (one or more per call) reuses this one instead. Contexts
are safe to share between connections.

``VOICE_AGENT_CA_FILE`` adds certificate authorities to the system's (a
TLS-inspecting proxy, a private endpoint, the benchmarks' loopback fakes);
certificates are verified either way.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping

from agent.base.errors import ConfigError
from agent.base.settings.reader import Env


def client_context(env: Mapping[str, str] | Env | None = None) -> ssl.SSLContext:
    """The shared context (``env``: the environment, this process's by default)."""
    return _context(Env.of(env).get("VOICE_AGENT_CA_FILE"))


@functools.cache
def _context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigError(
                f"VOICE_AGENT_CA_FILE={ca_file}: not a readable PEM file of certificate"
                f" authorities ({reason})"
            ) from exc
    return context
