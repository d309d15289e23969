"""The durable channel outbox: every outbound channel message is a row until the platform took it.

Life cycle: pending -> sent | dead (dead keeps the reason). ``dedupe_key`` is unique, so the answer
to a run (``run:<id>``) is queued at most once however often the run's end is observed (live event,
start-up reconciliation, redelivered message). A long answer goes out in parts; ``parts_done`` moves
after each part, so a crash resends at most the one part that was in flight.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from nexus.store.db import transaction


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


@dataclass(frozen=True)
class OutboxItem:
    id: int
    channel: str
    chat_id: str
    dedupe_key: str
    run_id: str | None
    text: str
    reply_to: str | None
    status: OutboxStatus
    parts_done: int
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


_COLUMNS = (
    "id, channel, chat_id, dedupe_key, run_id, text, reply_to, status, parts_done, attempts,"
    " next_attempt_at, last_error, created_at, sent_at"
)


def _item(row: sqlite3.Row) -> OutboxItem:
    values = list(row)
    values[7] = OutboxStatus(values[7])
    return OutboxItem(*values)


class Outbox:
    def __init__(self, conn: sqlite3.Connection, *, now: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._now = now

    def enqueue(
        self,
        *,
        channel: str,
        chat_id: str,
        dedupe_key: str,
        text: str,
        run_id: str | None = None,
        reply_to: str | None = None,
        route_key: tuple[str, str] | None = None,
    ) -> bool:
        """Queue once per ``dedupe_key``; True when this call queued it. ``route_key`` (session,
        idempotency key) marks the route answered in the same transaction."""
        now = self._now()
        with transaction(self._conn):
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO channel_outbox (channel, chat_id, dedupe_key, run_id, text, reply_to,"
                " status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (channel, chat_id, dedupe_key, run_id, text, reply_to, now, now),
            )
            if route_key is not None:
                self._conn.execute(
                    "UPDATE channel_routes SET queued_at = ? WHERE session = ? AND idempotency_key = ?"
                    " AND queued_at IS NULL",
                    (now, *route_key),
                )
        return cursor.rowcount == 1

    def due(self, channel: str, *, limit: int = 50) -> list[OutboxItem]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM channel_outbox WHERE status = 'pending' AND channel = ?"
            " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (channel, self._now(), limit),
        ).fetchall()
        return [_item(r) for r in rows]

    def next_due_at(self, channel: str) -> float | None:
        row = self._conn.execute(
            "SELECT MIN(next_attempt_at) FROM channel_outbox WHERE status = 'pending' AND channel = ?",
            (channel,),
        ).fetchone()
        return row[0] if row else None

    def get(self, item_id: int) -> OutboxItem | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM channel_outbox WHERE id = ?", (item_id,)).fetchone()
        return _item(row) if row else None

    def by_key(self, dedupe_key: str) -> OutboxItem | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM channel_outbox WHERE dedupe_key = ?", (dedupe_key,)
        ).fetchone()
        return _item(row) if row else None

    def part_done(self, item_id: int, parts_done: int) -> None:
        self._conn.execute("UPDATE channel_outbox SET parts_done = ? WHERE id = ?", (parts_done, item_id))

    def mark_sent(self, item_id: int) -> None:
        self._conn.execute(
            "UPDATE channel_outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL"
            " WHERE id = ? AND status = 'pending'",
            (self._now(), item_id),
        )

    def reschedule(self, item_id: int, *, at: float, error: str) -> None:
        self._conn.execute(
            "UPDATE channel_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
            " WHERE id = ? AND status = 'pending'",
            (at, error, item_id),
        )

    def postpone(self, item_id: int, *, at: float) -> None:
        """Not an attempt (e.g. the channel is reconnecting): just look again later."""
        self._conn.execute(
            "UPDATE channel_outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending'", (at, item_id)
        )

    def mark_dead(self, item_id: int, *, error: str) -> None:
        self._conn.execute(
            "UPDATE channel_outbox SET status = 'dead', attempts = attempts + 1, last_error = ?"
            " WHERE id = ? AND status = 'pending'",
            (error, item_id),
        )

    def counts(self, channel: str) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT status, COUNT(*) FROM channel_outbox WHERE channel = ? GROUP BY status", (channel,)
        ).fetchall()
        result = {s.value: 0 for s in OutboxStatus}
        result.update({row[0]: row[1] for row in rows})
        return result
