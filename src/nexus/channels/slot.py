"""What the channel framework keeps per configured channel: its health, settings, live connection,
intake, the wake-up of its outbox loop and its tasks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from nexus.channels.base import Channel, ChannelSettings
from nexus.channels.intake import Intake
from nexus.channels.state import ChannelHealth, ChannelState


@dataclass(eq=False)
class Slot:
    name: str
    health: ChannelHealth
    settings: ChannelSettings | None = None
    """None for a channel that failed its configuration (it stays listed, FAILED, with the error)."""
    channel: Channel | None = None
    intake: Intake | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the outbox may have work for this channel."""
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return self.channel is not None and self.health.state is ChannelState.CONNECTED
