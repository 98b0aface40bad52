"""The schema: every section in the order the reference shows them, every declaration."""

from __future__ import annotations

from agent.base.settings import catalog_providers, catalog_service
from agent.base.settings.schema import Schema

SECTIONS = {
    "server": "the AudioSocket server",
    "pbx": "Asterisk: FastAGI, call limits, shutdown",
    "conversation": "the conversation: providers, companies",
    "booking": "bookings",
    "stt/deepgram": "speech-to-text: Deepgram",
    "llm": "language model: any OpenAI-compatible endpoint",
    "tts/cartesia": "text-to-speech: Cartesia",
    "tts/elevenlabs": "text-to-speech: ElevenLabs",
    "offline": "the offline stack",
    "observe": "records, metrics, recordings, cost",
    "logging": "logging",
}

SCHEMA = Schema(
    SECTIONS,
    (*catalog_service.SETTINGS, *catalog_providers.SETTINGS),
    catalog_providers.PATTERNS,
    catalog_service.CATEGORIES,
)
