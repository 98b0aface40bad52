"""The operator's console: calls, one call, live calls, bookings, latency and health
as web pages over the records (``voice-agent serve`` with VOICE_AGENT_CONSOLE_PORT)."""

from agent.observe.console.app import Console, HealthItem, HealthReport, serve_console
from agent.observe.console.settings import ConsoleSettings

__all__ = ["Console", "ConsoleSettings", "HealthItem", "HealthReport", "serve_console"]
