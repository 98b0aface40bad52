"""The process-wide TLS context: made once, shared by every provider client."""

from __future__ import annotations

import ssl

from agent.base.tls import client_context


def test_one_verifying_context_for_the_whole_process():
    context = client_context()
    assert context is client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
