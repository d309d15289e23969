"""``nexus models`` and ``nexus models probe`` as the user runs them: a real process, the fakes, a real home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nexus.fakes._server import Error
from nexus.fakes.anthropic_server import FakeAnthropic

NEXUS = [str(Path(sys.executable).parent / "nexus")]


def nexus(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEXUS, *args], env=env, capture_output=True, text=True, timeout=60)


def environment(home: Path, fake: FakeAnthropic, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return {**base, "NEXUS_HOME": str(home), "ANTHROPIC_BASE_URL": fake.base_url, **extra}


def test_probe_reports_ok_and_reasons_and_sends_one_tiny_request_each(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "nexus.toml").write_text(
        '[models]\nprimary = "anthropic/claude-a"\nfallbacks = ["anthropic/claude-b", "openai/gpt-c"]\n'
    )
    fake_anthropic.script("claude-b", Error(404))
    done = nexus(
        ["models", "probe", "--json"], environment(home, fake_anthropic, ANTHROPIC_API_KEY="sk-ant-api03-t")
    )
    assert done.returncode == 1, done.stderr  # not every candidate is ok
    results = {r["model"]: r for r in json.loads(done.stdout)}
    assert results["anthropic/claude-a"]["ok"] is True and results["anthropic/claude-a"]["outcome"] == "ok"
    assert results["anthropic/claude-b"]["outcome"] == "model_not_found"
    assert (
        results["openai/gpt-c"]["outcome"] == "unusable"
        and "OPENAI_API_KEY" in results["openai/gpt-c"]["detail"]
    )
    assert fake_anthropic.count() == 2 and all(r.body["max_tokens"] == 1 for r in fake_anthropic.requests)
    assert "sk-ant-api03-t" not in done.stdout + done.stderr


def test_models_lists_candidates_and_persisted_cooldowns(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    (home / "run" / "cooldowns.json").write_text(
        json.dumps(
            {
                "version": 1,
                "cooldowns": [
                    {
                        "profile": "anthropic:env",
                        "model": "claude-opus-4-5",
                        "kind": "rate_limit",
                        "until": 4_000_000_000.0,
                        "strikes": 1,
                        "reason": "slow down",
                        "fingerprint": None,
                    }
                ],
                "outcomes": [],
            }
        )
    )
    env = environment(home, fake_anthropic, ANTHROPIC_API_KEY="sk-ant-api03-t")
    done = nexus(["models", "--json"], env)
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    first = view["candidates"][0]
    assert first["model"] == "anthropic/claude-opus-4-5" and first["usable"] is False
    assert first["cooling_until"] == 4_000_000_000.0 and "rate_limit" in first["reason"]
    assert view["candidates"][1]["usable"] is True
    assert fake_anthropic.count() == 0
    text = nexus(["models"], env)
    assert "cooling until" in text.stdout and "chain: anthropic/claude-opus-4-5 ->" in text.stdout


def test_bad_config_exits_78_naming_the_key(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "nexus.toml").write_text('[models]\nprimary = "nope/x"\nfallbacks = []\n')
    done = nexus(["models"], environment(home, fake_anthropic))
    assert done.returncode == 78
    assert "'nope' is not known" in done.stderr


def test_probe_says_which_candidates_the_gateway_skips_and_reset_clears_them(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    (home / "nexus.toml").write_text(
        '[models]\nprimary = "anthropic/claude-a"\nfallbacks = ["anthropic/claude-b"]\n'
    )
    cooldown = {"profile": "anthropic:env", "kind": "connection", "until": 4_000_000_000.0, "reason": "reset"}
    (home / "run" / "cooldowns.json").write_text(
        json.dumps(
            {
                "version": 1,
                "cooldowns": [{**cooldown, "model": "claude-a"}, {**cooldown, "model": "claude-b"}],
                "outcomes": [],
            }
        )
    )
    env = environment(home, fake_anthropic, ANTHROPIC_API_KEY="sk-ant-api03-t")
    done = nexus(["models", "probe", "--json"], env)
    results = {r["model"]: r for r in json.loads(done.stdout)}
    assert done.returncode == 1 and results["anthropic/claude-a"]["ok"] is True  # it answers, but ...
    assert "connection" in results["anthropic/claude-a"]["cooling"]  # ... the gateway still skips it
    text = nexus(["models", "probe"], env).stdout
    assert "the gateway skips it" in text and "nexus models reset anthropic/claude-a" in text

    done = nexus(["models", "reset", "anthropic/claude-a"], env)
    assert done.returncode == 0 and "cleared 1 cooldown of anthropic/claude-a" in done.stdout
    left = json.loads((home / "run" / "cooldowns.json").read_text())["cooldowns"]
    assert [c["model"] for c in left] == ["claude-b"]
    assert "cleared 1 cooldown" in nexus(["models", "reset"], env).stdout
    assert nexus(["models", "probe"], env).returncode == 0
