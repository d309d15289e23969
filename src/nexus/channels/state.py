"""A channel's life cycle as an Enum with checked transitions, and the health record /status shows.

Transport liveness (the platform answers our polls) and inbound liveness (messages arrive) are kept
apart on purpose: a quiet chat is not a broken channel, and a channel that says "connected" while its
long poll has stopped answering is exactly the failure this record makes visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ChannelState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    """Failed; waiting for the next attempt of the reconnect ladder."""
    STANDBY = "standby"
    """Another poller holds this bot; we wait and try again, never fighting it."""
    FAILED = "failed"
    """Needs the owner (bad config, missing or rejected token); retried slowly."""


_ALLOWED: dict[ChannelState, frozenset[ChannelState]] = {
    ChannelState.STOPPED: frozenset({ChannelState.STARTING, ChannelState.FAILED}),
    ChannelState.STARTING: frozenset(
        {
            ChannelState.CONNECTED,
            ChannelState.BACKOFF,
            ChannelState.STANDBY,
            ChannelState.FAILED,
            ChannelState.STOPPED,
        }
    ),
    ChannelState.CONNECTED: frozenset(
        {ChannelState.BACKOFF, ChannelState.STANDBY, ChannelState.FAILED, ChannelState.STOPPED}
    ),
    ChannelState.BACKOFF: frozenset({ChannelState.STARTING, ChannelState.STOPPED}),
    ChannelState.STANDBY: frozenset({ChannelState.STARTING, ChannelState.STOPPED}),
    ChannelState.FAILED: frozenset({ChannelState.STARTING, ChannelState.STOPPED}),
}


class InvalidChannelTransition(RuntimeError):
    """A bug: the manager tried to move a channel along an edge the life cycle does not have."""


def check_transition(current: ChannelState, to: ChannelState) -> ChannelState:
    if to not in _ALLOWED[current]:
        raise InvalidChannelTransition(f"channel cannot go from {current} to {to}")
    return to


@dataclass
class ChannelHealth:
    """What /status, /readyz and ``nexus channels status`` say about one channel."""

    name: str
    state: ChannelState = ChannelState.STOPPED
    since: float = 0.0
    transport_ok_at: float | None = None
    """Last time the platform answered a poll or a call (transport liveness)."""
    inbound_at: float | None = None
    """Last message received (inbound liveness)."""
    outbound_at: float | None = None
    reconnects: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    retry_at: float | None = None
    identity: str | None = None
    """Who we are on the platform (e.g. ``@my_bot``), once known."""
    extra: dict[str, Any] = field(default_factory=dict)

    def move(self, to: ChannelState, *, now: float) -> None:
        self.state = check_transition(self.state, to)
        self.since = now

    def error(self, message: str, *, now: float) -> None:
        self.last_error = message
        self.last_error_at = now

    def to_status(self, *, transport_alive: bool) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "since": self.since,
            "transport_alive": transport_alive,
            "transport_ok_at": self.transport_ok_at,
            "last_inbound_at": self.inbound_at,
            "last_outbound_at": self.outbound_at,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "retry_at": self.retry_at,
            "identity": self.identity,
            **self.extra,
        }
