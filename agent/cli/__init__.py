"""The ``voice-agent`` command, one module per subcommand."""
