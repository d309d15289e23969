"""Who is served: a pure decision over the sender, the allow list and approved pairings.

Unknown senders never reach the model. With pairing on, a stranger is shown a one-time code once (and
reminded of the same code at most every ``remind_after_s``); the owner approves it with
``nexus channels pair telegram CODE``. With pairing off, strangers get nothing at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand
CODE_LENGTH = 8
CODE_TTL_S = 3600.0


class Verdict(StrEnum):
    SERVE = "serve"
    DROP = "drop"
    OFFER_CODE = "offer_code"
    """Show the stranger a new pairing code."""
    REMIND_CODE = "remind_code"
    """Show the stranger their still-valid code again."""
    WAIT = "wait"
    """A code was shown recently: say nothing (no reply storm to a chatty stranger)."""


@dataclass(frozen=True)
class Pending:
    code: str
    created_at: float
    approved: bool
    reminded_at: float | None = None


def decide(
    sender: str,
    *,
    allow: Collection[str],
    pairing: bool,
    pending: Pending | None,
    now: float,
    code_ttl_s: float = CODE_TTL_S,
    remind_after_s: float = 600.0,
) -> Verdict:
    if sender in allow or (pending is not None and pending.approved):
        return Verdict.SERVE
    if not pairing:
        return Verdict.DROP
    if pending is None or now - pending.created_at > code_ttl_s:
        return Verdict.OFFER_CODE
    last_shown = pending.reminded_at if pending.reminded_at is not None else pending.created_at
    if now - last_shown >= remind_after_s:
        return Verdict.REMIND_CODE
    return Verdict.WAIT


def new_code(*, choice: Callable[[str], str] = secrets.choice) -> str:
    return "".join(choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """What the owner typed, as stored: case and separators do not matter."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())
