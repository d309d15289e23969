"""The router's memory: current cooldowns, in-flight probes and each candidate's last outcome.

It applies the pure policy of :mod:`nexus.models.cooldown` to what happened and keeps the result,
persisting it through a :class:`~nexus.models.cooldown_store.CooldownStore` off the request path:
an fsync can take tens of milliseconds on a busy disk, and a turn must not wait for it. Saves
coalesce; the latest state always wins; :meth:`Ledger.flush` waits for the disk.

Another process may change the file (``nexus models reset`` clears cooldowns while the gateway
runs): :meth:`Ledger.sync` re-reads it when the store says it changed since we last read or wrote
it, before each turn and before each save, so a reset takes effect at the gateway's next message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from nexus.common.clock import Clock
from nexus.models.cooldown import (
    ANY_MODEL,
    PROFILE_WIDE,
    Admission,
    CooldownEntry,
    admit,
    after_failure,
    cleared_by_success,
    cooldown_key,
    credential_changed,
)
from nexus.models.cooldown_store import CooldownStore, Key, Outcome, RouterState
from nexus.models.errors import ModelFailureKind, ProviderError

log = logging.getLogger(__name__)


class Ledger:
    def __init__(self, store: CooldownStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._state = store.load()
        self._saved = dict(self._state.cooldowns)
        """The cooldowns as this ledger last read or wrote them: what is on disk, as far as we know."""
        self._probing: dict[Key, asyncio.Future[ModelFailureKind | None]] = {}
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

    def sync(self) -> None:
        """Take in what another process wrote (``nexus models reset``); one ``stat`` when nothing changed.

        Another writer only clears cooldowns: one we had saved that is gone from the file is dropped;
        one recorded here since our last save is kept; one in the file we never had is taken in."""
        if not self._store.changed():
            return
        disk = self._store.load().cooldowns
        mine = self._state.cooldowns
        merged = {k: e for k, e in mine.items() if k in disk or self._saved.get(k) != e}
        merged.update({k: e for k, e in disk.items() if k not in mine and self._saved.get(k) != e})
        if merged.keys() != mine.keys():
            log.info("model cooldowns changed on disk: now %d cooling", len(merged))
        self._saved = dict(disk)
        self._state.cooldowns = merged

    def outcome(self, profile: str, model: str) -> Outcome | None:
        return self._state.outcomes.get((profile, model))

    def cooldowns(self) -> list[CooldownEntry]:
        return list(self._state.cooldowns.values())

    # ---- probes
    def start_probe(self, key: Key) -> None:
        self._probing[key] = asyncio.get_running_loop().create_future()

    def end_probe(self, key: Key, failure: ModelFailureKind | None = ModelFailureKind.UNKNOWN) -> None:
        """The probe is over: ``failure`` None when it was answered, else how it failed."""
        future = self._probing.pop(key, None)
        if future is not None and not future.done():
            future.set_result(failure)

    def probe_in_flight(self, key: Key) -> asyncio.Future[ModelFailureKind | None] | None:
        """The outcome (None: answered; else the failure) of the probe another turn is sending."""
        return self._probing.get(key)

    # ---- writing
    def failed(
        self,
        profile: str,
        model: str,
        err: ProviderError,
        *,
        probe_key: Key | None,
        fingerprint: str | None,
        started_at: float | None = None,
    ) -> CooldownEntry | None:
        """Record a failure of a request sent at ``started_at``; the cooldown it leaves, if any."""
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
            started_at=started_at,
            reason=err.message[:200],
            fingerprint=fingerprint if kind in PROFILE_WIDE else None,
        )
        self._state.outcomes[(profile, model)] = Outcome(kind.value, now, err.status, err.message[:200])
        if entry is not None:
            self._state.cooldowns[entry.key] = entry
        self._persist()
        return entry

    def succeeded(self, profile: str, model: str, probe_key: Key, *, started_at: float | None = None) -> None:
        """Record a success of a request sent at ``started_at``: the candidate's failure state is
        cleared (see :func:`~nexus.models.cooldown.cleared_by_success`)."""
        now = self._clock.time()
        started = now if started_at is None else started_at
        changed = False
        for key in {probe_key, (profile, model), (profile, ANY_MODEL)}:
            entry = self._state.cooldowns.get(key)
            if entry is not None and (entry.until <= now or cleared_by_success(entry, started_at=started)):
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

    def clear(self, which: Callable[[Key], bool] | None = None) -> int:
        """Forget the cooldowns whose (profile, model) key ``which`` accepts (all by default)."""
        self.sync()
        keys = [k for k in self._state.cooldowns if which is None or which(k)]
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
            self.sync()
            self._store.save(self._snapshot())
            return
        self._flushing = loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._dirty:
                self._dirty = False
                self.sync()
                await asyncio.to_thread(self._store.save, self._snapshot())
        except Exception:
            log.exception("saving model cooldowns failed")
        finally:
            self._flushing = None

    def _snapshot(self) -> RouterState:
        self._saved = dict(self._state.cooldowns)
        return RouterState(dict(self._state.cooldowns), dict(self._state.outcomes))
