"""``nexus auth`` as a real process: secrets in through stdin, never out through anything."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from nexus.fakes.oauth_server import FakeOAuthServer
from tests.auth.conftest import read_store

NEXUS = str(Path(sys.executable).parent / "nexus")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "nexus-home"
    user = tmp_path / "user"
    user.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NEXUS_HOME": str(home),
        "HOME": str(user),
        "NO_PROXY": "127.0.0.1",
    }


def nexus(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEXUS, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_add_list_order_remove_and_nothing_secret_is_ever_printed(env: dict[str, str]) -> None:
    token, key = "sk-ant-oat01-CLI-SECRET-TOKEN", "sk-ant-api03-CLI-SECRET-KEY"
    outputs = []
    r = nexus(
        env, "auth", "add-token", "anthropic", "--name", "year", "--expires-in", "365d", stdin=token + "\n"
    )
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    r = nexus(env, "auth", "list")
    outputs.append(r)
    assert "anthropic:year" in r.stdout and "in 364 days" in r.stdout
    assert "only one profile" in r.stdout  # the incident's lesson 3, said where it matters
    r = nexus(env, "auth", "add-key", "anthropic", stdin=key)
    outputs.append(r)
    assert r.returncode == 0, r.stderr
    r = nexus(env, "auth", "list", "--json")
    outputs.append(r)
    listed = json.loads(r.stdout)
    assert [p["name"] for p in listed["profiles"]] == ["anthropic:year", "anthropic:key"]
    assert listed["single_profile_providers"] == []
    assert listed["profiles"][0]["state"] == "ok" and 364 <= listed["profiles"][0]["days_left"] <= 365
    r = nexus(env, "auth", "order", "anthropic", "anthropic:key")
    outputs.append(r)
    assert r.stdout.strip() == "anthropic: anthropic:key -> anthropic:year"
    r = nexus(env, "auth", "order", "anthropic", "anthropic:nope")
    outputs.append(r)
    assert r.returncode == 1 and "is not a anthropic profile" in r.stderr
    r = nexus(env, "auth", "remove", "anthropic:key")
    outputs.append(r)
    assert r.returncode == 0
    store = Path(env["NEXUS_HOME"]) / "auth-profiles.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    assert read_store(store)["profiles"]["anthropic:year"]["token"] == token
    for out in outputs:
        assert token not in out.stdout + out.stderr and key not in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "problem"),
    [
        (("add-token", "anthropic"), "", "no token given: pipe it in"),
        (("add-token", "anthropic"), "two words", "contains spaces"),
        (("add-token", "anthropic"), "sk-ant-api03-XYZ", "that is an API key"),
        (("add-token", "anthropic", "--expires-in", "soon"), "t", "--expires-in: 'soon' is not a duration"),
        (("login", "openai"), "", "only available for anthropic"),
        (("remove", "x:y"), "", "no profile 'x:y'"),
        (("borrow", "vscode"), "", "supported: claude-code"),
    ],
)
def test_bad_input_names_the_problem_and_the_fix(
    env: dict[str, str], args: tuple[str, ...], stdin: str, problem: str
) -> None:
    r = nexus(env, "auth", *args, stdin=stdin)
    assert r.returncode != 0
    assert problem in r.stderr


def test_login_with_pkce_then_refresh(env: dict[str, str], oauth: FakeOAuthServer) -> None:
    proc = subprocess.Popen(
        [NEXUS, "auth", "login", "anthropic", "--token-url", oauth.token_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        proc.stdout.readline()
        url = proc.stdout.readline().strip()
        query = parse_qs(urlparse(url).query)
        assert url.startswith("https://claude.ai/oauth/authorize?")
        assert query["client_id"] == ["9d1c250a-e61b-44d9-88ed-5944d1962f5e"]
        assert query["code_challenge_method"] == ["S256"]
        code = oauth.issue_code(query["code_challenge"][0])  # what the browser step yields
        out, err = proc.communicate(f"{code}#{query['state'][0]}\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "logged in" in out
    assert oauth.stats.code_exchanges == 1
    entry = read_store(Path(env["NEXUS_HOME"]) / "auth-profiles.json")["profiles"]["anthropic:oauth"]
    assert entry["type"] == "oauth" and oauth.access_live(entry["access"])
    assert entry["access"] not in out + err and entry["refresh"] not in out + err
    r = nexus(env, "auth", "refresh", "anthropic:oauth")
    assert r.returncode == 0, r.stderr
    assert re.search(r"valid for \d+ min", r.stdout)
    assert oauth.refreshes == 1
    after = read_store(Path(env["NEXUS_HOME"]) / "auth-profiles.json")["profiles"]["anthropic:oauth"]
    assert after["access"] != entry["access"] and oauth.access_live(after["access"])


def test_borrow_claude_code_lists_its_expiry(env: dict[str, str]) -> None:
    creds = Path(env["HOME"]) / ".claude" / ".credentials.json"
    creds.parent.mkdir(parents=True)
    block = {"accessToken": "sk-ant-oat01-BORROWED", "refreshToken": "sk-ant-ort01-BORROWED"}
    creds.write_text(json.dumps({"claudeAiOauth": {**block, "expiresAt": int((time.time() - 60) * 1000)}}))
    r = nexus(env, "auth", "borrow", "claude-code")
    assert r.returncode == 0, r.stderr
    r = nexus(env, "auth", "list")
    assert "anthropic:claude-code" in r.stdout
    assert "expired: run `claude` once to refresh it" in r.stdout
    assert "BORROWED" not in r.stdout + r.stderr


def test_list_shows_the_routers_profile_cooldowns(env: dict[str, str]) -> None:
    from nexus.models.cooldown import ANY_MODEL, CooldownEntry
    from nexus.models.cooldown_store import JsonCooldownStore, RouterState
    from nexus.models.errors import ModelFailureKind

    assert nexus(env, "auth", "add-key", "anthropic", stdin="sk-ant-api03-COOL").returncode == 0
    entry = CooldownEntry(
        "anthropic:key", ANY_MODEL, ModelFailureKind.BILLING, time.time() + 600, reason="spend cap"
    )
    JsonCooldownStore(Path(env["NEXUS_HOME"]) / "run" / "cooldowns.json").save(
        RouterState({entry.key: entry})
    )
    text = nexus(env, "auth", "list").stdout
    assert "cooling until" in text and "spend cap" in text
    row = json.loads(nexus(env, "auth", "list", "--json").stdout)["profiles"][0]
    assert row["state"] == "cooling" and row["cooldown_until"] > time.time()
