"""A nursery that the caller's cancellation does not reach (for WebSocket readers).

trio-websocket reads the socket in a task of the nursery it is given. Cancelled
with the call, that task could not read the server's close reply, and a graceful
close would wait out its timeout at the end of every call. The clients run it in
this nursery instead and cancel it by its scope once the close is done.
"""

from __future__ import annotations

import trio

__all__ = ["shielded_nursery"]


async def shielded_nursery(
    *, task_status: trio.TaskStatus[tuple[trio.Nursery, trio.CancelScope]]
) -> None:
    """``nursery, scope = await parent.start(shielded_nursery)``; ``scope.cancel()`` ends it."""
    with trio.CancelScope(shield=True) as scope:
        async with trio.open_nursery() as nursery:
            task_status.started((nursery, scope))
            await trio.sleep_forever()
