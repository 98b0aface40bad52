"""Where things are in the repository, for tests that read its files."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASTERISK = REPO / "asterisk"
