"""Channel fixtures: a fake Telegram Bot API on 127.0.0.1 and gateways wired to it.

In-process gateways (``tests.gateway.conftest.start_gateway`` with the scripted router) cover the
framework fast; ``test_telegram_process.py`` runs the real ``nexus gateway run`` child against this
fake and the fake Anthropic API.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from nexus.fakes.telegram_server import FakeTelegram
from tests.channels.gateways import GatewayFactory, channel_gateways


class PlainSettings(BaseModel):
    """Settings of the tests' own small channels (the ``ChannelSettings`` protocol, nothing more)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    pairing: bool = False
    edit_interval_s: float = 1.0
    allow: list[str] = Field(default_factory=list)

    def allow_ids(self) -> set[str]:
        return set(self.allow)

    def owner_chats(self) -> list[str]:
        return []


OWNER = 4242
STRANGER = 777


def new_token() -> str:
    return f"{secrets.randbelow(10**9) + 10**8}:{secrets.token_urlsafe(30)}"


def telegram_table(fake: FakeTelegram, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "api_base": fake.base_url,
        "allow": [OWNER],
        "poll_timeout_s": 1,
        "stall_grace_s": 1.0,
        "edit_interval_s": 0.05,
        "request_timeout_s": 5.0,
    }
    table.update(overrides)
    return table


async def until(predicate: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` without blocking the loop (bounded); return its first truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def token() -> str:
    return new_token()


@pytest.fixture
def fake_tg(token: str) -> Iterator[FakeTelegram]:
    with FakeTelegram(token) as fake:
        yield fake


@pytest.fixture
async def telegram_gateway(
    tmp_path: Path, fake_tg: FakeTelegram, token: str
) -> AsyncIterator[GatewayFactory]:
    """``await telegram_gateway(router=..., home=..., **table_overrides)`` -> a running gateway."""
    table = lambda **overrides: telegram_table(fake_tg, **overrides)  # noqa: E731
    async with channel_gateways(tmp_path, "telegram", secret=token, table=table) as start:
        yield start
