"""Server messages a client cannot use: counted, logged once, skipped.

A vendor adds message types and optional fields within an API version, and a
relay can garble one frame. Neither is a reason to drop a socket that other
turns (Cartesia's contexts) or the whole call's transcript (Deepgram) share: the
message is skipped. The first one on a connection is logged at WARNING in the
vendor's terms, later ones only at DEBUG, so a server that sends thousands does
not flood the log; ``count`` feeds the client's ``statistics()``.
"""

from __future__ import annotations

import logging


class UnusableMessages:
    """Per client session: ``skip(problem)`` for each message that cannot be used."""

    def __init__(self, provider: str, logger: logging.Logger) -> None:
        self.provider = provider
        self.count = 0
        self._log = logger
        self._logged_on_connection = False

    def new_connection(self) -> None:
        """A new socket: its first unusable message is worth a WARNING again."""
        self._logged_on_connection = False

    def skip(self, problem: str) -> None:
        self.count += 1
        if self._logged_on_connection:
            self._log.debug("%s: skipped a message: %s", self.provider, problem)
            return
        self._logged_on_connection = True
        self._log.warning(
            "%s: skipped a message we cannot use (further ones on this connection are"
            " counted, not logged): %s",
            self.provider,
            problem,
        )
