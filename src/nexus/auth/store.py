"""The profile store: a :class:`CredentialSource` over ``auth-profiles.json`` shared by every process.

Why it is shaped like this (the incident, root cause 1): refresh tokens are single-use, and whoever
spends one first invalidates every other copy; spending a spent one revokes the whole family. So:

1. **One refresher per account, host-wide.** A refresh happens only under a ``flock`` on a sidecar
   lock file per (provider, account), never deleted. The HTTP timeout is shorter than the lock wait,
   so a live holder always finishes (or fails) before a waiter gives up; a holder killed by SIGKILL
   loses its flock in the kernel at once.
2. **Re-read under the lock, adopt a peer's token.** Inside the lock the store is read from disk
   again; if a peer already refreshed, its token is used and nothing is sent.
3. **Persist before use.** The new pair is written (atomically, re-read first) before the access
   token is handed out. If the write fails the pair stays in memory and the write is retried on every
   later call: the old refresh token is already dead, so forgetting the new one would lose the family.
4. **Single flight in-process.** Concurrent requests for one profile share one refresh task.
5. **Dead is dead.** ``invalid_grant``/reuse/revocation re-reads once (a peer may have won), then marks
   the profile ``needs_reauth`` in the runtime state, keyed by the dead token's fingerprint: never
   retried in a loop, the secrets file untouched, the next profile serves, and the mark clears by
   itself when a human stores a new token.
6. **Borrowed credentials are read, never refreshed** (see nexus.auth.borrowed).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from nexus.auth import events
from nexus.auth.borrowed import (
    EXPIRED_HINT,
    BorrowedFile,
    BorrowedToken,
    BorrowedUnavailable,
    claude_code_credentials_path,
)
from nexus.auth.credentials import Credential, CredentialKind, ProfileState
from nexus.auth.errors import CredentialUnavailable, NeedsReauth
from nexus.auth.files import AuthStoreInvalid, StoreFiles
from nexus.auth.filesystem import PROC_MOUNTS, check_filesystem
from nexus.auth.oauth import TOKEN_ENDPOINTS, TokenEndpointError, refresh_grant
from nexus.auth.policy import (
    ProfileStatus,
    RefreshVerdict,
    StatusInputs,
    days_left,
    due_warnings,
    order_profiles,
    profile_status,
    refresh_due,
    refresh_margin,
)
from nexus.auth.profiles import Profile, ProfileType, StoreDocument
from nexus.auth.state import ProfileRuntime, ReauthMark, RuntimeState
from nexus.common.clock import Clock, SystemClock
from nexus.common.secret import Secret
from nexus.errors import LockTimeout

log = logging.getLogger("nexus.auth")

TRANSIENT_BACKOFF_S = 5.0
"""After a refresh fails for a passing reason, wait this long before this process tries again."""
LAST_USED_EVERY_S = 60.0
"""``last_used`` is written at most this often per profile: status detail, not worth an fsync a call."""


@dataclass(frozen=True)
class ProfileReport:
    """One row of ``nexus auth list`` and ``/status``. Holds no secret."""

    name: str
    provider: str
    type: str
    account: str | None
    status: ProfileStatus
    refreshable: bool
    expires_at: float | None
    days_left: float | None
    last_used: float | None
    last_good: float | None
    cooldown_until: float | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "type": self.type,
            "account": self.account,
            "state": self.status.value,
            "refreshable": self.refreshable,
            "expires_at": self.expires_at,
            "days_left": None if self.days_left is None else round(self.days_left, 2),
            "last_used": self.last_used,
            "last_good": self.last_good,
            "cooldown_until": self.cooldown_until,
            "reason": self.reason,
        }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _fingerprint(profile: Profile) -> str:
    """What a needs-reauth mark condemns: the refresh token if there is one, else the secret."""
    secret = profile.refresh or profile.secret
    return secret.fingerprint() if secret else ""


class ProfileStore:
    """Credentials from ``auth-profiles.json``, safe to share between any number of processes."""

    def __init__(
        self,
        path: Path,
        *,
        refresh_margin_s: float = 300.0,
        lock_timeout_s: float = 30.0,
        http_timeout_s: float | None = None,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_event: events.AuthEventSink | None = None,
        force_unreliable_fs: bool = False,
        mounts_path: Path = PROC_MOUNTS,
        files: StoreFiles | None = None,
    ) -> None:
        self.path = Path(path)
        check_filesystem(self.path, force=force_unreliable_fs, mounts_path=mounts_path)
        self._files = files or StoreFiles(self.path, lock_timeout=min(lock_timeout_s, 10.0))
        self._margin = refresh_margin_s
        self._lock_timeout = lock_timeout_s
        self._http_timeout = (
            http_timeout_s if http_timeout_s is not None else max(0.5, min(20.0, lock_timeout_s / 2))
        )
        if self._http_timeout >= self._lock_timeout:
            raise ValueError(
                "http_timeout_s must be shorter than lock_timeout_s, or waiters give up on a live holder"
            )
        self._clock: Clock = clock or SystemClock()
        self._environ = os.environ if environ is None else environ
        self._transport = transport
        self._sinks: list[events.AuthEventSink] = [on_event] if on_event else []
        self._inflight: dict[str, asyncio.Task[Profile]] = {}
        self._unsaved: dict[str, Profile] = {}
        self._retry_after: dict[str, float] = {}
        self._borrowed: dict[str, BorrowedFile] = {}
        self._warned: dict[tuple[str, int | None], set[int]] = {}
        self._announced: set[tuple[str, str]] = set()
        self._last_used_written: dict[str, float] = {}

    @property
    def files(self) -> StoreFiles:
        return self._files

    # -- events ------------------------------------------------------------------------------------
    def subscribe(self, sink: events.AuthEventSink) -> Callable[[], None]:
        """Hear expiry warnings, needs-reauth and refreshes; returns an unsubscribe function."""
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink) if sink in self._sinks else None

    def _emit(self, event: events.AuthEvent, level: int) -> None:
        log.log(level, "%s", event.message)
        for sink in list(self._sinks):
            try:
                sink(event)
            except Exception:  # a broken subscriber must not break credential service
                log.exception("auth event subscriber failed")

    # -- reading -------------------------------------------------------------------------------------
    def _document(self) -> StoreDocument | None:
        try:
            return self._files.read()
        except AuthStoreInvalid as exc:
            log.error("%s", exc)
            return None

    def _current(self, doc: StoreDocument, name: str) -> Profile | None:
        """The profile on disk, or our unsaved newer pair if the disk still has the spent one."""
        on_disk = doc.profiles.get(name)
        pending = self._unsaved.get(name)
        if pending is None:
            return on_disk
        if on_disk is None or (on_disk.expires_ms or 0) >= (pending.expires_ms or 0):
            self._unsaved.pop(name, None)
            return on_disk
        return pending

    def _profile(self, name: str) -> Profile:
        try:
            doc = self._files.read()
        except AuthStoreInvalid as exc:
            raise CredentialUnavailable(name, str(exc)) from exc
        if name in doc.invalid:
            raise CredentialUnavailable(name, doc.invalid[name].problem)
        profile = self._current(doc, name)
        if profile is None:
            raise CredentialUnavailable(name, f"no such profile in {self.path}; see `nexus auth list`")
        return profile

    def has(self, name: str) -> bool:
        doc = self._document()
        return doc is not None and (name in doc.profiles or name in doc.invalid)

    def providers(self) -> list[str]:
        doc = self._document()
        if doc is None:
            return []
        found = [p.provider for p in doc.profiles.values()] + [p.provider for p in doc.invalid.values()]
        return sorted(set(found))

    def _mark(self, profile: Profile, state: RuntimeState) -> ReauthMark | None:
        mark = state.get(profile.name).needs_reauth
        if mark is None:
            return None
        if profile.type is ProfileType.BORROWED:
            current = self._borrowed_fingerprint(profile)
            return mark if current is None or current == mark.fingerprint else None
        return mark if mark.fingerprint == _fingerprint(profile) else None

    def _borrowed_file(self, profile: Profile) -> BorrowedFile:
        path = (
            Path(profile.path).expanduser() if profile.path else claude_code_credentials_path(self._environ)
        )
        cached = self._borrowed.get(profile.name)
        if cached is None or cached.path != path:
            cached = BorrowedFile(path)
            self._borrowed[profile.name] = cached
        return cached

    def _borrowed_fingerprint(self, profile: Profile) -> str | None:
        try:
            return self._borrowed_file(profile).read().access.fingerprint()
        except BorrowedUnavailable:
            return None

    # -- CredentialSource ------------------------------------------------------------------------------
    def profiles(self, provider: str) -> list[ProfileState]:
        """This provider's profiles in the order to try them, usable or not (with the reason)."""
        return [
            ProfileState(profile=r.name, provider=r.provider, usable=self._usable(r), reason=r.reason)
            for r in self.report(provider)
        ]

    @staticmethod
    def _usable(report: ProfileReport) -> bool:
        return report.status in (ProfileStatus.OK, ProfileStatus.EXPIRING)

    async def credential(self, profile: str) -> Credential:
        current = self._profile(profile)
        self._check_mark(current)
        if current.type is ProfileType.API_KEY:
            return self._use(current, CredentialKind.API_KEY, current.secret)
        if current.type is ProfileType.TOKEN:
            now = self._clock.time()
            if current.expires_s is not None and now >= current.expires_s:
                raise CredentialUnavailable(profile, self._expired_reason(current))
            return self._use(current, CredentialKind.BEARER, current.secret)
        if current.type is ProfileType.BORROWED:
            return self._use(current, CredentialKind.BEARER, self._borrowed_live(current).access)
        return await self._oauth_credential(current)

    async def unauthorized(self, profile: str, rejected: Credential) -> Credential | None:
        """One forced refresh after a 401, even if the local expiry is in the future."""
        try:
            current = self._profile(profile)
            self._check_mark(current)
        except CredentialUnavailable:
            return None
        if current.type is ProfileType.OAUTH:
            try:
                fresh = await self._refresh(profile, rejected=rejected.secret)
            except CredentialUnavailable as exc:
                log.warning("auth profile %s: forced refresh after 401 failed: %s", profile, exc.reason)
                return None
            return self._use(fresh, CredentialKind.BEARER, fresh.secret)
        if current.type is ProfileType.BORROWED:
            # The owner may have refreshed since we read the file: look again, never refresh ourselves.
            try:
                token = self._borrowed_file(current).read(fresh=True)
            except BorrowedUnavailable:
                return None
            if token.access == rejected.secret:
                return None
            if token.expires_s is not None and self._clock.time() >= token.expires_s:
                return None
            return self._use(current, CredentialKind.BEARER, token.access)
        return None

    def revoked(self, profile: str, reason: str) -> None:
        """The provider says this credential is dead: mark it until a human replaces it."""
        try:
            current = self._profile(profile)
        except CredentialUnavailable:
            return
        self._mark_needs_reauth(current, reason)

    def _update_runtime(self, name: str, change: Callable[[ProfileRuntime], ProfileRuntime]) -> None:
        try:
            self._files.update_state(lambda st: st.with_profile(name, change(st.get(name))))
        except Exception as exc:  # runtime hints must never break a request
            log.warning("auth profile %s: could not record runtime state (%s)", name, type(exc).__name__)

    # -- internals -------------------------------------------------------------------------------------
    def _check_mark(self, profile: Profile, *, fresh: bool = False) -> None:
        mark = self._mark(profile, self._files.read_state(fresh=fresh))
        if mark is not None:
            raise NeedsReauth(profile.name, self._reauth_reason(profile, mark.reason))

    def _reauth_reason(self, profile: Profile, why: str) -> str:
        fix = (
            f"run `nexus auth login {profile.provider}` or `nexus auth add-token {profile.provider} "
            f"--name {profile.name}`"
        )
        if profile.type is ProfileType.BORROWED:
            fix = "run `claude` once to log in again, or add a separate token"
        return f"needs re-login ({why}); {fix}"

    def _expired_reason(self, profile: Profile) -> str:
        when = _iso(profile.expires_s) if profile.expires_s is not None else "?"
        return (
            f"token expired on {when}: create a new one (`claude setup-token`) and store it with "
            f"`nexus auth add-token {profile.provider} --name {profile.name}`"
        )

    def _use(self, profile: Profile, kind: CredentialKind, secret: Secret | None) -> Credential:
        if secret is None:
            raise CredentialUnavailable(profile.name, "has no secret stored; add it again with `nexus auth`")
        now = self._clock.monotonic()
        if now - self._last_used_written.get(profile.name, -LAST_USED_EVERY_S) >= LAST_USED_EVERY_S:
            self._last_used_written[profile.name] = now
            wall = self._clock.time()
            self._update_runtime(profile.name, lambda rt: replace(rt, last_used=wall))
        return Credential(profile=profile.name, kind=kind, secret=secret, account=profile.email)

    def _borrowed_live(self, profile: Profile) -> BorrowedToken:
        source = self._borrowed_file(profile)
        try:
            token = source.read()
            if token.expires_s is not None and self._clock.time() >= token.expires_s:
                token = source.read(fresh=True)  # the owner may have refreshed a moment ago
        except BorrowedUnavailable as exc:
            raise CredentialUnavailable(profile.name, exc.reason) from exc
        if token.expires_s is not None and self._clock.time() >= token.expires_s:
            raise CredentialUnavailable(profile.name, EXPIRED_HINT)
        return token

    def _due(self, profile: Profile, now: float) -> bool:
        margin = refresh_margin(self._margin, profile.lifetime_s)
        return refresh_due(now_s=now, expires_s=profile.expires_s, margin_s=margin)

    async def _oauth_credential(self, profile: Profile) -> Credential:
        self._flush_unsaved()
        now = self._clock.time()
        if not self._due(profile, now):
            return self._use(profile, CredentialKind.BEARER, profile.secret)
        still_valid = profile.expires_s is not None and now < profile.expires_s
        if still_valid and self._clock.monotonic() < self._retry_after.get(profile.name, float("-inf")):
            return self._use(profile, CredentialKind.BEARER, profile.secret)
        try:
            fresh = await self._refresh(profile.name, rejected=None)
        except NeedsReauth:
            raise
        except CredentialUnavailable as exc:
            if still_valid and self._clock.time() < (profile.expires_s or 0):
                log.warning(
                    "auth profile %s: refresh failed (%s); using the current token until it expires",
                    profile.name,
                    exc.reason,
                )
                return self._use(profile, CredentialKind.BEARER, profile.secret)
            raise
        return self._use(fresh, CredentialKind.BEARER, fresh.secret)

    async def refresh(self, name: str) -> Profile:
        """Force a refresh of an OAuth profile now (``nexus auth refresh``), under the same protocol."""
        current = self._profile(name)
        if current.type is not ProfileType.OAUTH:
            raise CredentialUnavailable(
                name, f"is a {current.type.value} profile: only oauth profiles refresh"
            )
        self._check_mark(current)
        return await self._refresh(name, rejected=current.secret)

    async def _refresh(self, name: str, *, rejected: Secret | None) -> Profile:
        """Single flight: concurrent callers in this process share one refresh."""
        task = self._inflight.get(name)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._refresh_locked(name, rejected))
            self._inflight[name] = task
            task.add_done_callback(partial(self._flight_done, name))
        return await asyncio.shield(task)

    def _flight_done(self, name: str, task: asyncio.Task[Profile]) -> None:
        if self._inflight.get(name) is task:
            del self._inflight[name]
        if not task.cancelled():
            task.exception()  # retrieved: a waiter that gave up must not leave a "never retrieved" error

    async def _refresh_locked(self, name: str, rejected: Secret | None) -> Profile:
        start = self._profile(name)
        lock = self._files.account_lock(start.provider, start.account)
        try:
            await lock.acquire_async(self._lock_timeout)
        except LockTimeout as exc:
            raise CredentialUnavailable(
                name,
                f"another process held the refresh lock of {start.provider} account {start.account} for "
                f"over {self._lock_timeout:.0f}s ({lock.read_owner().strip() or 'owner unknown'}); it may "
                f"be hung: check that process, the lock file is {lock.path}",
            ) from exc
        try:
            lock.write_owner(f"pid {os.getpid()} refreshing {name}\n")
            doc = self._files.read(fresh=True)
            current = self._current(doc, name)
            if current is None:
                raise CredentialUnavailable(name, f"was removed from {self.path} while refreshing")
            self._check_mark(current, fresh=True)
            # Adopt what a peer stored unless it is itself due (a slow process can come back to a
            # token that was fresh when a peer adopted it but is near its end now) or was rejected.
            due = self._due(current, self._clock.time())
            if not due and (rejected is None or current.secret != rejected):
                self._emit_refreshed(current, adopted=True)
                return current
            return await self._spend(current)
        finally:
            lock.release()

    async def _spend(self, current: Profile) -> Profile:
        """Send the refresh token (we hold the account lock), persist the new pair, then return it."""
        name = current.name
        if current.refresh is None:
            raise CredentialUnavailable(
                name, f"has no refresh token: run `nexus auth login {current.provider}`"
            )
        default_url, default_client = TOKEN_ENDPOINTS.get(current.provider, (None, None))
        token_url = current.token_url or default_url
        client_id = current.client_id or default_client
        if not token_url or not client_id:
            raise CredentialUnavailable(name, f"no token_url/client_id known for provider {current.provider}")
        try:
            grant = await refresh_grant(
                token_url, client_id, current.refresh, timeout_s=self._http_timeout, transport=self._transport
            )
        except TokenEndpointError as exc:
            if exc.verdict is RefreshVerdict.REAUTH:
                again = self._current(self._files.read(fresh=True), name)
                if again is not None and again.refresh != current.refresh:
                    self._emit_refreshed(again, adopted=True)
                    return again  # somebody stored a new pair meanwhile: theirs is good
                reason = f"the refresh token was rejected: {exc.error or exc.status}"
                self._mark_needs_reauth(current, reason)
                raise NeedsReauth(name, self._reauth_reason(current, reason)) from exc
            self._retry_after[name] = self._clock.monotonic() + TRANSIENT_BACKOFF_S
            raise CredentialUnavailable(
                name, f"token refresh failed ({exc}); it is retried on a later request"
            ) from exc
        now_ms = int(self._clock.time() * 1000)
        fresh = current.with_tokens(
            access=grant.access.reveal(),
            refresh=grant.refresh.reveal() if grant.refresh else None,
            expires_ms=now_ms + int(grant.expires_in * 1000),
            issued_ms=now_ms,
        )
        self._unsaved[name] = fresh  # in memory first: the old refresh token is dead from here on
        for attempt in range(3):
            if self._save(fresh):
                break
            await asyncio.sleep(0.05 * (attempt + 1))
        self._retry_after.pop(name, None)
        self._emit_refreshed(fresh, adopted=False)
        return fresh

    def _save(self, fresh: Profile) -> bool:
        """Write ``fresh``'s tokens into the profile on disk now (keeping whatever else changed there)."""

        def change(doc: StoreDocument) -> StoreDocument:
            on_disk = doc.profiles.get(fresh.name)
            if on_disk is None or (on_disk.expires_ms or 0) >= (fresh.expires_ms or 0):
                return doc  # removed by a human, or already newer: never resurrect or go back
            return doc.with_profile(
                replace(
                    on_disk,
                    secret=fresh.secret,
                    refresh=fresh.refresh,
                    expires_ms=fresh.expires_ms,
                    issued_ms=fresh.issued_ms,
                )
            )

        try:
            self._files.update(change)
        except Exception as exc:  # any failure: keep the pair in memory, retry later
            log.error(
                "auth profile %s: could not save the refreshed token to %s (%s); keeping it in memory and "
                "retrying: fix the disk problem before this process exits",
                fresh.name,
                self.path,
                type(exc).__name__,
            )
            return False
        self._unsaved.pop(fresh.name, None)
        return True

    def _flush_unsaved(self) -> None:
        for profile in list(self._unsaved.values()):
            self._save(profile)

    def _emit_refreshed(self, profile: Profile, *, adopted: bool) -> None:
        how = "adopted the token a peer process refreshed" if adopted else "refreshed its access token"
        self._emit(
            events.TokenRefreshed(
                profile=profile.name,
                provider=profile.provider,
                adopted=adopted,
                message=f"auth profile {profile.name}: {how}",
            ),
            logging.INFO,
        )

    def _mark_needs_reauth(self, profile: Profile, reason: str) -> None:
        if profile.type is ProfileType.BORROWED:
            fingerprint = self._borrowed_fingerprint(profile) or ""
        else:
            fingerprint = _fingerprint(profile)
        mark = ReauthMark(reason=reason, fingerprint=fingerprint, at=self._clock.time())
        self._update_runtime(profile.name, lambda rt: replace(rt, needs_reauth=mark))
        self._announce(profile, mark)

    def _announce(self, profile: Profile, mark: ReauthMark) -> None:
        key = (profile.name, mark.fingerprint)
        if key in self._announced:
            return
        self._announced.add(key)
        why = self._reauth_reason(profile, mark.reason)
        message = f"auth profile {profile.name}: {why}; the next profile serves"
        self._emit(
            events.ReauthRequired(
                profile=profile.name, provider=profile.provider, reason=mark.reason, message=message
            ),
            logging.ERROR,
        )

    # -- report ----------------------------------------------------------------------------------------
    def report(
        self, provider: str | None = None, *, cooldowns: Mapping[str, tuple[float, str]] | None = None
    ) -> list[ProfileReport]:
        """Rows for ``auth list`` and ``/status``, in the order profiles are tried; fires due warnings.

        ``cooldowns`` (profile -> (until, reason)) is what the model router knows: its ledger is the one
        record of cooldowns (``run/cooldowns.json``), and the auth layer may not import it.
        """
        doc = self._document()
        if doc is None:
            return []
        state = self._files.read_state()
        now = self._clock.time()
        rows: list[ProfileReport] = []
        providers = [provider] if provider else self.providers()
        for prov in providers:
            names = [n for n, p in doc.profiles.items() if p.provider == prov]
            names += [n for n, p in doc.invalid.items() if p.provider == prov]
            kinds = {n: p.type.value for n, p in doc.profiles.items()}
            good = {n: state.get(n).last_good or 0.0 for n in names}
            ordered = order_profiles(names, explicit=state.order.get(prov, ()), kinds=kinds, last_good=good)
            for name in ordered:
                rows.append(self._row(doc, state, name, now, (cooldowns or {}).get(name)))
        return rows

    def _row(
        self,
        doc: StoreDocument,
        state: RuntimeState,
        name: str,
        now: float,
        cooling: tuple[float, str] | None = None,
    ) -> ProfileReport:
        rt = state.get(name)
        cooling_until, cooling_reason = cooling if cooling is not None else (None, None)
        if name in doc.invalid:
            bad = doc.invalid[name]
            return ProfileReport(
                name, bad.provider, "?", None, ProfileStatus.INVALID, False, None, None,
                rt.last_used, rt.last_good, None, bad.problem,
            )  # fmt: skip
        profile = self._current(doc, name)
        assert profile is not None
        mark = self._mark(profile, state)
        if mark is not None:
            self._announce(profile, mark)
        refreshable = profile.type is ProfileType.OAUTH
        expires = profile.expires_s
        reason: str | None = None
        if profile.type is ProfileType.BORROWED:
            try:
                token = self._borrowed_file(profile).read()
                expires = token.expires_s
                if expires is not None and now >= expires:
                    token = self._borrowed_file(profile).read(fresh=True)
                    expires = token.expires_s
            except BorrowedUnavailable as exc:
                reason = exc.reason
        status = profile_status(
            StatusInputs(
                refreshable=refreshable,
                expires_s=expires,
                needs_reauth=mark is not None,
                cooldown_until_s=cooling_until,
                invalid=reason is not None,
            ),
            now_s=now,
        )
        if status is ProfileStatus.NEEDS_REAUTH and mark is not None:
            reason = self._reauth_reason(profile, mark.reason)
        elif status is ProfileStatus.EXPIRED:
            reason = EXPIRED_HINT if profile.type is ProfileType.BORROWED else self._expired_reason(profile)
        elif status is ProfileStatus.COOLING and cooling_until is not None:
            why = cooling_reason or "provider asked to back off"
            reason = f"cooling until {_iso(cooling_until)} ({why})"
        if profile.type is ProfileType.TOKEN and status in (ProfileStatus.OK, ProfileStatus.EXPIRING):
            self._warn_expiry(profile, now)
        return ProfileReport(
            name=profile.name,
            provider=profile.provider,
            type=profile.type.value,
            account=profile.email,
            status=status,
            refreshable=refreshable,
            expires_at=expires,
            days_left=days_left(now_s=now, expires_s=expires),
            last_used=rt.last_used,
            last_good=rt.last_good,
            cooldown_until=cooling_until if status is ProfileStatus.COOLING else None,
            reason=reason,
        )

    def _warn_expiry(self, profile: Profile, now: float) -> None:
        key = (profile.name, profile.expires_ms)
        given = self._warned.setdefault(key, set())
        due = due_warnings(now_s=now, expires_s=profile.expires_s, already=given)
        if not due:
            return
        given.update(t for t in (7, 1) if t >= due[-1])
        days = due[-1]
        expires = profile.expires_s or now
        message = (
            f"auth profile {profile.name} expires in {days} day{'s' if days != 1 else ''} "
            f"(on {_iso(expires)}): "
            f"create a new token (`claude setup-token`) and run `nexus auth add-token {profile.provider} "
            f"--name {profile.name}`"
        )
        self._emit(
            events.ExpiryWarning(
                profile=profile.name,
                provider=profile.provider,
                days=days,
                expires_at=expires,
                message=message,
            ),
            logging.WARNING,
        )

    def check_expiry(self) -> None:
        """Fire due expiry and needs-reauth events now (the gateway calls this on its tick)."""
        self.report()

    # -- management (CLI) ------------------------------------------------------------------------------
    def put(self, profile: Profile) -> None:
        """Add or replace a profile (a human acted: any needs-reauth mark on the old secret is moot)."""
        self._files.update(lambda doc: doc.with_profile(profile))
        self._unsaved.pop(profile.name, None)

    def remove(self, name: str) -> bool:
        found: list[bool] = []

        def change(doc: StoreDocument) -> StoreDocument:
            if name in doc.profiles or name in doc.invalid:
                found.append(True)
                return doc.without(name)
            return doc

        self._files.update(change)
        if found:
            self._files.update_state(lambda st: st.without(name))
        return bool(found)

    def set_order(self, provider: str, names: list[str]) -> None:
        doc = self._files.read(fresh=True)
        known = {n for n, p in doc.profiles.items() if p.provider == provider}
        unknown = [n for n in names if n not in known]
        if unknown:
            have = ", ".join(sorted(known)) or "none"
            raise CredentialUnavailable(unknown[0], f"is not a {provider} profile (have: {have})")
        self._files.update_state(lambda st: st.with_order(provider, tuple(names)))
