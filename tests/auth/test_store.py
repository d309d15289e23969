"""The profile store against a real token endpoint on 127.0.0.1 (one process, several stores)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from nexus.auth import events
from nexus.auth.credentials import CredentialKind
from nexus.auth.errors import CredentialUnavailable, NeedsReauth
from nexus.auth.files import StoreFiles
from nexus.auth.policy import DAY_S, ProfileStatus
from nexus.auth.profiles import Profile, ProfileType
from nexus.auth.store import ProfileStore
from nexus.common.clock import FakeClock
from nexus.common.secret import Secret
from nexus.fakes.oauth_server import CLIENT_ID, FakeOAuthServer
from tests.auth.conftest import read_store, refresh_directly, write_store


def make_store(path: Path, mounts: Path, **kw: object) -> ProfileStore:
    kw.setdefault("lock_timeout_s", 5.0)
    return ProfileStore(path, mounts_path=mounts, **kw)  # type: ignore[arg-type]


def seed_oauth(path: Path, oauth: FakeOAuthServer, name: str = "anthropic:main", **extra: object) -> str:
    grant = oauth.issue()
    entry = grant.profile_json(token_url=oauth.token_url, email="owner@example.com")
    entry.update(extra)
    profiles = read_store(path)["profiles"] if path.exists() else {}
    profiles[name] = entry
    write_store(path, profiles)
    return grant.access


def spend_directly(oauth: FakeOAuthServer, refresh: str) -> None:
    """The sibling clash: another program spends the shared refresh token behind our back."""
    refresh_directly(oauth.token_url, CLIENT_ID, refresh)


async def test_fresh_token_is_served_without_refreshing(store_path, oauth, local_mounts) -> None:
    access = seed_oauth(store_path, oauth)
    store = make_store(store_path, local_mounts)
    cred = await store.credential("anthropic:main")
    assert cred.kind is CredentialKind.BEARER and cred.secret.reveal() == access
    assert cred.account == "owner@example.com"
    assert oauth.refreshes == 0


async def test_due_token_is_refreshed_once_persisted_and_announced(store_path, oauth, local_mounts) -> None:
    old_access = seed_oauth(store_path, oauth)
    clock = FakeClock(start=time.time())
    heard: list[events.AuthEvent] = []
    store = make_store(store_path, local_mounts, clock=clock, on_event=heard.append)
    clock.advance(3600 - 60)  # inside the 300 s margin
    results = await asyncio.gather(*(store.credential("anthropic:main") for _ in range(20)))
    assert oauth.refreshes == 1  # single flight: 20 concurrent requests, one refresh
    new = {c.secret.reveal() for c in results}
    assert len(new) == 1 and old_access not in new
    on_disk = read_store(store_path)["profiles"]["anthropic:main"]
    assert on_disk["access"] in new  # persisted before use
    assert on_disk["refresh"] != oauth.stats.spent_refresh_tokens[0]
    assert on_disk["email"] == "owner@example.com"  # the rest of the profile is kept
    assert [type(e) for e in heard] == [events.TokenRefreshed]
    assert oauth.accept_token({"authorization": f"Bearer {on_disk['access']}"})


async def test_a_peer_refresh_is_adopted_without_sending_anything(store_path, oauth, local_mounts) -> None:
    seed_oauth(store_path, oauth)
    clock = FakeClock(start=time.time())
    a = make_store(store_path, local_mounts, clock=clock)
    b = make_store(store_path, local_mounts, clock=clock)
    heard: list[events.AuthEvent] = []
    b.subscribe(heard.append)
    await b.credential("anthropic:main")  # b has read (and cached) the old pair
    clock.advance(3600 - 60)
    got_a = await a.credential("anthropic:main")
    got_b = await b.credential("anthropic:main")
    assert got_a.secret == got_b.secret
    assert oauth.refreshes == 1
    assert oauth.stats.reuse_detected == 0


async def test_401_with_unexpired_token_forces_one_refresh(store_path, oauth, local_mounts) -> None:
    seed_oauth(store_path, oauth)
    store2 = make_store(store_path, local_mounts)
    rejected = await store2.credential("anthropic:main")  # locally valid for another hour
    renewed = await store2.unauthorized("anthropic:main", rejected)
    assert renewed is not None and renewed.secret != rejected.secret
    assert oauth.refreshes == 1
    assert oauth.accept_token({"authorization": f"Bearer {renewed.secret.reveal()}"})
    # a second 401 report for the same rejected token (another request) adopts, sends nothing
    again = await store2.unauthorized("anthropic:main", rejected)
    assert again is not None and again.secret == renewed.secret
    assert oauth.refreshes == 1


async def test_reused_refresh_token_means_needs_reauth_and_the_next_profile_serves(
    store_path, oauth, local_mounts, caplog
) -> None:
    seed_oauth(store_path, oauth)
    profiles = read_store(store_path)["profiles"]
    profiles["anthropic:backup"] = {
        "type": "api_key",
        "provider": "anthropic",
        "key": "sk-ant-api03-BACKUPKEY",
    }
    write_store(store_path, profiles)
    spend_directly(oauth, profiles["anthropic:main"]["refresh"])  # the sibling clash of the incident
    before = store_path.read_bytes()
    heard: list[events.AuthEvent] = []
    store = make_store(store_path, local_mounts, on_event=heard.append)
    cred = await store.credential("anthropic:main")
    caplog.set_level(logging.INFO, logger="nexus.auth")
    assert await store.unauthorized("anthropic:main", cred) is None
    assert oauth.stats.reuse_detected == 1
    presented = len(oauth.stats.presented_refresh_tokens)
    assert store_path.read_bytes() == before  # never overwritten with a logged-out stub
    [event] = [e for e in heard if isinstance(e, events.ReauthRequired)]
    assert "nexus auth login anthropic" in event.message
    states = {s.profile: s for s in store.profiles("anthropic")}
    assert not states["anthropic:main"].usable and "needs re-login" in (states["anthropic:main"].reason or "")
    assert states["anthropic:backup"].usable
    with pytest.raises(NeedsReauth, match="nexus auth login"):
        await store.credential("anthropic:main")
    assert await store.unauthorized("anthropic:main", cred) is None
    # a second process sees the mark too, and sends nothing with the dead token either
    other = make_store(store_path, local_mounts)
    with pytest.raises(NeedsReauth):
        await other.credential("anthropic:main")
    assert len(oauth.stats.presented_refresh_tokens) == presented
    assert "needs re-login" in caplog.text
    # a human logs in again: the mark clears by itself
    seed_oauth(store_path, oauth)
    assert (await other.credential("anthropic:main")).kind is CredentialKind.BEARER


async def test_transient_refresh_failure_keeps_serving_the_still_valid_token(
    store_path, oauth, local_mounts
) -> None:
    access = seed_oauth(store_path, oauth)
    clock = FakeClock(start=time.time())
    store = make_store(store_path, local_mounts, clock=clock)
    clock.advance(3600 - 60)
    oauth.fail_next = [503]
    cred = await store.credential("anthropic:main")
    assert cred.secret.reveal() == access  # still valid for 60 s: used, not an outage
    assert len(oauth.stats.presented_refresh_tokens) == 1
    await store.credential("anthropic:main")  # within the backoff: no second attempt
    assert len(oauth.stats.presented_refresh_tokens) == 1
    clock.advance(10)
    cred = await store.credential("anthropic:main")
    assert cred.secret.reveal() != access and oauth.refreshes == 1
    assert store.report("anthropic")[0].status is ProfileStatus.OK


async def test_failed_write_keeps_the_new_pair_in_memory_and_retries(store_path, oauth, local_mounts) -> None:
    seed_oauth(store_path, oauth)
    failures = {"left": 3}  # all three writes inside the refresh fail

    def flaky(path: Path, text: str) -> None:
        if path.name == "auth-profiles.json" and failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(28, "No space left on device")
        from nexus.common.atomic import atomic_write_text

        atomic_write_text(path, text, mode=0o600)

    clock = FakeClock(start=time.time())
    store = make_store(store_path, local_mounts, clock=clock, files=StoreFiles(store_path, writer=flaky))
    clock.advance(3600 - 60)
    first = await store.credential("anthropic:main")
    assert read_store(store_path)["profiles"]["anthropic:main"]["access"] != first.secret.reveal()
    second = await store.credential("anthropic:main")  # served from memory, write retried
    assert second.secret == first.secret and oauth.refreshes == 1
    assert read_store(store_path)["profiles"]["anthropic:main"]["access"] == first.secret.reveal()


async def test_long_lived_token_and_api_key(store_path, local_mounts) -> None:
    clock = FakeClock(start=1_800_000_000.0)
    write_store(
        store_path,
        {
            "anthropic:year": {
                "type": "token",
                "provider": "anthropic",
                "token": "sk-ant-oat01-YEAR",
                "expires": int((1_800_000_000.0 + 2 * DAY_S) * 1000),
            },
            "anthropic:key": {"type": "api_key", "provider": "anthropic", "key": "sk-ant-api03-KEY"},
        },
    )
    store = make_store(store_path, local_mounts, clock=clock)
    assert (await store.credential("anthropic:year")).kind is CredentialKind.BEARER
    assert (await store.credential("anthropic:key")).kind is CredentialKind.API_KEY
    assert [s.profile for s in store.profiles("anthropic")] == ["anthropic:year", "anthropic:key"]
    clock.advance(3 * DAY_S)
    with pytest.raises(CredentialUnavailable, match="claude setup-token"):
        await store.credential("anthropic:year")
    year = store.profiles("anthropic")[0]
    assert not year.usable and "expired" in (year.reason or "")


async def test_expiry_warnings_fire_once_per_threshold(store_path, local_mounts, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="nexus.auth")
    clock = FakeClock(start=1_800_000_000.0)
    expires = 1_800_000_000.0 + 6.5 * DAY_S
    write_store(
        store_path,
        {
            "anthropic:year": {
                "type": "token",
                "provider": "anthropic",
                "token": "sk-ant-oat01-W",
                "expires": expires * 1000,
            }
        },
    )
    heard: list[events.AuthEvent] = []
    store = make_store(store_path, local_mounts, clock=clock, on_event=heard.append)
    store.check_expiry()
    store.profiles("anthropic")
    assert [(type(e), getattr(e, "days", None)) for e in heard] == [(events.ExpiryWarning, 7)]
    assert store.report()[0].status is ProfileStatus.EXPIRING
    clock.advance(5.7 * DAY_S)
    store.check_expiry()
    store.check_expiry()
    assert [getattr(e, "days", None) for e in heard] == [7, 1]
    assert (
        "expires in 1 day" in caplog.text
        and "nexus auth add-token anthropic --name anthropic:year" in caplog.text
    )


async def test_order_and_remove(store_path, local_mounts) -> None:
    store = make_store(store_path, local_mounts)
    for name in ("openai:a", "openai:b"):
        store.put(
            Profile(name=name, type=ProfileType.API_KEY, provider="openai", secret=Secret("sk-" + name))
        )
    store.set_order("openai", ["openai:b"])
    assert [s.profile for s in store.profiles("openai")] == ["openai:b", "openai:a"]
    with pytest.raises(CredentialUnavailable, match="is not a openai profile"):
        store.set_order("openai", ["openai:zzz"])
    assert store.remove("openai:b") and not store.remove("openai:b")
    assert [s.profile for s in store.profiles("openai")] == ["openai:a"]
    assert json.loads(store.files.state_path.read_text())["order"] == {"openai": []}


async def test_a_peer_token_that_is_itself_due_is_refreshed_not_adopted(
    store_path, oauth, local_mounts
) -> None:
    seed_oauth(store_path, oauth)
    clock = FakeClock(start=time.time())
    a = make_store(store_path, local_mounts, clock=clock)
    b = make_store(store_path, local_mounts, clock=clock)
    stale = await b.credential("anthropic:main")
    clock.advance(3600 - 60)
    await a.credential("anthropic:main")  # a peer refreshes...
    clock.advance(3600 - 30)  # ...and b comes back (a stalled process) when that token is due too
    renewed = await b.unauthorized("anthropic:main", stale)
    assert renewed is not None and oauth.refreshes == 2 and oauth.stats.reuse_detected == 0


def test_http_timeout_must_be_shorter_than_the_lock_wait(store_path, local_mounts) -> None:
    with pytest.raises(ValueError, match="shorter than lock_timeout_s"):
        make_store(store_path, local_mounts, lock_timeout_s=2.0, http_timeout_s=2.0)
    assert make_store(store_path, local_mounts, lock_timeout_s=2.0) is not None  # default: half the wait


async def test_unknown_and_invalid_profiles_name_the_fix(store_path, local_mounts) -> None:
    write_store(store_path, {"anthropic:bad": {"type": "oauth", "provider": "anthropic", "access": "x"}})
    store = make_store(store_path, local_mounts)
    with pytest.raises(CredentialUnavailable, match="nexus auth remove anthropic:bad"):
        await store.credential("anthropic:bad")
    with pytest.raises(CredentialUnavailable, match="see `nexus auth list`"):
        await store.credential("anthropic:nope")
    [state] = store.profiles("anthropic")
    assert not state.usable and "profiles.anthropic:bad.refresh" in (state.reason or "")
