"""The ``voice-agent serve`` process: wiring, the service, workers and ``check``."""
