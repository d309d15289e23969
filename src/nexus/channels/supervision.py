"""Keep one channel connected: start -> receive -> (error) -> backoff along the reconnect ladder -> start.

Any exception, even a bug in an adapter, ends in BACKOFF (or STANDBY, FAILED) with the error recorded,
never in a dead task; the ladder (:mod:`nexus.channels.ladder`, pure) decides how long to wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nexus.channels import ladder
from nexus.channels.base import Channel, InboundHandler
from nexus.channels.errors import AuthRejected, ChannelConfigError, ChannelError, Conflict
from nexus.channels.slot import Slot
from nexus.channels.state import ChannelState
from nexus.common.clock import Clock

log = logging.getLogger("nexus.channels.manager")


async def supervise(
    slot: Slot,
    *,
    build: Callable[[Slot], Awaitable[Channel]],
    handler: InboundHandler,
    stopping: asyncio.Event,
    clock: Clock,
) -> None:
    failures = 0
    health = slot.health
    while not stopping.is_set():
        health.move(ChannelState.STARTING, now=clock.time())
        connected_at: float | None = None
        kind = ladder.FailureKind.TRANSPORT
        to = ChannelState.BACKOFF
        try:
            if slot.channel is None:
                slot.channel = await build(slot)
            await slot.channel.start()
            connected_at = clock.monotonic()
            health.move(ChannelState.CONNECTED, now=clock.time())
            health.identity = slot.channel.health().identity
            slot.wake.set()
            await slot.channel.receive(handler)
            if stopping.is_set():
                break
            raise ChannelError("receive ended without being stopped")
        except asyncio.CancelledError:
            raise
        except Conflict as exc:
            kind = ladder.FailureKind.STANDBY if exc.local else ladder.FailureKind.CONFLICT
            to = ChannelState.STANDBY
            health.error(str(exc), now=clock.time())
        except (AuthRejected, ChannelConfigError) as exc:
            kind, to = ladder.FailureKind.FATAL, ChannelState.FAILED
            health.error(str(exc), now=clock.time())
        except ChannelError as exc:
            health.error(str(exc), now=clock.time())
        except Exception as exc:
            log.exception("channel %s crashed; it restarts, the gateway carries on", slot.name)
            health.error(f"crashed: {type(exc).__name__}: {exc}", now=clock.time())
        if slot.channel is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(slot.channel.stop(), 10)
        connected_for = None if connected_at is None else clock.monotonic() - connected_at
        failures = ladder.failures_after(failures, connected_for_s=connected_for)
        delay = ladder.reconnect_delay(failures, kind)
        health.move(to, now=clock.time())
        health.reconnects += 1
        health.retry_at = clock.time() + delay
        log.warning("channel %s: %s; next attempt in %.1fs", slot.name, health.last_error, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        health.retry_at = None
