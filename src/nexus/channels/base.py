"""The contract between Nexus and a chat platform: what a channel does, and what the gateway offers it.

A :class:`Channel` (one per platform) does I/O only: connect, receive, send, edit. Everything about
*what* to do (who is served, when to retry, how fast to edit, when to reconnect) lives in the manager
and in pure decision modules, so every channel gets the same guarantees:

- inbound: ``receive`` hands each message to the handler and acknowledges it to the platform only
  after the handler returned, i.e. after the message was committed;
- outbound: sends go through the durable outbox, never straight from a model callback.

The gateway is reached only through :class:`ChannelHost`, so ``nexus.channels`` never imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nexus.protocol.events import Event


@dataclass(frozen=True)
class InboundMessage:
    """A text message from a platform, in our own terms (ids are strings on every platform)."""

    channel: str
    chat_id: str
    sender_id: str
    message_id: str
    text: str
    sender_name: str | None = None

    @property
    def session(self) -> str:
        return f"{self.channel}:{self.chat_id}"

    @property
    def idempotency_key(self) -> str:
        """The platform's own identity of this message: a redelivery maps to the same run."""
        return f"{self.channel}:{self.chat_id}:{self.message_id}"


InboundHandler = Callable[[InboundMessage], Awaitable[None]]
"""Commits one message; returning means the channel may acknowledge it to the platform."""


@dataclass(frozen=True)
class TransportHealth:
    """What only the channel knows about its connection."""

    alive: bool
    """The platform answered within one poll deadline (transport liveness)."""
    ok_at: float | None
    identity: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    """Adapter-specific liveness facts shown in /status as they are (e.g. Slack's and Discord's
    delivery canary: ``delivery_alive``, ``delivery_ok_at``), kept apart from transport liveness."""


class ChannelSettings(Protocol):
    """What the manager reads from any channel's validated config model."""

    enabled: bool
    pairing: bool
    edit_interval_s: float

    def allow_ids(self) -> set[str]: ...

    def owner_chats(self) -> list[str]: ...


class Channel(Protocol):
    """One platform connection. Errors raised are :mod:`nexus.channels.errors` types only."""

    name: str
    message_limit: int
    """Longest text one message may carry."""

    async def start(self) -> None:
        """Connect and check the credential; raise AuthRejected, Conflict or TransportError."""

    async def receive(self, handler: InboundHandler) -> None:
        """Deliver inbound messages to ``handler`` until :meth:`stop`; raise when the transport breaks."""

    async def stop(self) -> None:
        """Release the connection and any poller lock; safe to call twice or after a failed start."""

    def health(self) -> TransportHealth: ...

    async def send(self, chat_id: str, text: str, *, reply_to: str | None = None) -> str:
        """Send a message; return its platform id. Raises SendError subclasses."""

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        """Replace a message's text; an edit to the same text succeeds silently."""

    async def typing(self, chat_id: str) -> None:
        """Best effort "typing..." indicator."""


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request to ``/channels/NAME/PATH`` (a platform's webhook), in our own terms."""

    method: str
    path: str
    """Below ``/channels/NAME``, starting with ``/`` (one of the manifest's ``webhook_paths``)."""
    query: Mapping[str, str]
    headers: Mapping[str, str]
    """Lower-case names."""
    body: bytes


@dataclass(frozen=True)
class WebhookResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


class WebhookChannel(Channel, Protocol):
    """A channel the platform calls over HTTP (WhatsApp Cloud API, Slack Events...).

    Its manifest lists ``webhook_paths``; the gateway serves them under ``/channels/NAME/`` **without
    the gateway token** (the platform does not have it), so ``handle_webhook`` must authenticate every
    request itself (signature header, verify token) before it trusts a byte. Inbound messages still
    go through the handler given to :meth:`receive`: committed before the platform gets its 200.
    """

    async def handle_webhook(self, request: WebhookRequest) -> WebhookResponse: ...


@dataclass(frozen=True)
class Accepted:
    run_id: str
    created: bool


class ChannelHost(Protocol):
    """What the gateway offers channels (implemented in ``nexus.gateway.channels_host``)."""

    def accept(self, *, session: str, text: str, channel: str, sender: str, idempotency_key: str) -> Accepted:
        """Commit a message as a run (same key, same run) and queue it."""

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` synchronously for every event of the vocabulary
        (:mod:`nexus.protocol.events`); a channel acts on :class:`~nexus.protocol.events.RunDelta`,
        :class:`~nexus.protocol.events.RunFallback`, :class:`~nexus.protocol.events.RunFinal` and
        :class:`~nexus.protocol.events.RunError` and ignores the rest."""
