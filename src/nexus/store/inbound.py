"""Where channel messages came from: routes (run -> chat) and pairing codes for strangers.

A route is written *before* the run is accepted, keyed like the run itself (session, idempotency
key), so there is no instant at which a committed run has no known destination. Both tables live in
``state.db`` next to the runs; the channel layer opens its own connection.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    session: str
    idempotency_key: str
    channel: str
    chat_id: str
    message_id: str
    sender: str
    placeholder_id: str | None
    queued_at: float | None


@dataclass(frozen=True)
class FinishedUnqueued:
    """A run that ended while nobody was listening (e.g. before a crash): its answer still must go."""

    route: Route
    run_id: str
    status: str
    answer: str | None
    error: str | None


_ROUTE = "r.session, r.idempotency_key, r.channel, r.chat_id, r.message_id, r.sender, r.placeholder_id, r.queued_at"


def _route(row: sqlite3.Row) -> Route:
    return Route(*(row[i] for i in range(8)))


class RouteStore:
    def __init__(self, conn: sqlite3.Connection, *, now: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._now = now

    def record(
        self, *, session: str, idempotency_key: str, channel: str, chat_id: str, message_id: str, sender: str
    ) -> None:
        """Idempotent: a redelivered message leaves the first route as it was."""
        self._conn.execute(
            "INSERT OR IGNORE INTO channel_routes (session, idempotency_key, channel, chat_id, message_id,"
            " sender, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session, idempotency_key, channel, chat_id, message_id, sender, self._now()),
        )

    def for_run(self, run_id: str) -> Route | None:
        row = self._conn.execute(
            f"SELECT {_ROUTE} FROM channel_routes r JOIN runs u"
            " ON u.session = r.session AND u.idempotency_key = r.idempotency_key WHERE u.id = ?",
            (run_id,),
        ).fetchone()
        return _route(row) if row else None

    def latest_for_session(self, session: str) -> Route | None:
        """The chat a session's last channel message came from: where a message to it goes."""
        row = self._conn.execute(
            f"SELECT {_ROUTE} FROM channel_routes r WHERE r.session = ? ORDER BY r.created_at DESC LIMIT 1",
            (session,),
        ).fetchone()
        return _route(row) if row else None

    def set_placeholder(self, route: Route, message_id: str) -> None:
        self._conn.execute(
            "UPDATE channel_routes SET placeholder_id = ? WHERE session = ? AND idempotency_key = ?",
            (message_id, route.session, route.idempotency_key),
        )

    def placeholder(self, route: Route) -> str | None:
        row = self._conn.execute(
            "SELECT placeholder_id FROM channel_routes WHERE session = ? AND idempotency_key = ?",
            (route.session, route.idempotency_key),
        ).fetchone()
        return row[0] if row else None

    def finished_unqueued(self, *, limit: int = 500) -> list[FinishedUnqueued]:
        rows = self._conn.execute(
            f"SELECT {_ROUTE}, u.id, u.status, u.answer, u.error FROM channel_routes r JOIN runs u"
            " ON u.session = r.session AND u.idempotency_key = r.idempotency_key"
            " WHERE r.queued_at IS NULL AND u.status IN ('done', 'failed') ORDER BY u.seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [FinishedUnqueued(_route(row), row[8], row[9], row[10], row[11]) for row in rows]


@dataclass(frozen=True)
class Pairing:
    channel: str
    sender: str
    chat_id: str
    code: str
    created_at: float
    reminded_at: float | None
    approved_at: float | None


class PairingStore:
    def __init__(self, conn: sqlite3.Connection, *, now: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._now = now

    def get(self, channel: str, sender: str) -> Pairing | None:
        row = self._conn.execute(
            "SELECT channel, sender, chat_id, code, created_at, reminded_at, approved_at"
            " FROM channel_pairings WHERE channel = ? AND sender = ?",
            (channel, sender),
        ).fetchone()
        return Pairing(*row) if row else None

    def offer(self, *, channel: str, sender: str, chat_id: str, code: str) -> None:
        """A fresh code for this sender (replacing an expired one)."""
        self._conn.execute(
            "INSERT INTO channel_pairings (channel, sender, chat_id, code, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (channel, sender) DO UPDATE SET code = excluded.code, chat_id = excluded.chat_id,"
            " created_at = excluded.created_at, reminded_at = NULL",
            (channel, sender, chat_id, code, self._now()),
        )

    def reminded(self, channel: str, sender: str) -> None:
        self._conn.execute(
            "UPDATE channel_pairings SET reminded_at = ? WHERE channel = ? AND sender = ?",
            (self._now(), channel, sender),
        )

    def approve(self, channel: str, code: str, *, max_age_s: float) -> Pairing | None:
        """Approve a still-valid code; None when no such code exists or it expired."""
        row = self._conn.execute(
            "UPDATE channel_pairings SET approved_at = ? WHERE channel = ? AND code = ? AND approved_at IS NULL"
            " AND created_at >= ? RETURNING channel, sender, chat_id, code, created_at, reminded_at, approved_at",
            (self._now(), channel, code, self._now() - max_age_s),
        ).fetchone()
        return Pairing(*row) if row else None

    def approved(self, channel: str) -> list[Pairing]:
        rows = self._conn.execute(
            "SELECT channel, sender, chat_id, code, created_at, reminded_at, approved_at"
            " FROM channel_pairings WHERE channel = ? AND approved_at IS NOT NULL ORDER BY approved_at",
            (channel,),
        ).fetchall()
        return [Pairing(*row) for row in rows]
