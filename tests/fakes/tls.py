"""TLS on loopback for the fakes: a certificate authority made at run time.

``LoopbackTLS()`` makes a throwaway CA (``trustme``) and a certificate for
127.0.0.1 signed by it; ``server_context`` is for the fakes (``ssl_context=``),
and ``ca_file`` is the CA's PEM, which the agent trusts through
``VOICE_AGENT_CA_FILE`` (added to the system's authorities; verification stays
on). So a benchmark pays for TLS as against a real provider: handshakes,
encryption and the TLS record layer on every message.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import trustme


class LoopbackTLS:
    def __init__(self, directory: Path | None = None) -> None:
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(self.server_context)
        folder = Path(directory or tempfile.mkdtemp(prefix="voice-agent-tls-"))
        self.ca_file = folder / "fake-providers-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (for tests without the agent)."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    def env(self) -> dict[str, str]:
        """What points the agent's clients at this CA."""
        return {"VOICE_AGENT_CA_FILE": str(self.ca_file)}
