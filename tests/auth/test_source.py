"""``open_credentials``: where the store lives, env keys after the store's profiles, /status rows."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from nexus.auth import CredentialKind, UnreliableFilesystem, open_credentials
from nexus.common.paths import NexusPaths
from nexus.config.schema import AuthConfig, NexusConfig, ProviderConfig
from nexus.fakes.oauth_server import FakeOAuthServer
from tests.auth.conftest import write_store

KEY = "sk-ant-api03-STORE-KEY-SECRET"
ENV_KEY = "sk-ant-api03-ENV-KEY-SECRET"


def paths_in(tmp_path: Path) -> NexusPaths:
    return NexusPaths(home=tmp_path / "home")


async def test_store_profiles_come_first_then_env(tmp_path: Path, local_mounts: Path) -> None:
    paths = paths_in(tmp_path)
    write_store(paths.auth_store, {"anthropic:key": {"type": "api_key", "provider": "anthropic", "key": KEY}})
    source = open_credentials(
        NexusConfig(), paths, environ={"ANTHROPIC_API_KEY": ENV_KEY}, mounts_path=local_mounts
    )
    states = source.profiles("anthropic")
    assert [s.profile for s in states] == ["anthropic:key", "anthropic:env"]
    assert all(s.usable for s in states)
    assert (await source.credential("anthropic:key")).secret.reveal() == KEY
    env = await source.credential("anthropic:env")
    assert env.kind is CredentialKind.API_KEY and env.secret.reveal() == ENV_KEY
    assert await source.unauthorized("anthropic:env", env) is None


async def test_provider_key_variable_and_keyless_local_endpoints(tmp_path: Path, local_mounts: Path) -> None:
    config = NexusConfig(
        providers={
            "groq": ProviderConfig(base_url="https://api.example.invalid/v1", api_key_env="GROQ_KEY"),
            "lmstudio": ProviderConfig(base_url="http://127.0.0.1:1234/v1"),
        }
    )
    source = open_credentials(
        config, paths_in(tmp_path), environ={"GROQ_KEY": "gk"}, mounts_path=local_mounts
    )
    assert [(s.profile, s.usable) for s in source.profiles("groq")] == [("groq:env", True)]
    assert [(s.profile, s.usable) for s in source.profiles("lmstudio")] == [("lmstudio:env", True)]
    missing = source.profiles("openai")
    assert not missing[0].usable and "OPENAI_API_KEY is not set" in (missing[0].reason or "")


@pytest.mark.parametrize("via", ["env", "config"])
def test_store_path_override(tmp_path: Path, local_mounts: Path, via: str) -> None:
    shared = tmp_path / "shared" / "auth.json"
    config = NexusConfig(auth=AuthConfig(store=str(shared))) if via == "config" else NexusConfig()
    environ = {"NEXUS_AUTH_STORE": str(shared)} if via == "env" else {}
    source = open_credentials(config, paths_in(tmp_path), environ=environ, mounts_path=local_mounts)
    assert source.store.path == shared


def test_unreliable_filesystem_refused_unless_forced(tmp_path: Path) -> None:
    table = tmp_path / "mounts"
    table.write_text(f"/dev/sda / ext4 rw 0 0\nC: {tmp_path / 'home'} 9p rw 0 0\n")
    with pytest.raises(UnreliableFilesystem, match="9p"):
        open_credentials(NexusConfig(), paths_in(tmp_path), environ={}, mounts_path=table)
    forced = NexusConfig(auth=AuthConfig(force_unreliable_fs=True))
    assert open_credentials(forced, paths_in(tmp_path), environ={}, mounts_path=table) is not None


async def test_status_entry_and_logs_carry_no_secret(
    tmp_path: Path, local_mounts: Path, oauth: FakeOAuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    paths = paths_in(tmp_path)
    grant = oauth.issue()
    write_store(
        paths.auth_store,
        {
            "anthropic:main": grant.profile_json(token_url=oauth.token_url, email="me@example.com"),
            "anthropic:year": {"type": "token", "provider": "anthropic", "token": "sk-ant-oat01-YEAR-SECRET"},
        },
    )
    heard: list[object] = []
    source = open_credentials(
        NexusConfig(), paths, environ={}, mounts_path=local_mounts, on_event=heard.append
    )
    cred = await source.credential("anthropic:main")
    await source.unauthorized("anthropic:main", cred)  # a forced refresh, logged
    source.revoked("anthropic:year", "provider said: token revoked")  # a needs-reauth event, logged
    key, value = source.status_entry()
    assert key == "auth"
    rows = {row["name"]: row for row in value["profiles"]}
    assert rows["anthropic:main"]["state"] == "ok" and rows["anthropic:main"]["account"] == "me@example.com"
    assert rows["anthropic:year"]["state"] == "needs_reauth"
    assert value["single_profile_providers"] == []
    seen = json.dumps(value) + caplog.text + repr(heard) + repr(cred)
    store_text = paths.auth_store.read_text()
    secrets = [grant.access, grant.refresh, "sk-ant-oat01-YEAR-SECRET"]
    secrets += [
        v for v in json.loads(store_text)["profiles"]["anthropic:main"].values() if str(v).startswith("sk-")
    ]
    for secret in secrets:
        assert secret not in seen
    assert "refreshed its access token" in caplog.text and "needs re-login" in caplog.text
