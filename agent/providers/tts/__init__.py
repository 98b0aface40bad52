"""Text to speech: Cartesia, ElevenLabs, espeak-ng (offline) and the fallback chain."""
