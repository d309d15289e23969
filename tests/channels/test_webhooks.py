"""A channel adds an HTTP route: its manifest's webhook paths are served at /channels/NAME/... without
the gateway token, the channel authenticates each call itself, and nothing else is opened."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx

from nexus.channels import TransportHealth
from nexus.channels.base import InboundHandler, InboundMessage, WebhookRequest, WebhookResponse
from nexus.channels.manifest import ChannelManifest
from nexus.channels.secrets import ChannelSecrets
from nexus.common.secret import Secret
from nexus.config.schema import NexusConfig
from tests.channels.conftest import PlainSettings, until
from tests.gateway.conftest import ScriptedRouter, start_gateway

SECRET = b"app-secret"


class HookChannel:
    """A webhook platform in miniature: signed JSON in, sends recorded."""

    name = "hooky"
    message_limit = 1000

    def __init__(self, **_: Any) -> None:
        self.handler: InboundHandler | None = None
        self.sent: list[tuple[str, str]] = []
        self._stop = asyncio.Event()

    async def start(self) -> None:
        self._stop.clear()

    async def receive(self, handler: InboundHandler) -> None:
        self.handler = handler
        await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()

    def health(self) -> TransportHealth:
        return TransportHealth(alive=True, ok_at=None)

    async def send(self, chat_id: str, text: str, *, reply_to: str | None = None) -> str:
        self.sent.append((chat_id, text))
        return str(len(self.sent))

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        return None

    async def typing(self, chat_id: str) -> None:
        return None

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResponse:
        expected = hmac.new(SECRET, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-signature", "")):
            return WebhookResponse(status=401, body=b"bad signature")
        data = json.loads(request.body)
        assert self.handler is not None
        await self.handler(InboundMessage("hooky", data["chat"], data["chat"], data["id"], data["text"]))
        return WebhookResponse(status=200, body=b"ok")  # only after the message was committed


HOOKY = ChannelManifest(
    name="hooky",
    title="Hooky",
    config_model=PlainSettings,
    runtime="tests.channels.test_webhooks:HookChannel",
    secret_prompt="anything",
    secret_check=lambda _: None,
    webhook_paths=("/webhook",),
)


def signed(body: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"x-signature": hmac.new(SECRET, raw, hashlib.sha256).hexdigest()}


async def test_a_declared_webhook_is_open_signed_by_the_platform_and_answered(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ChannelSecrets(home).set("hooky", Secret("x"))
    channel = HookChannel()
    gw, stop, task = await start_gateway(
        home,
        ScriptedRouter(),
        NexusConfig(channels={"hooky": {"allow": ["alice"], "edit_interval_s": 0.0}}),
        channel_options={"manifests": {"hooky": HOOKY}, "factories": {"hooky": lambda **_: channel}},
    )
    try:
        await until(lambda: channel.handler is not None, what="the channel connected")
        async with httpx.AsyncClient(base_url=gw.base_url, timeout=10) as anonymous:
            raw, headers = signed({"chat": "alice", "id": "m1", "text": "hi"})
            ok = await anonymous.post("/channels/hooky/webhook", content=raw, headers=headers)
            forged = await anonymous.post(
                "/channels/hooky/webhook", content=raw, headers={"x-signature": "0" * 64}
            )
            undeclared = await anonymous.post("/channels/hooky/other", content=raw, headers=headers)
            other_channel = await anonymous.post("/channels/telegram/webhook", content=raw, headers=headers)
        async with gw.client() as client:
            with_token = await client.post("/channels/hooky/other", content=raw, headers=headers)
        await until(lambda: channel.sent, what="the answer sent to the chat")
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert (ok.status_code, ok.text) == (200, "ok")
    assert forged.status_code == 401 and forged.text == "bad signature"
    assert undeclared.status_code == 401 and other_channel.status_code == 401  # the token still guards
    assert with_token.status_code == 404
    assert channel.sent == [("alice", "echo: hi")]
