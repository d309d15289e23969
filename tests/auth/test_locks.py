"""The host-wide refresh lock: a SIGKILLed holder frees it at once; a hung holder is bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nexus.auth.errors import CredentialUnavailable
from nexus.auth.store import ProfileStore
from nexus.common.clock import FakeClock
from nexus.fakes.oauth_server import FakeOAuthServer
from tests.auth.conftest import read_store
from tests.auth.test_store import seed_oauth

HOLDER = """
import sys, time
from pathlib import Path
from nexus.auth.files import StoreFiles
lock = StoreFiles(Path(sys.argv[1])).account_lock("anthropic", sys.argv[2])
lock.acquire(10)
lock.write_owner("pid holder-test refreshing\\n")
print("locked", flush=True)
time.sleep(60)
"""


def start_holder(store_path: Path, account: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(store_path), account], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded: the child sleeps at most 60 s and the test timeout is 120 s
    assert line.strip() == "locked"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stdout:
        proc.stdout.close()


async def test_sigkilled_lock_holder_does_not_block_refresh(
    store_path, oauth: FakeOAuthServer, local_mounts
) -> None:
    seed_oauth(store_path, oauth)
    clock = FakeClock(start=time.time())
    store = ProfileStore(store_path, clock=clock, mounts_path=local_mounts, lock_timeout_s=20)
    clock.advance(3600 - 60)
    holder = start_holder(store_path, "owner@example.com")
    try:
        import asyncio

        task = asyncio.ensure_future(store.credential("anthropic:main"))
        await asyncio.sleep(0.3)
        assert not task.done()  # waiting on the lock, sending nothing
        assert oauth.stats.presented_refresh_tokens == []
        killed_at = time.monotonic()
        os.kill(holder.pid, signal.SIGKILL)
        cred = await asyncio.wait_for(task, timeout=10)
        waited = time.monotonic() - killed_at
    finally:
        stop(holder)
    assert waited < 2.0  # the kernel dropped the flock with its holder
    assert oauth.refreshes == 1
    assert read_store(store_path)["profiles"]["anthropic:main"]["access"] == cred.secret.reveal()


async def test_hung_lock_holder_is_bounded_and_named(
    store_path, oauth: FakeOAuthServer, local_mounts
) -> None:
    access = seed_oauth(store_path, oauth)
    clock = FakeClock(start=time.time())
    store = ProfileStore(store_path, clock=clock, mounts_path=local_mounts, lock_timeout_s=1.0)
    holder = start_holder(store_path, "owner@example.com")
    try:
        clock.advance(3600 - 60)  # due, but still valid: served while the refresh cannot happen
        started = time.monotonic()
        cred = await store.credential("anthropic:main")
        assert cred.secret.reveal() == access
        clock.advance(120)  # now really expired: the bounded failure surfaces, naming the lock
        with pytest.raises(CredentialUnavailable, match="refresh lock") as info:
            await store.credential("anthropic:main")
        elapsed = time.monotonic() - started
    finally:
        stop(holder)
    assert "holder-test" in str(info.value)
    assert elapsed < 1.0 * 2 + 2.0  # two bounded waits, no more
    assert oauth.stats.presented_refresh_tokens == []
