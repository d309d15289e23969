"""The router's memory: current cooldowns, in-flight probes and each candidate's last outcome.

It applies the pure policy of :mod:`nexus.models.cooldown` to what happened and keeps the result,
persisting it through a :class:`~nexus.models.cooldown_store.CooldownStore` off the request path:
an fsync can take tens of milliseconds on a busy disk, and a turn must not wait for it. Saves
coalesce; the latest state always wins; :meth:`Ledger.flush` waits for the disk.
"""

from __future__ import annotations

import asyncio
import logging

from nexus.common.clock import Clock
from nexus.models.cooldown import (
    ANY_MODEL,
    PROFILE_WIDE,
    Admission,
    CooldownEntry,
    admit,
    after_failure,
    cooldown_key,
    credential_changed,
)
from nexus.models.cooldown_store import CooldownStore, Key, Outcome, RouterState
from nexus.models.errors import ProviderError

log = logging.getLogger(__name__)


class Ledger:
    def __init__(self, store: CooldownStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._state = store.load()
        self._probing: set[Key] = set()
        self._dirty = False
        self._flushing: asyncio.Task[None] | None = None

    # ---- reading
    def entry(self, profile: str, model: str) -> CooldownEntry | None:
        """The cooldown that governs (profile, model): of a profile-wide and a per-model one, the later."""
        cooldowns = self._state.cooldowns
        found = [e for e in (cooldowns.get((profile, ANY_MODEL)), cooldowns.get((profile, model))) if e]
        return max(found, key=lambda e: e.until) if found else None

    def admission(self, profile: str, model: str) -> tuple[Key, Admission]:
        """May a request go to (profile, model) now? The key is what a probe would hold."""
        entry = self.entry(profile, model)
        key = entry.key if entry is not None else (profile, model)
        return key, admit(entry, now=self._clock.time(), probing=key in self._probing)

    def outcome(self, profile: str, model: str) -> Outcome | None:
        return self._state.outcomes.get((profile, model))

    def cooldowns(self) -> list[CooldownEntry]:
        return list(self._state.cooldowns.values())

    # ---- probes
    def start_probe(self, key: Key) -> None:
        self._probing.add(key)

    def end_probe(self, key: Key) -> None:
        self._probing.discard(key)

    # ---- writing
    def failed(
        self, profile: str, model: str, err: ProviderError, *, probe_key: Key | None, fingerprint: str | None
    ) -> CooldownEntry | None:
        """Record a failure; the new cooldown, if this failure earns one."""
        now = self._clock.time()
        kind = err.kind
        previous = self._state.cooldowns.get(cooldown_key(profile, model, kind))
        if previous is None and probe_key is not None:
            previous = self._state.cooldowns.get(probe_key)
        entry = after_failure(
            previous,
            profile=profile,
            model=model,
            kind=kind,
            retry_after=err.retry_after,
            now=now,
            reason=err.message[:200],
            fingerprint=fingerprint if kind in PROFILE_WIDE else None,
        )
        self._state.outcomes[(profile, model)] = Outcome(kind.value, now, err.status, err.message[:200])
        if entry is not None:
            self._state.cooldowns[entry.key] = entry
        self._persist()
        return entry

    def succeeded(self, profile: str, model: str, probe_key: Key) -> None:
        """Record a success: ended cooldowns of this candidate are cleared (a passed probe)."""
        now = self._clock.time()
        changed = False
        for key in {probe_key, (profile, model), (profile, ANY_MODEL)}:
            entry = self._state.cooldowns.get(key)
            if entry is not None and entry.until <= now:
                del self._state.cooldowns[key]
                changed = True
        previous = self._state.outcomes.get((profile, model))
        self._state.outcomes[(profile, model)] = Outcome("ok", now)
        if changed or previous is None or previous.outcome != "ok":
            self._persist()

    def end_if_credential_changed(self, profile: str, fingerprint: str) -> None:
        """A credential cooldown belongs to the credential that was refused, not to the profile forever."""
        entry = self._state.cooldowns.get((profile, ANY_MODEL))
        if entry is not None and credential_changed(entry, fingerprint):
            log.info("profile %s holds a new credential: ending its %s cooldown", profile, entry.kind.value)
            del self._state.cooldowns[entry.key]
            self._persist()

    def needs_credential_check(self, profile: str) -> bool:
        entry = self._state.cooldowns.get((profile, ANY_MODEL))
        return entry is not None and entry.fingerprint is not None

    def clear(self, profile: str | None = None) -> int:
        keys = [k for k in self._state.cooldowns if profile is None or k[0] == profile]
        for key in keys:
            del self._state.cooldowns[key]
        if keys:
            self._persist()
        return len(keys)

    # ---- persistence
    async def flush(self) -> None:
        while self._flushing is not None:
            await self._flushing

    def _persist(self) -> None:
        self._dirty = True
        if self._flushing is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a sync caller): save now
            self._dirty = False
            self._store.save(self._snapshot())
            return
        self._flushing = loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._dirty:
                self._dirty = False
                await asyncio.to_thread(self._store.save, self._snapshot())
        except Exception:
            log.exception("saving model cooldowns failed")
        finally:
            self._flushing = None

    def _snapshot(self) -> RouterState:
        return RouterState(dict(self._state.cooldowns), dict(self._state.outcomes))
