"""A real-time AI voice agent for Asterisk AudioSocket, built on Trio.

The names an embedding program needs, loaded on first use so that importing a
pure room (``agent.wire``, ``agent.dialogue``) never pulls in Trio:

- serving: ``Service``, ``ServiceSettings``, ``ServerSettings``, ``serve_audiosocket``;
- a call and what drives it: ``Call``, ``Brain``, ``BrainFactory``;
- the receptionist: ``ConversationBrain``, ``ConversationParams``,
  ``conversation_brain_factory``;
- the provider roles: ``SpeechToText``, ``LanguageModel``, ``TextToSpeech``;
- the exception tree: ``AgentError``, ``ConfigError``, ``ProtocolError``, ``ProviderError``.

Everything else lives in the rooms (``agent.media``, ``agent.providers``...) and is
theirs to change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "AgentError": "agent.base.errors",
    "ConfigError": "agent.base.errors",
    "ProtocolError": "agent.base.errors",
    "ProviderError": "agent.base.errors",
    "ServerSettings": "agent.base.config",
    "Brain": "agent.media.call",
    "BrainFactory": "agent.media.call",
    "Call": "agent.media.call",
    "serve_audiosocket": "agent.media.server",
    "SpeechToText": "agent.providers.protocols",
    "LanguageModel": "agent.providers.protocols",
    "TextToSpeech": "agent.providers.protocols",
    "ConversationBrain": "agent.conversation",
    "ConversationParams": "agent.conversation",
    "conversation_brain_factory": "agent.conversation",
    "Service": "agent.service.serve",
    "ServiceSettings": "agent.service.serve",
}

__all__ = [  # noqa: RUF022 (grouped as in _PUBLIC)
    "__version__",
    "AgentError",
    "ConfigError",
    "ProtocolError",
    "ProviderError",
    "ServerSettings",
    "Brain",
    "BrainFactory",
    "Call",
    "serve_audiosocket",
    "SpeechToText",
    "LanguageModel",
    "TextToSpeech",
    "ConversationBrain",
    "ConversationParams",
    "conversation_brain_factory",
    "Service",
    "ServiceSettings",
]

if TYPE_CHECKING:
    from agent.base.config import ServerSettings
    from agent.base.errors import AgentError, ConfigError, ProtocolError, ProviderError
    from agent.conversation import (
        ConversationBrain,
        ConversationParams,
        conversation_brain_factory,
    )
    from agent.media.call import Brain, BrainFactory, Call
    from agent.media.server import serve_audiosocket
    from agent.providers.protocols import LanguageModel, SpeechToText, TextToSpeech
    from agent.service.serve import Service, ServiceSettings


def __getattr__(name: str) -> Any:
    try:
        module = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'agent' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
