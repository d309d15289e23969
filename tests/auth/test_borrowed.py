"""A borrowed Claude Code credential: read, followed, used until it expires, never refreshed by Nexus."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from nexus.auth.credentials import Credential, CredentialKind
from nexus.auth.errors import CredentialUnavailable
from nexus.auth.store import ProfileStore
from nexus.fakes.oauth_server import FakeOAuthServer
from tests.auth.conftest import refresh_directly, write_store


def write_claude_code(home: Path, access: str, refresh: str, expires_at: float) -> Path:
    path = home / ".claude" / ".credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    block = {"accessToken": access, "refreshToken": refresh, "expiresAt": int(expires_at * 1000)}
    tmp.write_text(json.dumps({"claudeAiOauth": {**block, "scopes": ["user:inference"]}}))
    os.replace(tmp, path)  # Claude Code's own writes are whole-file too
    return path


@pytest.fixture
def borrowed(tmp_path: Path, store_path: Path, local_mounts: Path, oauth: FakeOAuthServer):
    user_home = tmp_path / "user"
    grant = oauth.issue(email="claude-code@example.com")
    write_claude_code(user_home, grant.access, grant.refresh, time.time() + 3600)
    write_store(
        store_path,
        {"anthropic:claude-code": {"type": "borrowed", "provider": "anthropic", "source": "claude-code"}},
    )
    store = ProfileStore(
        store_path, environ={"HOME": str(user_home)}, mounts_path=local_mounts, lock_timeout_s=5
    )
    return store, user_home, grant


async def test_borrowed_token_is_used_and_followed(borrowed, oauth: FakeOAuthServer) -> None:
    store, user_home, grant = borrowed
    cred = await store.credential("anthropic:claude-code")
    assert cred.kind is CredentialKind.BEARER and cred.secret.reveal() == grant.access
    # Claude Code refreshes (it owns the credential) and rewrites its file: Nexus picks it up
    new = refresh_directly(oauth.token_url, oauth.client_id, grant.refresh)
    write_claude_code(user_home, new["access_token"], new["refresh_token"], time.time() + 3600)
    cred2 = await store.credential("anthropic:claude-code")
    assert cred2.secret.reveal() == new["access_token"]


async def test_borrowed_is_never_refreshed_by_nexus(borrowed, oauth: FakeOAuthServer) -> None:
    store, user_home, grant = borrowed
    rejected = Credential(
        "anthropic:claude-code",
        CredentialKind.BEARER,
        (await store.credential("anthropic:claude-code")).secret,
    )
    assert await store.unauthorized("anthropic:claude-code", rejected) is None  # 401: look again, no refresh
    write_claude_code(user_home, grant.access, grant.refresh, time.time() - 5)  # expired in the owner's file
    with pytest.raises(CredentialUnavailable, match="run `claude` once to refresh it"):
        await store.credential("anthropic:claude-code")
    state = store.profiles("anthropic")[0]
    assert not state.usable and "run `claude` once" in (state.reason or "")
    with pytest.raises(CredentialUnavailable):
        await store.refresh("anthropic:claude-code")
    assert grant.refresh not in oauth.stats.presented_refresh_tokens
    assert oauth.stats.presented_refresh_tokens == []


async def test_borrowed_401_adopts_the_owners_newer_token(borrowed, oauth: FakeOAuthServer) -> None:
    store, user_home, _ = borrowed
    old = await store.credential("anthropic:claude-code")
    write_claude_code(user_home, "sk-ant-oat01-OWNER-NEW", "sk-ant-ort01-OWNER-NEW", time.time() + 3600)
    fresh = await store.unauthorized("anthropic:claude-code", old)
    assert fresh is not None and fresh.secret.reveal() == "sk-ant-oat01-OWNER-NEW"
    assert oauth.stats.presented_refresh_tokens == []


async def test_missing_claude_code_file_names_the_fix(tmp_path, store_path, local_mounts) -> None:
    write_store(
        store_path,
        {"anthropic:claude-code": {"type": "borrowed", "provider": "anthropic", "source": "claude-code"}},
    )
    store = ProfileStore(store_path, environ={"HOME": str(tmp_path / "nobody")}, mounts_path=local_mounts)
    with pytest.raises(CredentialUnavailable, match="log in with `claude` first"):
        await store.credential("anthropic:claude-code")
