"""Memory search over every past session, and the summaries of compacted sessions.

The index (``memory_fts``, FTS5 with the trigram tokenizer) is written by triggers on ``runs``, so a
message and its answer are searchable in the very transaction that commits them, the session being
answered included. Trigrams match any three characters, which is what finds Chinese and Japanese
(no spaces between words); a query term shorter than three characters falls back to a substring
scan (``LIKE``), slower but never silently empty. Results come newest first (see ``search``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
SNIPPET_TOKENS = 48


@dataclass(frozen=True)
class Hit:
    session: str
    run_id: str
    role: str
    """``user``, ``assistant`` or ``tool`` (a tool result that succeeded)."""
    created_at: float
    snippet: str

    def to_json(self) -> dict[str, object]:
        return {
            "session": self.session,
            "run_id": self.run_id,
            "role": self.role,
            "time": self.created_at,
            "snippet": self.snippet,
        }


@dataclass(frozen=True)
class Summary:
    session: str
    upto_seq: int
    text: str
    runs: int


def _terms(query: str) -> list[str]:
    return [t for t in query.split() if t]


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class MemoryStore:
    def __init__(self, conn: sqlite3.Connection, *, now: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._now = now

    def search(self, query: str, *, limit: int = DEFAULT_LIMIT, session: str | None = None) -> list[Hit]:
        """Every term must occur (any order); newest first.

        Why newest first and not bm25: ranking must score every match before it can return ten, which
        over 100,000 runs costs hundreds of milliseconds for a common word; walking the index from
        the newest row stops after ``limit`` matches (about a millisecond), and for an assistant's
        memory the latest mention is usually the one that counts."""
        terms = _terms(query)
        if not terms:
            return []
        limit = max(1, min(int(limit), MAX_LIMIT))
        long_terms = [t for t in terms if len(t) >= 3]
        short_terms = [t for t in terms if len(t) < 3]
        where: list[str] = []
        params: list[object] = []
        if long_terms:
            where.append("memory_fts MATCH ?")
            params.append(" AND ".join(_phrase(t) for t in long_terms))
        for term in short_terms:
            where.append("body LIKE ? ESCAPE '\\'")
            params.append(_like(term))
        if session is not None:
            where.append("session = ?")
            params.append(session)
        snippet = f"snippet(memory_fts, 0, '[', ']', '…', {SNIPPET_TOKENS})" if long_terms else "body"
        rows = self._conn.execute(
            f"SELECT session, run_id, role, created_at, {snippet} AS snip FROM memory_fts"
            f" WHERE {' AND '.join(where)} ORDER BY rowid DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        hits = []
        for row in rows:
            text = row["snip"] or ""
            if not long_terms:
                text = _window(text, short_terms[0])
            hits.append(Hit(row["session"], row["run_id"], row["role"], float(row["created_at"]), text))
        return hits

    # -- compaction summaries -------------------------------------------------------------------

    def latest_summary(self, session: str, *, before_seq: int) -> Summary | None:
        row = self._conn.execute(
            "SELECT session, upto_seq, summary, runs FROM session_summaries WHERE session = ? AND upto_seq < ?"
            " ORDER BY upto_seq DESC LIMIT 1",
            (session, before_seq),
        ).fetchone()
        return Summary(row["session"], row["upto_seq"], row["summary"], row["runs"]) if row else None

    def save_summary(self, session: str, *, upto_seq: int, text: str, runs: int) -> Summary:
        self._conn.execute(
            "INSERT OR REPLACE INTO session_summaries (session, upto_seq, summary, runs, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (session, upto_seq, text, runs, self._now()),
        )
        return Summary(session, upto_seq, text, runs)


def _window(text: str, term: str, *, width: int = 60) -> str:
    """A snippet around the first occurrence of ``term`` (for substring matches without FTS ranks)."""
    at = text.lower().find(term.lower())
    if at < 0:
        return text[: width * 2]
    start = max(at - width, 0)
    end = min(at + len(term) + width, len(text))
    return (
        ("…" if start else "")
        + text[start:at]
        + f"[{text[at : at + len(term)]}]"
        + text[at + len(term) : end]
        + ("…" if end < len(text) else "")
    )
