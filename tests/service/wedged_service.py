"""``python -m tests.service.wedged_service PORT``: a service whose one call can never
be ended (its brain shields itself from cancellation, as a cleanup stuck in a
thread or a task left half-done by a MemoryError would be): only the hard
shutdown deadline can end the process."""

from __future__ import annotations

import logging
import sys

import trio

from agent.base.config import ServerSettings
from agent.service.serve import BrainSetup, Service, ServiceSettings


class WedgedBrain:
    def __init__(self, call) -> None:
        self.call = call

    async def run(self, call) -> None:
        with trio.CancelScope(shield=True):
            await trio.sleep_forever()

    def on_audio(self, pcm: bytes, now: float) -> None:
        pass

    def on_vad(self, transition, level_dbfs: float, now: float) -> None:
        pass

    def on_dtmf(self, digit: str, now: float) -> None:
        pass

    def end_politely(self, reason: str) -> None:
        pass


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    service = Service(
        ServerSettings(port=int(sys.argv[1]), brain="echo", cleanup_timeout_s=0.1),
        ServiceSettings(drain_s=0.2, goodbye_s=0.2, next_grace_s=0),
        brain=lambda flow: BrainSetup(WedgedBrain, None, "wedged"),
    )
    print(f"budget {service.shutdown_budget_s:.1f}", file=sys.stderr, flush=True)
    trio.run(service.run)


if __name__ == "__main__":
    main()
