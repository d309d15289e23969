"""``nexus import openclaw`` against fixture state dirs in the OpenClaw and the Clawdbot layouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from nexus.common import NexusPaths, Secret
from nexus.ops.openclaw import ImportFailed, Source, find_source, model_chain, plan_import, read_source

DAY_MS = 86_400_000


def write(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))


def profiles(now_ms: int) -> dict[str, Any]:
    return {
        "version": 1,
        "profiles": {
            "anthropic:claude-cli": {
                "type": "oauth",
                "provider": "anthropic",
                "access": "at-SECRET-cli",
                "refresh": "rt-SECRET-cli",
                "expires": now_ms + 3_600_000,
            },
            "anthropic:inteia": {
                "type": "token",
                "provider": "anthropic",
                "token": "sk-ant-oat-SECRET-inteia",
                "expires": now_ms + 364 * DAY_MS,
            },
            "openai:me@example.com": {
                "type": "oauth",
                "provider": "openai",
                "access": "at-SECRET-o",
                "refresh": "rt-SECRET-o",
                "expires": now_ms,
                "email": "me@example.com",
            },
            "openrouter:default": {"type": "api_key", "provider": "openrouter", "key": "sk-or-SECRET"},
        },
        "lastGood": {"anthropic": "anthropic:claude-cli"},
        "usageStats": {"anthropic:claude-cli": {"lastUsed": now_ms}},
    }


def openclaw_dir(root: Path) -> Path:
    """The OpenClaw layout: openclaw.json, agents/main/agent/auth-profiles.json."""
    d = root / ".openclaw"
    write(
        d / "openclaw.json",
        {
            "agents": {
                "defaults": {
                    "model": {
                        "primary": "anthropic/claude-opus-4-5",
                        "fallbacks": [
                            "anthropic/claude-3-7-sonnet-latest",
                            "Anthropic/Claude-3-5-Haiku-Latest",
                            "google/gemini-3-pro",
                        ],
                    }
                }
            },
            "auth": {
                "order": {"anthropic": ["anthropic:inteia", "anthropic:claude-cli"]},
                "profiles": {"anthropic:inteia": {"provider": "anthropic", "mode": "token"}},
            },
            "gateway": {"port": 18789, "mode": "local"},
        },
    )
    write(d / "agents" / "main" / "agent" / "auth-profiles.json", profiles(int(time.time() * 1000)))
    return d


def clawdbot_dir(root: Path) -> Path:
    """The Clawdbot layout: clawdbot.json with a string model, a second agent, the legacy agent/ store."""
    d = root / ".clawdbot"
    write(d / "clawdbot.json", {"agents": {"defaults": {"model": "anthropic/claude-opus-4-5"}}})
    write(
        d / "agents" / "work" / "agent" / "auth-profiles.json",
        {
            "version": 1,
            "profiles": {
                "anthropic:work": {"type": "api_key", "provider": "anthropic", "key": "sk-ant-SECRET-work"}
            },
        },
    )
    write(
        d / "agent" / "auth-profiles.json",
        {
            "version": 1,
            "profiles": {
                "anthropic:default": {
                    "type": "token",
                    "provider": "anthropic",
                    "token": "sk-ant-oat-SECRET-d",
                }
            },
        },
    )
    return d


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "CLAUDE_"))}
    return {**keep, "HOME": str(home), "NEXUS_HOME": str(home / ".nexus")}


def nexus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nexus", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def store_doc(env: dict[str, str]) -> dict[str, Any]:
    return json.loads((Path(env["NEXUS_HOME"]) / "auth-profiles.json").read_text())


def test_openclaw_layout_dry_run_then_import(env: dict[str, str]) -> None:
    home = Path(env["HOME"])
    openclaw_dir(home)
    dry = nexus(env, "import", "openclaw", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing written" in dry.stdout
    assert not (Path(env["NEXUS_HOME"]) / "auth-profiles.json").exists()
    assert not (Path(env["NEXUS_HOME"]) / "nexus.toml").exists()

    done = nexus(env, "import", "openclaw")
    assert done.returncode == 0, done.stderr
    assert "SECRET" not in dry.stdout + dry.stderr + done.stdout + done.stderr
    stored = store_doc(env)["profiles"]
    assert stored["anthropic:claude-cli"] == {
        "type": "borrowed",
        "provider": "anthropic",
        "source": "claude-code",
    }
    assert stored["anthropic:inteia"]["token"] == "sk-ant-oat-SECRET-inteia"
    assert stored["openrouter:default"]["key"] == "sk-or-SECRET"
    assert "openai:me@example.com" not in stored, "an OAuth login the other install refreshes is never copied"
    assert "nexus auth login openai" in done.stdout
    config = tomllib.loads((Path(env["NEXUS_HOME"]) / "nexus.toml").read_text())
    assert config["models"] == {
        "primary": "anthropic/claude-opus-4-5",
        "fallbacks": ["anthropic/claude-3-7-sonnet-latest", "anthropic/claude-3-5-haiku-latest"],
    }
    assert "google/gemini-3-pro: skipped" in done.stdout
    state = json.loads((Path(env["NEXUS_HOME"]) / "auth-profiles.state.json").read_text())
    assert state["order"]["anthropic"] == ["anthropic:inteia", "anthropic:claude-cli"]
    listed = nexus(env, "auth", "list")
    assert "anthropic:inteia" in listed.stdout and "SECRET" not in listed.stdout

    again = nexus(env, "import", "openclaw")  # a second run replaces nothing
    assert (
        again.returncode == 0
        and "exists: kept" in again.stdout
        and "already has [models] (kept)" in again.stdout
    )
    assert store_doc(env)["profiles"] == stored


def test_clawdbot_layout_with_from(env: dict[str, str], tmp_path: Path) -> None:
    src = clawdbot_dir(tmp_path / "elsewhere")
    done = nexus(env, "import", "openclaw", "--from", str(src))
    assert done.returncode == 0, done.stderr
    assert "(Clawdbot)" in done.stdout
    stored = store_doc(env)["profiles"]
    assert set(stored) == {"anthropic:work", "anthropic:default"}
    config = tomllib.loads((Path(env["NEXUS_HOME"]) / "nexus.toml").read_text())
    assert config["models"] == {"primary": "anthropic/claude-opus-4-5", "fallbacks": []}


def test_an_oauth_profile_holding_claude_codes_refresh_token_is_borrowed(tmp_path: Path) -> None:
    src = openclaw_dir(tmp_path)
    entry = dict(read_source(src).profiles["anthropic:claude-cli"])
    renamed = {"anthropic:mine": entry}
    plan = plan_import(
        Source(src, "OpenClaw", None, {}, renamed, ()),
        existing=frozenset(),
        claude_refresh_fp=Secret("rt-SECRET-cli").fingerprint(),
        config_text=None,
        config_path=tmp_path / "nexus.toml",
    )
    assert [(p.name, p.type.value) for p in plan.profiles] == [("anthropic:mine", "borrowed")]
    unrelated = plan_import(
        Source(src, "OpenClaw", None, {}, renamed, ()),
        existing=frozenset(),
        claude_refresh_fp=Secret("other").fingerprint(),
        config_text=None,
        config_path=tmp_path / "nexus.toml",
    )
    assert unrelated.profiles == []
    assert any("anthropic:mine" in line and "skipped" in line for line in unrelated.lines)


@pytest.mark.parametrize(
    ("config", "chain"),
    [
        ({"agents": {"defaults": {"model": "Anthropic/Claude-Opus-4-5"}}}, ("anthropic/claude-opus-4-5", [])),
        ({"agents": {"defaults": {"model": {"primary": "a/b", "fallbacks": ["c/d", 3]}}}}, ("a/b", ["c/d"])),
        ({"agents": {}}, (None, [])),
        ({}, (None, [])),
    ],
)
def test_model_chain(config: dict[str, Any], chain: tuple[str | None, list[str]]) -> None:
    assert model_chain(config) == chain


OPENCLAW_JSON5 = """// ~/.openclaw/openclaw.json: written by `openclaw onboard`, then edited by hand
{
  // which model answers, and who takes over when it is rate limited
  agents: {
    defaults: {
      model: {
        primary: "anthropic/claude-opus-4-5",
        fallbacks: [
          "anthropic/claude-3-7-sonnet-latest", // cheaper, same key
          'anthropic/claude-3-5-haiku-latest',
        ],
      },
      workspace: "~/.openclaw/workspace",
      maxConcurrent: 4,
    },
  },
  /* two profiles, so one can take over when the other fails (lesson 3) */
  auth: {
    order: { anthropic: ["anthropic:inteia", "anthropic:claude-cli",], },
  },
  gateway: { port: 18789, mode: "local", bind: "loopback", },
  channels: { telegram: { enabled: true, dmPolicy: "pairing", }, },
  messages: { ackReactionScope: "group-mentions", },
}
"""

CLAWDBOT_JSON5 = """{
  // Clawdbot era: a bare string model
  agents: { defaults: { model: 'anthropic/claude-opus-4-5', }, },
  commands: { native: "auto", },
}
"""


def test_a_real_openclaw_json5_config_is_imported(env: dict[str, str]) -> None:
    home = Path(env["HOME"])
    d = openclaw_dir(home)
    (d / "openclaw.json").write_text(OPENCLAW_JSON5)
    done = nexus(env, "import", "openclaw")
    assert done.returncode == 0, done.stderr
    config = tomllib.loads((Path(env["NEXUS_HOME"]) / "nexus.toml").read_text())
    assert config["models"] == {
        "primary": "anthropic/claude-opus-4-5",
        "fallbacks": ["anthropic/claude-3-7-sonnet-latest", "anthropic/claude-3-5-haiku-latest"],
    }
    state = json.loads((Path(env["NEXUS_HOME"]) / "auth-profiles.state.json").read_text())
    assert state["order"]["anthropic"] == ["anthropic:inteia", "anthropic:claude-cli"]
    assert "SECRET" not in done.stdout + done.stderr


def test_a_clawdbot_json5_config_and_json5_profiles_are_read(tmp_path: Path) -> None:
    d = clawdbot_dir(tmp_path)
    (d / "clawdbot.json").write_text(CLAWDBOT_JSON5)
    store = d / "agent" / "auth-profiles.json"
    store.write_text(
        "{ version: 1, profiles: { 'anthropic:default': "
        "{ type: 'token', provider: 'anthropic', token: 'sk-ant-oat-SECRET-d', }, }, }"
    )
    source = read_source(d)
    assert source.product == "Clawdbot"
    assert model_chain(source.config) == ("anthropic/claude-opus-4-5", [])
    assert set(source.profiles) == {"anthropic:work", "anthropic:default"}


def test_broken_json5_and_missing_sources_fail_with_the_reason(tmp_path: Path) -> None:
    d = tmp_path / ".openclaw"
    d.mkdir()
    (d / "openclaw.json").write_text("{ // comment\n agents: {},\n gateway: { port: }\n}")
    with pytest.raises(ImportFailed, match=r"openclaw.json is not valid JSON5 \(line 3: "):
        read_source(d)
    (d / "openclaw.json").write_bytes(b'{"agents": "\xff"}')
    with pytest.raises(ImportFailed, match="not UTF-8"):
        read_source(d)
    with pytest.raises(ImportFailed, match="pass --from"):
        find_source(tmp_path / "nobody", None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImportFailed, match="neither"):
        read_source(empty)


def test_existing_models_table_is_kept(tmp_path: Path) -> None:
    plan = plan_import(
        read_source(openclaw_dir(tmp_path)),
        existing=frozenset(),
        claude_refresh_fp=None,
        config_text='[models]\nprimary = "openai/gpt-5"\n',
        config_path=NexusPaths(tmp_path).config_file,
    )
    assert plan.config_text is None and any("(kept)" in line for line in plan.lines)
