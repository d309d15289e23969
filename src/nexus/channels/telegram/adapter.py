"""Telegram over the Bot API with python-telegram-bot: long polling, send, edit, typing.

Guarantees this adapter owns (the manager owns the rest):

- **one poller per bot token on this host**: a flock keyed by a hash of the token is taken before the
  first ``getUpdates``; a second gateway gets :class:`Conflict` at once and waits in standby instead
  of making Telegram answer 409 to both, back and forth;
- **acknowledge after commit**: the offset sent with the next ``getUpdates`` moves past an update only
  after the handler returned for it;
- **a stalled long poll is an error**: no answer within ``poll_timeout_s + stall_grace_s`` raises
  :class:`Stalled`, and the manager rebuilds the connection;
- every ``telegram.error`` is translated here, once, into :mod:`nexus.channels.errors`, with the
  token scrubbed from the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

from telegram import Bot, ReplyParameters
from telegram import error as tg
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from nexus.channels import errors
from nexus.channels.base import InboundHandler, TransportHealth
from nexus.channels.liveness import poll_deadline_s, transport_alive
from nexus.channels.telegram import redact
from nexus.channels.telegram.convert import to_inbound
from nexus.channels.telegram.manifest import TelegramConfig
from nexus.common.clock import Clock, SystemClock
from nexus.common.locks import FileLock
from nexus.common.net import is_loopback_url
from nexus.common.secret import Secret

MESSAGE_LIMIT = 4096

# Opt into python-telegram-bot's future time-period type (timedelta) now: the old int form emits a
# deprecation warning from inside PTB each time a RetryAfter is built, noise in logs (and an error
# wherever warnings are errors). ``_retry_after_s`` reads either form.
os.environ.setdefault("PTB_TIMEDELTA", "true")


def create(
    *, config: TelegramConfig, token: Secret, lock_dir: Path, clock: Clock | None = None
) -> TelegramChannel:
    return TelegramChannel(config=config, token=token, lock_dir=lock_dir, clock=clock)


def poller_lock_path(lock_dir: Path, token: Secret) -> Path:
    digest = hashlib.sha256(b"nexus-telegram-poller:" + token.reveal().encode()).hexdigest()[:24]
    return Path(lock_dir) / f"telegram-{digest}.lock"


class TelegramChannel:
    name = "telegram"
    message_limit = MESSAGE_LIMIT

    def __init__(
        self, *, config: TelegramConfig, token: Secret, lock_dir: Path, clock: Clock | None = None
    ) -> None:
        redact.install()
        self._config = config
        self._token = token
        self._clock = clock or SystemClock()
        self._lock = FileLock(poller_lock_path(lock_dir, token))
        self._bot: Bot | None = None
        self._offset: int | None = None
        self._ok_at: float | None = None
        self._identity: str | None = None
        self._stop = asyncio.Event()
        self._outbound = asyncio.Semaphore(config.max_concurrent_requests)

    def __repr__(self) -> str:
        return f"TelegramChannel(api_base={self._config.api_base!r})"

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stop.clear()
        if not self._lock.held and not self._lock.try_acquire():
            holder = self._lock.read_owner().strip() or "another process"
            raise errors.Conflict(
                f"another Nexus gateway ({holder}) already polls this bot token on this host; "
                "this one stays in standby and takes over if that one stops",
                local=True,
            )
        self._lock.write_owner(f"pid {os.getpid()}")
        bot = self._build_bot()
        try:
            await bot.initialize()  # getMe: checks the token
        except tg.TelegramError as exc:
            with contextlib.suppress(Exception):
                await bot.shutdown()
            raise self._inbound_error(exc) from None
        self._bot = bot
        self._ok_at = self._clock.time()
        self._identity = f"@{bot.username}" if bot.username else None

    async def stop(self) -> None:
        self._stop.set()
        bot, self._bot = self._bot, None
        if bot is not None:
            with contextlib.suppress(Exception):
                await bot.shutdown()
        self._lock.release()

    def health(self) -> TransportHealth:
        alive = self._bot is not None and transport_alive(
            now=self._clock.time(),
            last_ok_at=self._ok_at,
            poll_timeout_s=self._config.poll_timeout_s,
            grace_s=self._config.stall_grace_s,
        )
        return TransportHealth(alive=alive, ok_at=self._ok_at, identity=self._identity)

    def _build_bot(self) -> Bot:
        local = is_loopback_url(self._config.api_base)
        kwargs: dict[str, Any] = {"trust_env": False} if local else {}
        timeout = self._config.request_timeout_s
        request = HTTPXRequest(
            connection_pool_size=self._config.max_concurrent_requests,
            read_timeout=timeout,
            write_timeout=timeout,
            connect_timeout=timeout,
            pool_timeout=timeout,
            httpx_kwargs=kwargs,
        )
        # httpx's own read timeout sits past our stall deadline, so the stall is always ours to see
        updates_request = HTTPXRequest(
            connection_pool_size=1,
            read_timeout=self._config.stall_grace_s * 2,
            connect_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
            httpx_kwargs=kwargs,
        )
        return Bot(
            self._token.reveal(),
            base_url=f"{self._config.api_base}/bot",
            base_file_url=f"{self._config.api_base}/file/bot",
            request=request,
            get_updates_request=updates_request,
        )

    # -- inbound ----------------------------------------------------------------------------------

    async def receive(self, handler: InboundHandler) -> None:
        bot = self._require_bot(errors.TransportError)
        deadline = poll_deadline_s(self._config.poll_timeout_s, self._config.stall_grace_s)
        while not self._stop.is_set():
            try:
                updates = await asyncio.wait_for(
                    bot.get_updates(
                        offset=self._offset, timeout=self._config.poll_timeout_s, allowed_updates=["message"]
                    ),
                    deadline,
                )
            except TimeoutError:
                raise errors.Stalled(
                    f"long poll gave no answer in {deadline:.0f}s (poll {self._config.poll_timeout_s}s + "
                    f"grace {self._config.stall_grace_s:.0f}s); rebuilding the connection"
                ) from None
            except tg.TelegramError as exc:
                raise self._inbound_error(exc) from None
            self._ok_at = self._clock.time()
            for update in updates:
                message = to_inbound(update)
                if message is not None:
                    await handler(message)  # committed: only now may the offset pass it
                self._offset = update.update_id + 1

    # -- outbound ---------------------------------------------------------------------------------

    async def send(self, chat_id: str, text: str, *, reply_to: str | None = None) -> str:
        bot = self._require_bot(errors.TransientSendError)
        reply = (
            ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True) if reply_to else None
        )
        try:
            async with self._outbound:
                message = await bot.send_message(chat_id=int(chat_id), text=text, reply_parameters=reply)
        except tg.TelegramError as exc:
            raise self._send_error(exc) from None
        self._ok_at = self._clock.time()
        return str(message.message_id)

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        bot = self._require_bot(errors.TransientSendError)
        try:
            async with self._outbound:
                await bot.edit_message_text(text=text, chat_id=int(chat_id), message_id=int(message_id))
        except tg.BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            raise self._send_error(exc) from None
        except tg.TelegramError as exc:
            raise self._send_error(exc) from None
        self._ok_at = self._clock.time()

    async def typing(self, chat_id: str) -> None:
        bot = self._require_bot(errors.TransientSendError)
        try:
            async with self._outbound:
                await bot.send_chat_action(chat_id=int(chat_id), action="typing")
        except tg.TelegramError as exc:
            raise self._send_error(exc) from None

    # -- translation, once ------------------------------------------------------------------------

    def _require_bot(self, error: type[errors.ChannelError]) -> Bot:
        if self._bot is None:
            raise error("telegram is not connected")
        return self._bot

    def _text(self, exc: BaseException) -> str:
        return redact.redact(str(exc), self._token.reveal())

    def _inbound_error(self, exc: tg.TelegramError) -> errors.ChannelError:
        text = self._text(exc)
        if isinstance(exc, tg.InvalidToken):
            return errors.AuthRejected(
                f"Telegram rejected the bot token ({text}); check it with @BotFather and store it again "
                "with `nexus channels add telegram`"
            )
        if isinstance(exc, tg.Conflict):
            return errors.Conflict(
                f"Telegram answered 409 Conflict: another program polls this bot token (another host, or "
                f"a gateway with another lock directory) or a webhook is set: {text}"
            )
        if isinstance(exc, tg.RetryAfter):
            return errors.TransportError(f"Telegram rate-limited polling: {text}")
        return errors.TransportError(f"Telegram poll failed: {type(exc).__name__}: {text}")

    def _send_error(self, exc: tg.TelegramError) -> errors.SendError:
        text = self._text(exc)
        if isinstance(exc, tg.RetryAfter):
            return errors.RateLimited(f"Telegram: {text}", retry_after=_retry_after_s(exc))
        if isinstance(exc, tg.Forbidden | tg.BadRequest | tg.ChatMigrated | tg.InvalidToken):
            return errors.PermanentSendError(f"Telegram: {type(exc).__name__}: {text}")
        return errors.TransientSendError(f"Telegram: {type(exc).__name__}: {text}")


def _retry_after_s(exc: tg.RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = exc.retry_after
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)
