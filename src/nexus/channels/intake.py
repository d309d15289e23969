"""Inbound: decide who is served, then commit before the channel acknowledges to the platform.

Order matters and is the whole point: route (where the answer goes) -> run (the message, keyed by
the platform's message id) -> return, after which the channel may advance its platform offset. A
crash anywhere before the return means the platform redelivers, and the same key finds the same run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from nexus.channels import access
from nexus.channels.base import Accepted, ChannelHost, ChannelSettings, InboundMessage
from nexus.common.clock import Clock
from nexus.store.inbound import PairingStore, RouteStore
from nexus.store.outbox import Outbox

log = logging.getLogger(__name__)

PAIRING_TEXT = (
    "Hello! This assistant serves only people its owner approved.\n"
    "Your pairing code is {code}. The owner approves it with:\n"
    "nexus channels pair {channel} {code}\n"
    "(valid for one hour)"
)
APPROVED_TEXT = "You are paired: I will answer your messages from now on."


@dataclass(frozen=True)
class IntakeResult:
    verdict: access.Verdict
    accepted: Accepted | None = None


class Intake:
    def __init__(
        self,
        *,
        channel: str,
        settings: ChannelSettings,
        host: ChannelHost,
        routes: RouteStore,
        pairings: PairingStore,
        outbox: Outbox,
        clock: Clock,
        new_code: Callable[[], str] = access.new_code,
    ) -> None:
        self.channel = channel
        self._settings = settings
        self._host = host
        self._routes = routes
        self._pairings = pairings
        self._outbox = outbox
        self._clock = clock
        self._new_code = new_code

    def handle(self, msg: InboundMessage) -> IntakeResult:
        now = self._clock.time()
        pairing = self._pairings.get(self.channel, msg.sender_id)
        pending = (
            access.Pending(
                code=pairing.code,
                created_at=pairing.created_at,
                approved=pairing.approved_at is not None,
                reminded_at=pairing.reminded_at,
            )
            if pairing is not None
            else None
        )
        verdict = access.decide(
            msg.sender_id,
            allow=self._settings.allow_ids(),
            pairing=self._settings.pairing,
            pending=pending,
            now=now,
        )
        if verdict is access.Verdict.SERVE:
            self._routes.record(
                session=msg.session,
                idempotency_key=msg.idempotency_key,
                channel=self.channel,
                chat_id=msg.chat_id,
                message_id=msg.message_id,
                sender=msg.sender_id,
            )
            accepted = self._host.accept(
                session=msg.session,
                text=msg.text,
                channel=self.channel,
                sender=msg.sender_id,
                idempotency_key=msg.idempotency_key,
            )
            return IntakeResult(verdict, accepted)
        if verdict is access.Verdict.OFFER_CODE:
            code = self._new_code()
            self._pairings.offer(channel=self.channel, sender=msg.sender_id, chat_id=msg.chat_id, code=code)
            self._tell(msg, code, f"pair:{self.channel}:{msg.sender_id}:{code}")
            log.info("%s: stranger %s offered a pairing code", self.channel, msg.sender_id)
        elif verdict is access.Verdict.REMIND_CODE and pairing is not None:
            self._pairings.reminded(self.channel, msg.sender_id)
            self._tell(msg, pairing.code, f"pair:{self.channel}:{msg.sender_id}:{pairing.code}:{now:.0f}")
        else:
            log.debug("%s: message from stranger %s dropped (%s)", self.channel, msg.sender_id, verdict)
        return IntakeResult(verdict)

    def _tell(self, msg: InboundMessage, code: str, key: str) -> None:
        self._outbox.enqueue(
            channel=self.channel,
            chat_id=msg.chat_id,
            dedupe_key=key,
            text=PAIRING_TEXT.format(code=code, channel=self.channel),
            reply_to=msg.message_id,
        )
