"""The process-wide TLS context: made once, shared by every provider client."""

from __future__ import annotations

import contextlib
import ssl

import pytest
import trio

from agent.base.errors import ConfigError
from agent.base.tls import client_context
from tests.fakes.tls import LoopbackTLS


def test_one_verifying_context_for_the_whole_process():
    context = client_context()
    assert context is client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


async def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> bytes | Exception:
    """What a TLS client reads from a loopback TLS server (or why it could not)."""

    async def echo_once(stream: trio.abc.Stream) -> None:
        with contextlib.suppress(trio.BrokenResourceError):  # the client refused our cert
            await stream.send_all(b"hello")
        await trio.aclose_forcefully(stream)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    tls = [trio.SSLListener(ln, server) for ln in listeners]
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, echo_once, tls)
        stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=client)
        outcome: bytes | Exception
        try:
            outcome = await stream.receive_some(5)
        except trio.BrokenResourceError as exc:
            outcome = exc
        await trio.aclose_forcefully(stream)
        nursery.cancel_scope.cancel()
    return outcome


@pytest.mark.realtime
async def test_the_ca_file_setting_adds_a_trusted_authority(monkeypatch, tmp_path):
    tls = LoopbackTLS(tmp_path)
    monkeypatch.delenv("VOICE_AGENT_CA_FILE", raising=False)
    refused = await _handshake(tls.server_context, client_context())
    assert isinstance(refused, trio.BrokenResourceError)
    assert isinstance(refused.__cause__, ssl.SSLCertVerificationError)
    monkeypatch.setenv("VOICE_AGENT_CA_FILE", str(tls.ca_file))
    trusting = client_context()
    assert trusting.verify_mode == ssl.CERT_REQUIRED and trusting.check_hostname
    assert await _handshake(tls.server_context, trusting) == b"hello"


def test_an_unreadable_ca_file_is_one_line_naming_the_setting(monkeypatch, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    for path in (bad, tmp_path / "missing.pem"):
        monkeypatch.setenv("VOICE_AGENT_CA_FILE", str(path))
        with pytest.raises(ConfigError, match=f"^VOICE_AGENT_CA_FILE={path}: not a readable"):
            client_context()
