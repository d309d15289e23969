"""Where cooldowns and last outcomes survive a restart, so a new gateway does not hammer a provider
that asked the old one to wait. Default: one small JSON file (``run/cooldowns.json``), written
atomically; a missing or unreadable file means "no cooldowns", never a crash.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nexus.common.atomic import atomic_write_text
from nexus.models.cooldown import CooldownEntry
from nexus.models.errors import ModelFailureKind

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

Key = tuple[str, str]
"""(profile, model)"""


@dataclass(frozen=True)
class Outcome:
    """The last thing that happened to one candidate, for ``nexus models`` and ``/status``."""

    outcome: str
    """``ok`` or a ModelFailureKind value."""
    at: float
    status: int | None = None
    detail: str = ""


@dataclass
class RouterState:
    cooldowns: dict[Key, CooldownEntry] = field(default_factory=dict)
    outcomes: dict[Key, Outcome] = field(default_factory=dict)


class CooldownStore(Protocol):
    def load(self) -> RouterState: ...

    def save(self, state: RouterState) -> None: ...

    def changed(self) -> bool:
        """Has someone else written the state since this store last read or wrote it?"""
        ...


class MemoryCooldownStore:
    """Keeps the last saved state in memory (tests, and ``nexus models probe``)."""

    def __init__(self, state: RouterState | None = None) -> None:
        self.state = state or RouterState()
        self.saves = 0

    def load(self) -> RouterState:
        return RouterState(dict(self.state.cooldowns), dict(self.state.outcomes))

    def save(self, state: RouterState) -> None:
        self.state = RouterState(dict(state.cooldowns), dict(state.outcomes))
        self.saves += 1

    def changed(self) -> bool:
        return False


class JsonCooldownStore:
    """The file, and the (mtime, size, inode) it had when this store last read or wrote it, so a
    change by another process (``nexus models reset``) is noticed with one ``stat``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def changed(self) -> bool:
        if not self._lock.acquire(blocking=False):
            return False  # our own save is in flight (in a worker thread): not someone else's change
        try:
            now = self._stat()
            return now is not None and now != self._seen
        finally:
            self._lock.release()

    def load(self) -> RouterState:
        with self._lock:
            self._seen = self._stat()
            return self._load()

    def _load(self) -> RouterState:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return RouterState()
        except OSError as exc:
            log.warning("cannot read %s (%s): starting without cooldowns", self.path, exc)
            return RouterState()
        try:
            return decode(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable %s (%s): starting without cooldowns", self.path, exc)
            return RouterState()

    def save(self, state: RouterState) -> None:
        with self._lock:
            self._save(state)

    def _save(self, state: RouterState) -> None:
        try:
            atomic_write_text(self.path, json.dumps(encode(state), indent=1, sort_keys=True), mode=0o600)
            self._seen = self._stat()
        except OSError as exc:  # a full disk must not fail the turn; the cooldown still holds in memory
            log.warning("cannot write %s: %s", self.path, exc)


def encode(state: RouterState) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "cooldowns": [
            {
                "profile": e.profile,
                "model": e.model,
                "kind": e.kind.value,
                "until": None if math.isinf(e.until) else e.until,
                "strikes": e.strikes,
                "reason": e.reason,
                "fingerprint": e.fingerprint,
                "at": e.at,
                "told": e.told,
            }
            for e in state.cooldowns.values()
        ],
        "outcomes": [
            {
                "profile": p,
                "model": m,
                "outcome": o.outcome,
                "at": o.at,
                "status": o.status,
                "detail": o.detail,
            }
            for (p, m), o in state.outcomes.items()
        ],
    }


def decode(data: Any) -> RouterState:
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ValueError(f"expected a version {FORMAT_VERSION} cooldown file")
    state = RouterState()
    for item in data.get("cooldowns", []):
        until = item["until"]
        entry = CooldownEntry(
            profile=str(item["profile"]),
            model=str(item["model"]),
            kind=ModelFailureKind(item["kind"]),
            until=math.inf if until is None else float(until),
            strikes=int(item.get("strikes", 1)),
            reason=str(item.get("reason", "")),
            fingerprint=item.get("fingerprint"),
            at=float(item.get("at") or 0.0),
            told=bool(item.get("told", False)),
        )
        state.cooldowns[entry.key] = entry
    for item in data.get("outcomes", []):
        key = (str(item["profile"]), str(item["model"]))
        state.outcomes[key] = Outcome(
            outcome=str(item["outcome"]),
            at=float(item["at"]),
            status=item.get("status"),
            detail=str(item.get("detail", "")),
        )
    return state
