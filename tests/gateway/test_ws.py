"""The WebSocket contract: handshake, origin and token checks, requests, and the event stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from tests.gateway.conftest import RunningGateway, ScriptedRouter


class Peer:
    """A minimal protocol client for tests: requests by id, events collected in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def request(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        req_id = str(self.next_id)
        await self.ws.send(json.dumps({"type": "req", "id": req_id, "method": method, "params": params}))
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["type"] == "event":
                    self.events.append(frame)
                elif frame.get("id") == req_id:
                    return frame

    async def until_event(self, name: str, run_id: str | None = None) -> dict[str, Any]:
        for frame in self.events:
            if frame["event"] == name and (run_id is None or frame["payload"].get("run_id") == run_id):
                return frame
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame["type"] != "event":
                    continue
                self.events.append(frame)
                if frame["event"] == name and (run_id is None or frame["payload"].get("run_id") == run_id):
                    return frame


async def open_peer(gateway: RunningGateway, **params: Any) -> Peer:
    ws = await connect(gateway.ws_url, open_timeout=5)
    peer = Peer(ws)
    reply = await peer.request("connect", protocol=1, token=gateway.token, **params)
    assert reply["ok"], reply
    return peer


async def test_send_streams_deltas_then_one_final(gateway: RunningGateway) -> None:
    peer = await open_peer(gateway)
    try:
        reply = await peer.request("chat.send", session="w", text="stream me", idempotency_key="a1")
        assert reply["ok"] and reply["payload"]["created"] is True
        run_id = reply["payload"]["run_id"]
        final = await peer.until_event("run.final", run_id)
        deltas = [e["payload"]["text"] for e in peer.events if e["event"] == "run.delta"]
        assert "".join(deltas) == "echo: stream me"
        assert final["payload"]["text"] == "echo: stream me"
        names = [e["event"] for e in peer.events]
        assert names.index("run.accepted") < names.index("run.delta") < names.index("run.final")
        assert names.count("run.final") == 1
        seqs = [e["seq"] for e in peer.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gaps
        again = await peer.request("chat.send", session="w", text="stream me", idempotency_key="a1")
        assert again["payload"]["run_id"] == run_id and again["payload"]["created"] is False
        history = await peer.request("chat.history", session="w")
        assert [r["text"] for r in history["payload"]["runs"]] == ["echo: stream me"]
        got = await peer.request("run.get", run_id=run_id)
        assert got["payload"]["status"] == "done"
    finally:
        await peer.ws.close()


async def test_handshake_is_required_and_versioned(gateway: RunningGateway) -> None:
    async with connect(gateway.ws_url, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "req", "id": "1", "method": "status", "params": {}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["error"]["code"] == "handshake_required"
    async with connect(gateway.ws_url, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "req", "id": "1", "method": "connect", "params": {"protocol": 99}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["error"]["code"] == "protocol_mismatch"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002


async def test_token_is_required(gateway: RunningGateway) -> None:
    async with connect(gateway.ws_url, open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "req", "id": "1", "method": "connect", "params": {"protocol": 1}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["error"]["code"] == "unauthorized"
    # a wrong header token: accepted, then closed with the documented 4001 (not a bare HTTP 403)
    async with connect(
        gateway.ws_url, additional_headers={"Authorization": "Bearer nope"}, open_timeout=5
    ) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    # the right token in the upgrade header is enough; connect then needs no token
    async with connect(
        gateway.ws_url, additional_headers={"Authorization": f"Bearer {gateway.token}"}, open_timeout=5
    ) as ws:
        await ws.send(json.dumps({"type": "req", "id": "1", "method": "connect", "params": {"protocol": 1}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["ok"] is True


async def test_foreign_origin_is_refused(gateway: RunningGateway) -> None:
    async with connect(gateway.ws_url, origin="https://evil.example", open_timeout=5) as ws:  # type: ignore[arg-type]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003
    assert closed.value.rcvd.reason == "origin not allowed"
    port = gateway.base_url.rsplit(":", 1)[1]
    async with connect(gateway.ws_url, origin=f"http://localhost:{port}", open_timeout=5) as ws:  # type: ignore[arg-type]
        await ws.send(
            json.dumps(
                {
                    "type": "req",
                    "id": "1",
                    "method": "connect",
                    "params": {"protocol": 1, "token": gateway.token},
                }
            )
        )
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["ok"] is True


async def test_bad_frames_and_params_get_named_errors(gateway: RunningGateway) -> None:
    peer = await open_peer(gateway)
    try:
        await peer.ws.send("{not json")
        bad = json.loads(await asyncio.wait_for(peer.ws.recv(), 5))
        assert bad["error"]["code"] == "bad_frame"
        missing = await peer.request("chat.send", session="w")
        assert missing["error"]["code"] == "bad_request" and "params.text" in missing["error"]["message"]
        unknown = await peer.request("chat.explode")
        assert unknown["error"]["code"] == "unknown_method"
    finally:
        await peer.ws.close()


async def test_abort_ends_a_running_run_and_frees_the_lane(
    gateway: RunningGateway, router: ScriptedRouter
) -> None:
    router.gate = asyncio.Event()
    peer = await open_peer(gateway)
    try:
        first = (await peer.request("chat.send", session="ab", text="hang"))["payload"]["run_id"]
        second = (await peer.request("chat.send", session="ab", text="next"))["payload"]
        assert second["ahead"] == 1
        await peer.until_event("run.status", first)
        aborted = await peer.request("chat.abort", run_id=first)
        assert aborted["payload"]["aborted"] is True
        error = await peer.until_event("run.error", first)
        assert error["payload"]["error"] == "aborted by the user"
        router.gate.set()
        final = await peer.until_event("run.final", second["run_id"])
        assert final["payload"]["text"] == "echo: next"
    finally:
        await peer.ws.close()


async def test_other_sessions_events_are_not_delivered(gateway: RunningGateway) -> None:
    a = await open_peer(gateway)
    b = await open_peer(gateway)
    try:
        run_id = (await a.request("chat.send", session="mine", text="private"))["payload"]["run_id"]
        await a.until_event("run.final", run_id)
        status = await b.request("status")
        assert status["ok"]
        assert not [e for e in b.events if e["payload"].get("run_id") == run_id]
    finally:
        await a.ws.close()
        await b.ws.close()
