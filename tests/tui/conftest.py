"""A real gateway process in front of the fake Anthropic API, and bounded polling for pilot tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexus.client import Endpoint
from nexus.common.secret import Secret
from nexus.fakes.anthropic_server import FakeAnthropic
from tests.gateway.conftest import gateway, router  # noqa: F401  (the in-process gateway fixtures)
from tests.gateway_process import GatewayProcess


@pytest.fixture
def live_gateway(tmp_path: Path, fake_anthropic: FakeAnthropic) -> Iterator[GatewayProcess]:
    env = {"ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_API_KEY": "test-key"}
    with GatewayProcess(tmp_path / "home", env=env) as gw:
        yield gw


def endpoint_of(gw: GatewayProcess) -> Endpoint:
    return Endpoint(base_url=gw.base_url, token=Secret(gw.token))


async def until(
    what: str | Callable[[], str],
    predicate: Callable[[], object],
    *,
    timeout: float = 10.0,
    step: float = 0.02,
) -> float:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout``. Returns the seconds taken."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:g}s: {what if isinstance(what, str) else what()}")
        await asyncio.sleep(step)
    return time.monotonic() - started
