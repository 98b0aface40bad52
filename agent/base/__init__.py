"""The base room: what every layer uses (the exception tree, shared event types,
settings, logging with redaction, WAV and TLS helpers). Imports nothing above it."""
