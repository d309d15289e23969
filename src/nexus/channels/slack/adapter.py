"""Slack over Socket Mode with slack-sdk: the websockets client for events, AsyncWebClient for calls.

Guarantees this adapter owns (the manager owns the rest):

- **ack after commit**: an ``events_api`` envelope is acknowledged only after the handler returned
  (the message is a committed run). Bolt's default handler acks first, so Bolt is not used. A handler
  that fails sends no ack and Slack redelivers; the redelivery carries a new ``envelope_id`` but the
  same event, hence the same message ``ts`` and the same run (see :mod:`convert`);
- **disconnect reasons**: ``refresh_requested`` and ``warning`` let the SDK open the new socket before
  closing the old one; ``link_disabled`` (Socket Mode switched off) is final, with the fix in the
  error; ``too_many_websockets`` is a :class:`Conflict` (someone else holds the app's sockets), which
  the manager backs off from instead of opening an 11th socket every half second;
- **two liveness signals**: transport (our own ping answered within ``pong_timeout_s``) and delivery
  (any event, or, on a quiet workspace, a canary post in ``canary_channel`` that must come back as an
  event within ``canary_timeout_s``). A socket that pongs but delivers nothing raises :class:`Stalled`
  and the manager replaces it; a quiet workspace is not mistaken for a dead one;
- **one Socket Mode client per app token on this host** (a flock keyed by a hash of the token);
- **one ``chat.update`` budget per workspace** (:mod:`budget`), shared by every streaming answer;
- every SDK error is translated here, once, into :mod:`nexus.channels.errors`; a 429 becomes
  :class:`RateLimited` with Slack's ``Retry-After`` (no SDK retry handler sleeps behind our back),
  and further calls of that method wait it out too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.socket_mode.websockets import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from nexus.channels import errors, poller
from nexus.channels.base import InboundHandler, TransportHealth
from nexus.channels.canary import DeliveryCanary
from nexus.channels.slack import convert
from nexus.channels.slack.budget import Bucket
from nexus.channels.slack.manifest import SlackConfig, split_tokens
from nexus.common.clock import Clock, SystemClock
from nexus.common.locks import FileLock
from nexus.common.redact import redact
from nexus.common.secret import Secret

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4000
"""Slack truncates past 40,000 characters and advises 4,000 for readability."""
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "restricted_action",
        "missing_scope",
        "not_allowed_token_type",
        *AUTH_ERRORS,
    }
)
LINK_DISABLED_FIX = (
    "Slack disabled Socket Mode for this app (disconnect: link_disabled); switch it on again at "
    "api.slack.com/apps → your app → Socket Mode, then `nexus restart`"
)


def create(*, config: SlackConfig, token: Secret, lock_dir: Path, clock: Clock | None = None) -> SlackChannel:
    return SlackChannel(config=config, token=token, lock_dir=lock_dir, clock=clock)


def poller_lock_path(lock_dir: Path, app_token: Secret) -> Path:
    return poller.lock_path(lock_dir, "slack", app_token)


class _QuietClose(logging.Filter):
    """slack-sdk logs an ERROR when its receive loop meets the socket *we* closed (ConnectionClosedOK)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ConnectionClosedOK" not in record.getMessage()


SDK_LOG = logging.getLogger("nexus.channels.slack.sdk")
SDK_LOG.addFilter(_QuietClose())


class _SocketClient(SocketModeClient):
    """The SDK's client, except that we decide what a ``disconnect`` means before it reconnects."""

    def __init__(self, *args: Any, owner: SlackChannel, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner

    async def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        if message.get("type") == "disconnect" and not self._owner.on_disconnect(str(message.get("reason"))):
            return  # final or backing off: no new socket
        await super().run_message_listeners(message, raw_message)


class SlackChannel:
    name = "slack"
    message_limit = MESSAGE_LIMIT

    def __init__(
        self, *, config: SlackConfig, token: Secret, lock_dir: Path, clock: Clock | None = None
    ) -> None:
        self._config = config
        self._app_token, self._bot_token = split_tokens(token)
        self._clock = clock or SystemClock()
        self._lock = FileLock(poller_lock_path(lock_dir, self._app_token))
        self._http: aiohttp.ClientSession | None = None
        self._web: AsyncWebClient | None = None
        self._socket: _SocketClient | None = None
        self._handler: InboundHandler | None = None
        self._handler_set = asyncio.Event()
        """Events arriving between the socket's hello and ``receive`` wait for the handler (unacked)."""
        self._broken: errors.ChannelError | None = None
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._bot_user_id: str | None = None
        self._bot_id: str | None = None
        self._identity: str | None = None
        self._transport_ok_at: float | None = None
        self._canary = DeliveryCanary(
            channel=config.canary_channel,
            interval_s=config.canary_interval_s,
            timeout_s=config.canary_timeout_s,
            clock=self._clock,
        )
        self._by_client_msg: OrderedDict[str, str] = OrderedDict()
        self._limited_until: dict[str, float] = {}
        """Web API method -> monotonic time its 429 ends."""
        self._budget = Bucket(rate_per_s=config.updates_per_minute / 60.0, burst=config.update_burst)

    def __repr__(self) -> str:
        return f"SlackChannel(api_base={self._config.api_base!r})"

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._stop.clear()
        self._broken = None
        poller.hold(self._lock, what="this Slack app's socket")
        self._http = aiohttp.ClientSession(trust_env=True)
        self._web = AsyncWebClient(
            token=self._bot_token.reveal(),
            base_url=f"{self._config.api_base}/api/",
            timeout=max(1, round(self._config.request_timeout_s)),
            session=self._http,
        )
        try:
            auth = await self._web.auth_test()
        except SlackApiError as exc:
            raise self._start_error(exc, "the bot token (xoxb-…)") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise errors.TransportError(f"Slack auth.test failed: {type(exc).__name__}: {exc}") from None
        self._bot_user_id, self._bot_id = auth.get("user_id"), auth.get("bot_id")
        self._identity = f"@{auth.get('user')} in {auth.get('team')}" if auth.get("user") else None
        self._transport_ok_at = self._clock.time()
        await self._open_socket(self._web)

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._handler_set.clear()
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close()
        http, self._http, self._web = self._http, None, None
        if http is not None:
            with contextlib.suppress(Exception):
                await http.close()
        self._canary.cancel()
        self._lock.release()

    def health(self) -> TransportHealth:
        now = self._clock.time()
        window = self._config.ping_interval_s + self._config.pong_timeout_s
        alive = self._socket is not None and (
            self._transport_ok_at is not None and now - self._transport_ok_at <= window
        )
        return TransportHealth(
            alive=alive,
            ok_at=self._transport_ok_at,
            identity=self._identity,
            details=self._canary.details(active=self._socket is not None),
        )

    # -- inbound ----------------------------------------------------------------------------------

    async def receive(self, handler: InboundHandler) -> None:
        socket = self._socket
        if socket is None:
            raise errors.TransportError("slack is not started")
        self._handler = handler
        self._handler_set.set()
        await self._watch(socket)

    async def _open_socket(self, web: AsyncWebClient) -> None:
        socket = _SocketClient(
            app_token=self._app_token.reveal(),
            web_client=web,
            auto_reconnect_enabled=False,  # the manager's ladder is the one reconnect authority
            ping_interval=self._config.ping_interval_s,
            logger=SDK_LOG,
            owner=self,
        )
        socket.socket_mode_request_listeners.append(self._on_request)
        self._socket = socket
        try:
            await socket.connect()
        except SlackApiError as exc:
            raise self._start_error(exc, "the app-level token (xapp-…)") from None
        except Exception as exc:
            raise errors.TransportError(
                f"Slack socket failed to open: {type(exc).__name__}: {redact(str(exc))}"
            ) from None
        self._canary.connected()

    async def _watch(self, socket: _SocketClient) -> None:
        """Until stopped: ping (transport), probe delivery when quiet, surface what listeners found."""
        while not self._stop.is_set():
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._config.ping_interval_s)
            if self._stop.is_set():
                return
            if self._broken is not None:
                raise self._broken
            await self._ping(socket)
            if self._canary.due():
                await self._canary.probe(self._post_check, platform="Slack socket")

    async def _ping(self, socket: _SocketClient) -> None:
        session = socket.current_session
        if session is None or session.close_code is not None:
            raise errors.TransportError("Slack socket closed; reconnecting")
        try:
            waiter = await session.ping()
            await asyncio.wait_for(waiter, self._config.pong_timeout_s)
        except TimeoutError:
            raise errors.Stalled(
                f"Slack socket answered no ping within {self._config.pong_timeout_s:.0f}s; reconnecting"
            ) from None
        except Exception as exc:
            raise errors.TransportError(f"Slack socket broke: {type(exc).__name__}") from None
        self._transport_ok_at = self._clock.time()

    async def _post_check(self, channel: str, text: str) -> None:
        await self._call("chat_postMessage", channel=channel, text=text)

    async def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        """One envelope (its own task, from the SDK): commit, then ack. No ack on failure."""
        if client is not self._socket:
            return
        self._canary.delivered()
        if request.type == "events_api":
            self._canary.echo(convert.own_text(request.payload, bot_id=self._bot_id))
            message = convert.to_inbound(request.payload, bot_user_id=self._bot_user_id)
            if message is not None:
                message = self._same_as_before(message, request.payload)
                try:
                    await asyncio.wait_for(self._handler_set.wait(), self._config.request_timeout_s)
                    assert self._handler is not None
                    await self._handler(message)
                except Exception:
                    log.exception("slack: could not commit event %s; Slack redelivers it", _event_id(request))
                    return
        try:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        except Exception as exc:  # the event is committed: the redelivery finds the same run
            log.info("slack: ack of %s failed (%s); Slack redelivers it", request.envelope_id, exc)

    def _same_as_before(self, message: Any, payload: dict[str, Any]) -> Any:
        """A client's resend (same ``client_msg_id``, new ``ts``) maps to the first message's run."""
        event = payload.get("event") or {}
        client_msg_id = event.get("client_msg_id")
        if not isinstance(client_msg_id, str):
            return message
        first = self._by_client_msg.setdefault(client_msg_id, message.message_id)
        self._by_client_msg.move_to_end(client_msg_id)
        while len(self._by_client_msg) > 10_000:
            self._by_client_msg.popitem(last=False)
        if first == message.message_id:
            return message
        return type(message)(
            channel=message.channel,
            chat_id=message.chat_id,
            sender_id=message.sender_id,
            message_id=first,
            text=message.text,
        )

    def on_disconnect(self, reason: str) -> bool:
        """Slack asked us to go: True lets the SDK open a new socket (make-before-break)."""
        if reason in ("refresh_requested", "warning"):
            log.info("slack: disconnect (%s); opening a new socket first", reason)
            return True
        if reason == "link_disabled":
            self._broken = errors.AuthRejected(LINK_DISABLED_FIX)
        elif reason == "too_many_websockets":
            self._broken = errors.Conflict(
                "Slack refused another socket (disconnect: too_many_websockets): other programs hold "
                "this app's Socket Mode connections (Slack allows about 10); backing off"
            )
        else:
            self._broken = errors.TransportError(f"Slack asked us to disconnect ({reason}); reconnecting")
        self._wake.set()
        return False

    # -- outbound ---------------------------------------------------------------------------------

    async def send(self, chat_id: str, text: str, *, reply_to: str | None = None) -> str:
        thread_ts = convert.thread_for(chat_id, reply_to)
        kwargs: dict[str, Any] = {"channel": chat_id, "text": text}
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
        response = await self._call("chat_postMessage", **kwargs)
        return str(response["ts"])

    async def edit(self, chat_id: str, message_id: str, text: str) -> None:
        wait = self._budget.take(self._clock.monotonic())
        if wait > 0:
            raise errors.RateLimited(
                f"Slack chat.update budget of this workspace is spent ({self._config.updates_per_minute:.0f}"
                "/min shared by all streams)",
                retry_after=wait,
            )
        await self._call("chat_update", channel=chat_id, ts=message_id, text=text)

    async def typing(self, chat_id: str) -> None:
        """Socket Mode has no typing indicator for bots; the streamed preview shows progress instead."""

    async def _call(self, method: str, **kwargs: Any) -> Any:
        """One Web API call. After a 429 every call of that method waits out Slack's Retry-After
        (limits are per method and workspace), so the next answer does not walk into the same wall."""
        web = self._web
        if web is None:
            raise errors.TransientSendError("slack is not connected")
        wait = self._limited_until.get(method, 0.0) - self._clock.monotonic()
        if wait > 0:
            raise errors.RateLimited(f"Slack {method}: still rate limited for {wait:.1f}s", retry_after=wait)
        try:
            response = await getattr(web, method)(**kwargs)
        except SlackApiError as exc:
            error = self._send_error(exc)
            if isinstance(error, errors.RateLimited):
                self._limited_until[method] = self._clock.monotonic() + error.retry_after
            raise error from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise errors.TransientSendError(f"Slack {method}: {type(exc).__name__}: {exc}") from None
        self._transport_ok_at = self._clock.time()
        return response

    # -- translation, once ------------------------------------------------------------------------

    def _start_error(self, exc: SlackApiError, which: str) -> errors.ChannelError:
        code = _error_code(exc)
        if code in AUTH_ERRORS or code == "not_allowed_token_type":
            return errors.AuthRejected(
                f"Slack rejected {which} ({code}); create a new one at api.slack.com/apps and store both "
                "tokens again with `nexus channels add slack`"
            )
        if exc.response.status_code == 429:
            return errors.TransportError(f"Slack rate-limited connecting ({code}); backing off")
        return errors.TransportError(f"Slack refused to connect: {code}")

    def _send_error(self, exc: SlackApiError) -> errors.SendError:
        code = _error_code(exc)
        status = exc.response.status_code
        if status == 429 or code == "ratelimited":
            retry_after = _retry_after_s(exc.response.headers)
            return errors.RateLimited(
                f"Slack: ratelimited (Retry-After {retry_after:.0f}s)", retry_after=retry_after
            )
        if code in PERMANENT_ERRORS:
            return errors.PermanentSendError(f"Slack: {code}")
        return errors.TransientSendError(f"Slack: {code} (HTTP {status})")


def _error_code(exc: SlackApiError) -> str:
    try:
        return redact(str(exc.response.get("error") or f"HTTP {exc.response.status_code}"))
    except Exception:
        return "unknown error"


def _retry_after_s(headers: Any) -> float:
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if headers is not None else None
        if value is not None:
            with contextlib.suppress(TypeError, ValueError):
                return max(0.0, float(value[0] if isinstance(value, list) else value))
    return 1.0


def _event_id(request: SocketModeRequest) -> str:
    return str(request.payload.get("event_id") or request.envelope_id)
