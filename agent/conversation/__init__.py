"""The Trio brain: turns (each owning a cancel scope), the tool runner, the echo brain."""
