"""One WebSocket connection against a real gateway socket: handshake, requests, events, errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

from nexus.client import (
    Connection,
    Endpoint,
    GatewayEvent,
    GatewayHTTP,
    GatewayNotRunning,
    ProtocolMismatch,
    RequestFailed,
    SeqGap,
    Unauthorized,
)
from nexus.common.secret import Secret
from tests.gateway.conftest import RunningGateway


def endpoint_of(gw: RunningGateway, token: str | None = "same") -> Endpoint:
    secret = Secret(gw.token) if token == "same" else (Secret(token) if token else None)
    return Endpoint(base_url=gw.base_url, token=secret)


def closed_port() -> int:
    """A port nothing listens on: bound then closed (the kernel refuses connections to it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_handshake_request_and_streamed_events(gateway: RunningGateway) -> None:
    async with await Connection.open(endpoint_of(gateway)) as conn:
        assert conn.server["protocol"] == 1
        sent = await conn.request("chat.send", {"session": "c1", "text": "hi", "idempotency_key": "k1"})
        names = []
        async with asyncio.timeout(10):
            async for item in conn.events():
                assert isinstance(item, GatewayEvent)
                names.append(item.name)
                if item.name == "run.final":
                    assert item.payload["text"] == "echo: hi"
                    break
    assert sent["created"] is True
    assert names[0] == "run.accepted" and "run.delta" in names
    assert [n for n in names if n in ("run.final", "run.error")] == ["run.final"]


async def test_wrong_and_missing_token_are_unauthorized_with_the_fix(gateway: RunningGateway) -> None:
    with pytest.raises(Unauthorized, match="nexus token") as wrong:
        await Connection.open(endpoint_of(gateway, token="not-the-token"))
    assert gateway.token not in str(wrong.value)
    with pytest.raises(Unauthorized, match="nexus up"):
        await Connection.open(endpoint_of(gateway, token=None))


async def test_a_protocol_mismatch_says_to_upgrade(gateway: RunningGateway) -> None:
    with pytest.raises(ProtocolMismatch, match="upgrade the client"):
        await Connection.open(endpoint_of(gateway), protocol=99)


async def test_request_errors_are_typed(gateway: RunningGateway) -> None:
    async with await Connection.open(endpoint_of(gateway)) as conn:
        with pytest.raises(RequestFailed) as err:
            await conn.request("run.get", {"run_id": "run_missing"})
        assert err.value.code == "not_found"


async def test_refused_port_is_gateway_not_running_within_two_seconds() -> None:
    endpoint = Endpoint(base_url=f"http://127.0.0.1:{closed_port()}", token=None)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(GatewayNotRunning, match="nexus up"):
        await Connection.open(endpoint)
    with pytest.raises(GatewayNotRunning, match="nexus up"):
        async with GatewayHTTP(endpoint) as http:
            await http.healthz()
    assert loop.time() - started < 2.0


async def test_seq_gap_is_reported_before_the_event(gateway: RunningGateway) -> None:
    async with await Connection.open(endpoint_of(gateway)) as conn:
        conn._dispatch('{"type": "event", "event": "tick", "payload": {}, "seq": 1}')
        conn._dispatch('{"type": "event", "event": "tick", "payload": {}, "seq": 4}')
        first = await conn.next_event(1)
        gap = await conn.next_event(1)
        after = await conn.next_event(1)
    assert isinstance(first, GatewayEvent) and first.seq == 1
    assert gap == SeqGap(expected=2, got=4)
    assert isinstance(after, GatewayEvent) and after.seq == 4


async def test_http_client_message_and_long_poll(gateway: RunningGateway) -> None:
    async with GatewayHTTP(endpoint_of(gateway)) as http:
        assert await http.healthz() is True
        accepted = await http.send("h1", "hello", idempotency_key="once")
        again = await http.send("h1", "hello", idempotency_key="once")
        run = await http.run(accepted["run_id"], wait=5)
        assert (await http.history("h1"))[-1]["run_id"] == accepted["run_id"]
    assert again["run_id"] == accepted["run_id"] and again["created"] is False
    assert run["status"] == "done" and run["text"] == "echo: hello"
    async with GatewayHTTP(endpoint_of(gateway, token="nope")) as bad:
        with pytest.raises(Unauthorized):
            await bad.status()
