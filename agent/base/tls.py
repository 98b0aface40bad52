"""One TLS client context per process.

``ssl.create_default_context()`` loads the system CA bundle: about 20 ms of CPU
on this box, during which the Trio loop sends no frame for any call. Every
provider connection (one or more per call) reuses this one instead. Contexts
are safe to share between connections.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def client_context() -> ssl.SSLContext:
    return ssl.create_default_context()
