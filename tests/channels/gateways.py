"""In-process gateways wired to one fake platform: the factory every channel's tests share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nexus.channels.secrets import ChannelSecrets
from nexus.common.secret import Secret
from nexus.config.schema import NexusConfig
from tests.gateway.conftest import RunningGateway, ScriptedRouter, start_gateway

GatewayFactory = Callable[..., Awaitable[RunningGateway]]


def write_home(home: Path, channel: str, secret: str, table: Mapping[str, Any]) -> None:
    """A NEXUS_HOME for a gateway child: the channel's secret and its ``[channels.NAME]`` table."""
    home.mkdir(parents=True, exist_ok=True)
    ChannelSecrets(home).set(channel, Secret(secret))
    lines = [f"[channels.{channel}]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    (home / "nexus.toml").write_text("\n".join(lines) + "\n")


@asynccontextmanager
async def channel_gateways(
    tmp_path: Path, channel: str, *, secret: str, table: Callable[..., dict[str, Any]]
) -> AsyncIterator[GatewayFactory]:
    """``await start(router=, home=, secret=, **table_overrides)`` -> a running gateway; all stopped
    on exit. ``table(**overrides)`` builds the channel's table."""
    running: list[tuple[asyncio.Event, asyncio.Task[None], ScriptedRouter]] = []

    async def start(
        *,
        router: ScriptedRouter | None = None,
        home: Path | None = None,
        secret_override: str | None = None,
        **overrides: Any,
    ) -> RunningGateway:
        home = home or tmp_path / f"home{len(running)}"
        ChannelSecrets(home).set(channel, Secret(secret_override or secret))
        config = NexusConfig(channels={channel: table(**overrides)})
        router = router or ScriptedRouter()
        gw, stop, task = await start_gateway(home, router, config)
        running.append((stop, task, router))
        return gw

    try:
        yield start
    finally:
        for stop, task, router in reversed(running):
            if router.gate is not None:
                router.gate.set()
            stop.set()
            await asyncio.wait_for(task, 15)
