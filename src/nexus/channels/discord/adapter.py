"""Discord over the gateway with discord.py: events from the socket, replies over REST.

Guarantees this adapter owns (the manager owns the rest):

- **replies are idempotent**: messages are created with ``nonce`` + ``enforce_nonce`` (discord.py sets
  a nonce but never ``enforce_nonce``), the nonce derived from what the reply answers, so a send
  repeated after a crash returns the message that already exists (then edited to the new text);
- **our own escalation above discord.py's**: discord.py RESUMEs forever on 1005/1006 closes; after
  ``max_resume_attempts`` reconnects without RESUMED or READY we drop the client and a fresh one
  IDENTIFYs. After every new session (READY) the chats seen so far are backfilled with
  ``GET /channels/{id}/messages?after=<last id>``, because RESUME replays only within a session;
- **final close codes**: 4004 (token) and 4014 (MESSAGE_CONTENT intent not enabled) raise
  :class:`AuthRejected` with the fix; the manager never loops on them;
- **two liveness signals**: transport (heartbeat ACKs; a zombie without ACKs for
  ``zombie_after_heartbeats`` intervals is resumed at once, not after discord.py's 60 s) and delivery
  (any message, or a canary post that must come back as MESSAGE_CREATE);
- **one gateway connection per bot token on this host** (a flock keyed by a hash of the token);
- REST 429s: discord.py honours the buckets and sleeps up to ``max_ratelimit_wait_s``; longer waits
  become :class:`RateLimited` for the outbox. Every discord.py error is translated here, once.

discord.py reads its endpoints from two class attributes (``Route.BASE``,
``DiscordWebSocket.DEFAULT_GATEWAY``); :meth:`start` sets them from ``api_base`` and ``gateway_url``,
so one process serves one Discord API (there is only one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import aiohttp
import yarl

with warnings.catch_warnings():
    # discord.py's voice player imports audioop (deprecated in 3.11, gone in 3.13); we use no voice
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

from nexus.channels import errors, poller
from nexus.channels.base import InboundHandler, InboundMessage, TransportHealth
from nexus.channels.canary import DeliveryCanary
from nexus.channels.discord import convert
from nexus.channels.discord.cursors import Cursors
from nexus.channels.discord.manifest import USER_PREFIX, DiscordConfig
from nexus.common.clock import Clock, SystemClock
from nexus.common.locks import FileLock
from nexus.common.secret import Secret

log = logging.getLogger(__name__)

# Nexus uses no voice: discord.py's one-time "PyNaCl/davey is not installed" warnings are noise
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

MESSAGE_LIMIT = 2000
BAD_TOKEN_FIX = (
    "reset the token in the Discord Developer Portal (your application → Bot → Reset Token) and store "
    "it again with `nexus channels add discord`"
)
INTENT_FIX = (
    "Discord refused the MESSAGE CONTENT intent (close 4014); enable it in the Developer Portal → your "
    "application → Bot → Privileged Gateway Intents → MESSAGE CONTENT INTENT, then `nexus restart`"
)


def create(
    *, config: DiscordConfig, token: Secret, lock_dir: Path, clock: Clock | None = None
) -> DiscordChannel:
    return DiscordChannel(config=config, token=token, lock_dir=lock_dir, clock=clock)


def poller_lock_path(lock_dir: Path, token: Secret) -> Path:
    return poller.lock_path(lock_dir, "discord", token)


class _Client(discord.Client):
    """discord.py's client, reporting its session events to the adapter."""

    def __init__(self, *, owner: DiscordChannel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owner = owner
        self.retired = False

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        if not self.retired:  # after stop, no event task may outlive the client (or the loop)
            super().dispatch(event, *args, **kwargs)

    async def on_message(self, message: discord.Message) -> None:
        await self._owner.on_message(message)

    async def on_ready(self) -> None:
        self._owner.on_session(new=True)

    async def on_resumed(self) -> None:
        self._owner.on_session(new=False)

    async def on_disconnect(self) -> None:
        self._owner.on_disconnect()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(self._owner.identify_wait_s)


class DiscordChannel:
    name = "discord"
    message_limit = MESSAGE_LIMIT

    def __init__(
        self, *, config: DiscordConfig, token: Secret, lock_dir: Path, clock: Clock | None = None
    ) -> None:
        self._config = config
        self._token = token
        self._clock = clock or SystemClock()
        lock_path = poller_lock_path(lock_dir, token)
        self._lock = FileLock(lock_path)
        self.identify_wait_s = config.identify_wait_s
        self._client: _Client | None = None
        self._runner: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._handler: InboundHandler | None = None
        self._handler_set = asyncio.Event()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._unsettled = 0
        """Reconnects since the last RESUMED or READY."""
        self._cursors = Cursors(lock_path.with_suffix(".cursors.json"))
        self._cursor_writer: asyncio.Task[None] | None = None
        """chat id -> (last message id seen, is a DM): what a backfill asks after a new session."""
        self._dm_channels: dict[str, str] = {}
        self._identity: str | None = None
        self._transport_ok_at: float | None = None
        self._canary = DeliveryCanary(
            channel=config.canary_channel,
            interval_s=config.canary_interval_s,
            timeout_s=config.canary_timeout_s,
            clock=self._clock,
        )
        self._background: set[asyncio.Task[None]] = set()
        self.sessions = 0
        self.zombies = 0

    def __repr__(self) -> str:
        return f"DiscordChannel(api_base={self._config.api_base!r})"

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stop.clear()
        self._ready.clear()
        self._unsettled = 0
        poller.hold(self._lock, what="this Discord bot's gateway connection")
        Route.BASE = self._config.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._config.gateway_url)
        intents = discord.Intents.none()
        intents.guilds = intents.dm_messages = intents.guild_messages = intents.message_content = True
        client = _Client(
            owner=self,
            intents=intents,
            heartbeat_timeout=self._config.heartbeat_timeout_s,
            guild_ready_timeout=self._config.guild_ready_timeout_s,
            max_messages=None,
            chunk_guilds_at_startup=False,
            max_ratelimit_timeout=max(self._config.max_ratelimit_wait_s, 1.0),
        )
        self._client = client
        try:
            await client.login(self._token.reveal())
        except discord.LoginFailure:
            raise errors.AuthRejected(f"Discord rejected the bot token (401); {BAD_TOKEN_FIX}") from None
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise errors.TransportError(f"Discord login failed: {type(exc).__name__}: {exc}") from None
        user = client.user
        self._identity = f"@{user.name}" if user is not None else None
        self._runner = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait(
                {ready, self._runner},
                timeout=self._config.ready_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            ready.cancel()
        if self._runner in done:
            raise self._gateway_error(self._runner)
        if not self._ready.is_set():
            raise errors.TransportError(f"Discord sent no READY within {self._config.ready_timeout_s:.0f}s")
        self._transport_ok_at = self._clock.time()
        self._canary.connected()

    async def stop(self) -> None:
        writer = self._cursor_writer
        if writer is not None and not writer.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(writer), 5)
        self._cursors.flush()
        self._stop.set()
        self._wake.set()
        self._handler_set.clear()
        client, self._client = self._client, None
        if client is not None:
            client.retired = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
        for task in list(self._background):
            task.cancel()
        self._canary.cancel()
        self._lock.release()

    def health(self) -> TransportHealth:
        now = self._clock.time()
        interval = self._heartbeat_interval() or 45.0
        alive = (
            self._client is not None
            and self._transport_ok_at is not None
            and now - self._transport_ok_at <= interval * (self._config.zombie_after_heartbeats + 1)
        )
        return TransportHealth(
            alive=alive,
            ok_at=self._transport_ok_at,
            identity=self._identity,
            details={
                **self._canary.details(active=self._client is not None),
                "sessions": self.sessions,
                "zombie_resumes": self.zombies,
            },
        )

    # -- session events (from discord.py) ---------------------------------------------------------

    def on_session(self, *, new: bool) -> None:
        self._unsettled = 0
        self._transport_ok_at = self._clock.time()
        if new:
            self.sessions += 1
            self._ready.set()
            self._spawn(self._backfill())  # after a restart too: the cursors are on disk

    def on_disconnect(self) -> None:
        self._unsettled += 1
        self._wake.set()

    async def on_message(self, message: discord.Message) -> None:
        self._canary.delivered()
        client = self._client
        bot_id = str(client.user.id) if client is not None and client.user is not None else None
        author_id = str(message.author.id)
        if author_id == bot_id:
            self._canary.echo(message.content)
            return
        is_dm = message.guild is None and getattr(message.channel, "guild_id", None) is None
        inbound = convert.to_inbound(
            message_id=str(message.id),
            channel_id=str(message.channel.id),
            author_id=author_id,
            author_bot=bool(message.author.bot),
            content=message.content,
            is_dm=is_dm,
            mention_ids={str(u.id) for u in message.mentions},
            bot_id=bot_id,
        )
        await self._take(inbound, str(message.channel.id), str(message.id), is_dm)

    async def _take(self, inbound: InboundMessage | None, chat_id: str, message_id: str, is_dm: bool) -> None:
        if inbound is not None:
            try:
                await asyncio.wait_for(self._handler_set.wait(), self._config.ready_timeout_s)
                assert self._handler is not None
                await self._handler(inbound)
            except Exception:
                log.exception(
                    "discord: could not commit message %s; the next backfill retries it", message_id
                )
                return
        self._cursors.seen(chat_id, message_id, is_dm=is_dm)
        self._flush_cursors()  # soon, so a restart after a kill -9 backfills from here

    def _flush_cursors(self) -> None:
        if self._cursor_writer is None or self._cursor_writer.done():
            self._cursor_writer = asyncio.create_task(self._write_cursors())

    async def _write_cursors(self) -> None:
        while (text := self._cursors.snapshot()) is not None:
            await asyncio.to_thread(self._cursors.write, text)

    async def _backfill(self) -> None:
        """After a new session: what was said in the chats we know while no session listened."""
        client = self._client
        if client is None:
            return
        bot_id = str(client.user.id) if client.user is not None else None
        for chat_id, (after, is_dm) in list(self._cursors.items()):
            try:
                route = Route("GET", "/channels/{channel_id}/messages", channel_id=chat_id)
                missed = await client.http.request(route, params={"after": after, "limit": 100})
            except Exception as exc:
                log.warning("discord: backfill of %s failed: %s", chat_id, type(exc).__name__)
                continue
            for data in sorted(missed, key=lambda m: int(m["id"])):
                author = data.get("author") or {}
                inbound = convert.to_inbound(
                    message_id=str(data["id"]),
                    channel_id=chat_id,
                    author_id=str(author.get("id")),
                    author_bot=bool(author.get("bot")),
                    content=str(data.get("content") or ""),
                    is_dm=is_dm,
                    mention_ids={str(u.get("id")) for u in data.get("mentions") or []},
                    bot_id=bot_id,
                )
                await self._take(inbound, chat_id, str(data["id"]), is_dm)
            if missed:
                log.info("discord: backfilled %d message(s) in %s after a new session", len(missed), chat_id)

    # -- inbound ----------------------------------------------------------------------------------

    async def receive(self, handler: InboundHandler) -> None:
        if self._client is None or self._runner is None:
            raise errors.TransportError("discord is not started")
        self._handler = handler
        self._handler_set.set()
        while not self._stop.is_set():
            self._wake.clear()
            interval = self._heartbeat_interval() or 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(interval, 1.0))
            if self._stop.is_set():
                return
            if self._runner.done():
                raise self._gateway_error(self._runner)
            if self._unsettled > self._config.max_resume_attempts:
                raise errors.TransportError(
                    f"Discord: {self._unsettled} reconnects without RESUMED or READY; starting a fresh "
                    "session (IDENTIFY), then backfilling"
                )
            await self._check_heartbeat()
            if self._canary.due():
                await self._canary.probe(self._post_check, platform="Discord gateway")

    def _heartbeat_interval(self) -> float | None:
        keep_alive = getattr(getattr(self._client, "ws", None), "_keep_alive", None)
        interval = getattr(keep_alive, "interval", None)
        return float(interval) if interval else None

    async def _check_heartbeat(self) -> None:
        ws = getattr(self._client, "ws", None)
        keep_alive = getattr(ws, "_keep_alive", None)
        if ws is None or keep_alive is None or not keep_alive.interval:
            return
        silent_for = time.perf_counter() - float(keep_alive._last_ack)
        if silent_for <= keep_alive.interval * self._config.zombie_after_heartbeats:
            self._transport_ok_at = self._clock.time() - silent_for
            return
        self.zombies += 1
        log.warning("discord: no heartbeat ACK for %.1fs (a zombie connection); resuming", silent_for)
        with contextlib.suppress(Exception):
            await ws.close(4000)  # discord.py answers a 4000 close with RESUME

    async def _post_check(self, channel: str, text: str) -> None:
        await self._create(channel, text, reply_to=None)

    # -- outbound ---------------------------------------------------------------------------------

    async def send(self, chat_id: str, text: str, *, reply_to: str | None = None) -> str:
        channel_id = await self._resolve(chat_id)
        data = await self._create(channel_id, text, reply_to=reply_to)
        if data.get("content") != text:  # the nonce found the message a crashed attempt created
            await self.edit(channel_id, str(data["id"]), text)
        return str(data["id"])

    async def _create(self, channel_id: str, text: str, *, reply_to: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "content": text,
            "nonce": convert.reply_nonce(channel_id, reply_to, text),
            "enforce_nonce": True,
            "allowed_mentions": {"parse": [], "replied_user": False},
        }
        if reply_to is not None:
            payload["message_reference"] = {"message_id": reply_to, "fail_if_not_exists": False}
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        data: dict[str, Any] = await self._request(route, json=payload)
        return data

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        channel_id = await self._resolve(chat_id)
        route = Route(
            "PATCH",
            "/channels/{channel_id}/messages/{message_id}",
            channel_id=channel_id,
            message_id=message_id,
        )
        await self._request(route, json={"content": text})

    async def typing(self, chat_id: str) -> None:
        channel_id = await self._resolve(chat_id)
        await self._request(Route("POST", "/channels/{channel_id}/typing", channel_id=channel_id))

    async def _resolve(self, chat_id: str) -> str:
        """``user:<id>`` (an owner's DM) -> the DM channel id, opened once."""
        if not chat_id.startswith(USER_PREFIX):
            return chat_id
        user_id = chat_id.removeprefix(USER_PREFIX)
        if user_id not in self._dm_channels:
            data = await self._request(Route("POST", "/users/@me/channels"), json={"recipient_id": user_id})
            self._dm_channels[user_id] = str(data["id"])
        return self._dm_channels[user_id]

    async def _request(self, route: Route, **kwargs: Any) -> Any:
        client = self._client
        if client is None or client.is_closed():
            raise errors.TransientSendError("discord is not connected")
        try:
            return await client.http.request(route, **kwargs)
        except discord.RateLimited as exc:
            raise errors.RateLimited(
                f"Discord: rate limited for {exc.retry_after:.1f}s", retry_after=exc.retry_after
            ) from None
        except (discord.Forbidden, discord.NotFound) as exc:
            raise errors.PermanentSendError(f"Discord: {exc.status} {exc.text or exc.code}") from None
        except discord.DiscordServerError as exc:
            raise errors.TransientSendError(f"Discord: {exc.status} server error") from None
        except discord.HTTPException as exc:
            if exc.status == 401:
                raise errors.PermanentSendError(f"Discord rejected the bot token; {BAD_TOKEN_FIX}") from None
            if 400 <= exc.status < 500:
                raise errors.PermanentSendError(f"Discord: {exc.status} {exc.text or exc.code}") from None
            raise errors.TransientSendError(f"Discord: {exc.status}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise errors.TransientSendError(f"Discord: {type(exc).__name__}: {exc}") from None

    # -- translation, once ------------------------------------------------------------------------

    def _gateway_error(self, runner: asyncio.Task[None]) -> errors.ChannelError:
        exc = runner.exception() if not runner.cancelled() else None
        if isinstance(exc, discord.PrivilegedIntentsRequired):
            return errors.AuthRejected(INTENT_FIX)
        if isinstance(exc, discord.ConnectionClosed):
            if exc.code == 4004:
                return errors.AuthRejected(
                    f"Discord closed the gateway with 4004 (bad token); {BAD_TOKEN_FIX}"
                )
            if exc.code == 4014:
                return errors.AuthRejected(INTENT_FIX)
            if exc.code in (4010, 4011, 4012, 4013):
                return errors.AuthRejected(
                    f"Discord closed the gateway with {exc.code} (bad shard or intents)"
                )
            return errors.TransportError(f"Discord gateway closed with {exc.code}")
        if exc is None:
            return errors.TransportError("Discord gateway connection ended")
        return errors.TransportError(f"Discord gateway failed: {type(exc).__name__}: {exc}")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
