"""The Trio brain: turns (each owning a cancel scope), the tool runner, the echo brain.

The names an embedding program needs are here; the modules behind them are the
room's own business.
"""

from agent.conversation.brain import ConversationBrain
from agent.conversation.echo import EchoBrain, EchoParams
from agent.conversation.factory import conversation_brain_factory
from agent.conversation.params import ConversationParams
from agent.conversation.protocols import Outcome, ToolRunner, TranscriptLine
from agent.conversation.toolrunner import BookingToolRunner

__all__ = [
    "BookingToolRunner",
    "ConversationBrain",
    "ConversationParams",
    "EchoBrain",
    "EchoParams",
    "Outcome",
    "ToolRunner",
    "TranscriptLine",
    "conversation_brain_factory",
]
