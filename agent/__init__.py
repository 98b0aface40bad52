"""A real-time AI voice agent for Asterisk AudioSocket, built on Trio."""

__version__ = "0.1.0"
