"""Asterisk glue: the FastAGI server, the call flow (setup/next) and call metadata."""
