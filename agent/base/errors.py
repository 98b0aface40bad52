"""The one exception tree of the agent.

Everything the agent raises on purpose derives from ``AgentError``. Each I/O
boundary translates foreign exceptions (OSError, httpx, trio-websocket) into one
of these exactly once, with ``raise ... from exc`` so the cause is kept.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ProtocolError(AgentError):
    """A wire protocol was violated (AudioSocket, AGI, SSE, a provider's framing)."""


class LocalProtocolError(ProtocolError):
    """We were about to send something the protocol forbids (a bug on our side)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""


class ProviderError(AgentError):
    """A cloud or local provider (STT, LLM, TTS, booking API) failed.

    ``retryable`` says whether the same request may succeed later (rate limit,
    5xx, timeout); ``retry_after`` is the server's hint in seconds, if any.
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class ProviderConnectError(ProviderError):
    """The provider could not be reached (refused, DNS, TLS, handshake)."""


class ProviderStatusError(ProviderError):
    """The provider answered with an error status (HTTP status or close code)."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, message, retryable=retryable, retry_after=retry_after)
        self.status = status


class ProviderTimeout(ProviderError):
    """The provider did not answer in time."""

    def __init__(self, provider: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(provider, message, retryable=True, retry_after=retry_after)


class ConfigError(AgentError, ValueError):
    """The configuration is invalid; the message names the setting and the problem."""
