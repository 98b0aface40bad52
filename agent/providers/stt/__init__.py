"""Speech to text: Deepgram (streaming WebSocket) and Whisper (offline)."""
