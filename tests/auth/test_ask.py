"""``nexus ask`` end to end: real process, real router and SDK, fake Anthropic, fake token endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.oauth_server import CLIENT_ID, FakeOAuthServer
from tests.auth.conftest import read_store, refresh_directly, write_store

NEXUS = str(Path(sys.executable).parent / "nexus")
BACKUP_KEY = "sk-ant-api03-BACKUP-KEY-SECRET"


@pytest.fixture
def home(tmp_path: Path, fake_anthropic: FakeAnthropic) -> Path:
    home = tmp_path / "nexus-home"
    home.mkdir(mode=0o700)
    (home / "nexus.toml").write_text(
        f'[models]\nprimary = "anthropic/claude-test"\nfallbacks = []\n\n'
        f'[providers.anthropic]\nbase_url = "{fake_anthropic.base_url}"\n'
    )
    return home


def ask(home: Path, text: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NEXUS_HOME": str(home), "HOME": str(home.parent)}
    return subprocess.run([NEXUS, "ask", "--json", text], capture_output=True, text=True, env=env, timeout=60)


def seed(home: Path, oauth: FakeOAuthServer, *, backup: bool = False) -> dict[str, str]:
    grant = oauth.issue()
    profiles = {"anthropic:main": grant.profile_json(token_url=oauth.token_url)}
    if backup:
        profiles["anthropic:backup"] = {"type": "api_key", "provider": "anthropic", "key": BACKUP_KEY}
    write_store(home / "auth-profiles.json", profiles)
    return {"access": grant.access, "refresh": grant.refresh}


def no_secret_in(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout + result.stderr


def test_ask_answers_with_the_oauth_profile(
    home: Path, oauth: FakeOAuthServer, fake_anthropic: FakeAnthropic
) -> None:
    tokens = seed(home, oauth)
    fake_anthropic.accept_token = oauth.accept_token
    result = ask(home, "hello")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["text"] == "echo: hello" and answer["profile"] == "anthropic:main"
    [request] = fake_anthropic.requests
    assert request.headers["authorization"] == f"Bearer {tokens['access']}"
    assert "oauth-2025-04-20" in request.headers["anthropic-beta"]
    assert oauth.refreshes == 0
    no_secret_in(result, *tokens.values())


def test_401_on_unexpired_token_forces_one_refresh_then_answers(
    home: Path, oauth: FakeOAuthServer, fake_anthropic: FakeAnthropic
) -> None:
    tokens = seed(home, oauth)
    # the provider stopped honouring this access token early, though it has an hour left locally
    fake_anthropic.accept_token = lambda h: (
        oauth.accept_token(h) and tokens["access"] not in h.get("authorization", "")
    )
    result = ask(home, "again")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["text"] == "echo: again"
    assert oauth.refreshes == 1
    assert len(fake_anthropic.requests) == 2
    stored = read_store(home / "auth-profiles.json")["profiles"]["anthropic:main"]
    assert stored["access"] != tokens["access"] and oauth.access_live(stored["access"])
    no_secret_in(result, *tokens.values(), stored["access"], stored["refresh"])


def test_reused_token_marks_needs_reauth_and_the_next_profile_answers(
    home: Path, oauth: FakeOAuthServer, fake_anthropic: FakeAnthropic
) -> None:
    tokens = seed(home, oauth, backup=True)
    refresh_directly(oauth.token_url, CLIENT_ID, tokens["refresh"])  # the sibling program spent it

    def accept(headers: Mapping[str, str]) -> bool:
        # the sibling's refresh made the provider drop our access token
        return headers.get("x-api-key") == BACKUP_KEY or (
            oauth.accept_token(headers) and tokens["access"] not in headers.get("authorization", "")
        )

    fake_anthropic.accept_token = accept
    first = ask(home, "one")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["profile"] == "anthropic:backup"
    assert oauth.stats.reuse_detected == 1
    presented = len(oauth.stats.presented_refresh_tokens)
    second = ask(home, "two")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["profile"] == "anthropic:backup"
    assert len(oauth.stats.presented_refresh_tokens) == presented  # no refresh with the dead token again
    state = json.loads((home / "auth-profiles.state.json").read_text())
    assert "needs_reauth" in state["profiles"]["anthropic:main"]
    listing = subprocess.run(
        [NEXUS, "auth", "list"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), "NEXUS_HOME": str(home), "HOME": str(home.parent)},
        timeout=60,
    )
    assert "needs_reauth" in listing.stdout and "nexus auth login anthropic" in listing.stdout
    for result in (first, second, listing):
        no_secret_in(result, *tokens.values(), BACKUP_KEY)
