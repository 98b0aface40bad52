"""Pure codecs: AudioSocket, AGI, SSE and incremental JSON, sans-IO (no trio, no sockets)."""
