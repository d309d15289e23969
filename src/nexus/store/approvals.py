"""Approvals as rows: a pending question to the owner that survives a crash under the same id.

Life cycle (checked, one guarded UPDATE each): pending -> approved | denied | expired. A row is keyed
by the tool call (``call_key``), so asking again after a restart returns the row already there, with
its id and deadline, instead of a new question (OpenClaw#65486 replayed in-memory ids after a
restart). ``subject`` is the exact input the owner saw (for ``exec``: command and working folder) and
``subject_hash`` binds the answer to it: a different input is a different question.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nexus.store.db import StoreError


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class ApprovalNotFound(StoreError):
    pass


class ApprovalClosed(StoreError):
    """The approval was already answered or has expired; ``approval`` says how it ended."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(f"approval {approval.id} is already {approval.status.value}")
        self.approval = approval


@dataclass(frozen=True)
class Approval:
    id: str
    run_id: str
    session: str | None
    call_key: str
    tool: str
    subject: dict[str, Any]
    subject_hash: str
    status: ApprovalStatus
    created_at: float
    expires_at: float
    decided_at: float | None
    decided_by: str | None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "session": self.session,
            "tool": self.tool,
            "subject": self.subject,
            "status": self.status.value,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "decided_at": self.decided_at,
            "decided_by": self.decided_by,
        }


def subject_hash(tool: str, subject: dict[str, Any]) -> str:
    canonical = json.dumps([tool, subject], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_COLUMNS = (
    "id, run_id, session, call_key, tool, subject, subject_hash, status, created_at, expires_at,"
    " decided_at, decided_by"
)


def _row(row: sqlite3.Row) -> Approval:
    try:
        subject = json.loads(row["subject"])
    except ValueError:
        subject = {"unreadable": True}
    return Approval(
        id=row["id"],
        run_id=row["run_id"],
        session=row["session"],
        call_key=row["call_key"],
        tool=row["tool"],
        subject=subject if isinstance(subject, dict) else {"value": subject},
        subject_hash=row["subject_hash"],
        status=ApprovalStatus(row["status"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
    )


class ApprovalStore:
    def __init__(self, conn: sqlite3.Connection, *, now: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._now = now

    def close(self) -> None:
        self._conn.close()

    def request(
        self,
        *,
        run_id: str,
        call_key: str,
        tool: str,
        subject: dict[str, Any],
        timeout_s: float,
        session: str | None = None,
    ) -> tuple[Approval, bool]:
        """The approval for this call, created if new; ``(approval, created)``."""
        now = self._now()
        approval_id = f"apr_{secrets.token_hex(5)}"
        cursor = self._conn.execute(
            f"INSERT OR IGNORE INTO approvals ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, NULL, NULL)",
            (
                approval_id,
                run_id,
                session,
                call_key,
                tool,
                json.dumps(subject, sort_keys=True),
                subject_hash(tool, subject),
                now,
                now + timeout_s,
            ),
        )
        existing = self.for_call(call_key)
        assert existing is not None
        return self.current(existing), cursor.rowcount == 1

    def get(self, approval_id: str) -> Approval | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        return self.current(_row(row)) if row is not None else None

    def for_call(self, call_key: str) -> Approval | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE call_key = ?", (call_key,)
        ).fetchone()
        return _row(row) if row is not None else None

    def pending(self) -> list[Approval]:
        self.expire_due()
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM approvals WHERE status = 'pending' ORDER BY created_at"
        ).fetchall()
        return [_row(r) for r in rows]

    def recent(self, *, limit: int = 50) -> list[Approval]:
        self.expire_due()
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM approvals ORDER BY created_at DESC LIMIT ?", (limit,)
        ).fetchall()
        return [_row(r) for r in rows]

    def current(self, approval: Approval) -> Approval:
        """The approval with its deadline applied (a pending one past it is expired, durably)."""
        if approval.status is ApprovalStatus.PENDING and self._now() >= approval.expires_at:
            self.expire_due()
            refreshed = self.for_call(approval.call_key)
            return refreshed if refreshed is not None else approval
        return approval

    def expire_due(self) -> list[Approval]:
        rows = self._conn.execute(
            "UPDATE approvals SET status = 'expired', decided_at = ? WHERE status = 'pending' AND expires_at <= ?"
            f" RETURNING {_COLUMNS}",
            (self._now(), self._now()),
        ).fetchall()
        return [_row(r) for r in rows]

    def decide(self, approval_id: str, *, approve: bool, by: str) -> Approval:
        """pending -> approved | denied; raises ApprovalNotFound or ApprovalClosed."""
        current = self.get(approval_id)
        if current is None:
            raise ApprovalNotFound(f"no approval {approval_id}; `nexus approvals` lists the pending ones")
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
        row = self._conn.execute(
            "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ? WHERE id = ? AND status = 'pending'"
            f" AND expires_at > ? RETURNING {_COLUMNS}",
            (status.value, self._now(), by, approval_id, self._now()),
        ).fetchone()
        if row is None:
            after = self.get(approval_id)
            raise ApprovalClosed(after if after is not None else current)
        return _row(row)
