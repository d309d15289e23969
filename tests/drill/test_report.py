"""The drill's pure parts, by tables: judging a result against its budget, the exit code, the
sandbox's config (nothing of the owner's secrets, alert hook or channels survives)."""

from __future__ import annotations

from pathlib import Path

from nexus.drill.report import Budget, Result, exit_code, judge, table, to_json
from nexus.drill.sandbox import sandbox_config, to_toml
from nexus.drill.scenarios import worst_wait
from nexus.drill.traffic import Tally, first_answer_after

B = Budget(restored_s=5.0, truth_s=3.0)


def test_judge_table() -> None:
    cases = [
        (Result("a", restored_s=1.0, truth_s=1.0, budget=B), ()),
        (Result("a", restored_s=6.0, truth_s=1.0, budget=B), ("restored in 6.00s > budget 5s",)),
        (Result("a", restored_s=1.0, truth_s=4.0, budget=B), ("truth after 4.00s > budget 3s",)),
        (Result("a", restored_s=None, truth_s=1.0, budget=B), ("service was not restored",)),
        (
            Result("a", restored_s=1.0, truth_s=None, budget=B, alert="crash_loop"),
            ("the cause was never shown (or no crash_loop alert)",),
        ),
        (
            Result("a", restored_s=1.0, truth_s=1.0, budget=B, lost=1, duplicated=2, refused=3),
            ("1 message(s) lost", "2 message(s) answered twice", "3 connection(s) refused"),
        ),
    ]
    for result, misses in cases:
        assert judge(result).misses == misses, result
    na = judge(Result("t", available=False, note="not available yet"))
    assert na.ok is None and exit_code([na]) == 0
    assert exit_code([judge(cases[1][0])]) == 1 and exit_code([judge(cases[0][0])]) == 0
    rows = to_json([judge(cases[0][0]), na])["scenarios"]
    assert [r["ok"] for r in rows] == [True, None]
    assert "n/a" in table([na]) and "not available yet" in table([na])


def test_waits() -> None:
    tally = Tally(5, 0, 0, 0, 0, answered_at=[(10.0, 10.1), (11.0, 14.0), (12.0, 12.5)])
    assert worst_wait(tally, 10.5) == 3.0
    assert first_answer_after(tally, 11.5) == 1.0
    assert worst_wait(tally, 20.0) is None and first_answer_after(tally, 20.0) is None


def test_sandbox_config_keeps_recovery_settings_and_drops_everything_that_reaches_out(tmp_path: Path) -> None:
    owner = {
        "gateway": {"port": 18789, "bind": "0.0.0.0", "max_run_attempts": 5},
        "models": {"primary": "openrouter/x/y", "fallbacks": ["anthropic/claude-z"]},
        "providers": {"openrouter": {"api_key_env": "MY_SECRET_ENV", "first_token_timeout_s": 9}},
        "auth": {"store": "/home/me/shared/auth-profiles.json", "refresh_margin_s": 120},
        "supervisor": {"watchdog_timeout_s": 7},
        "alerts": {"command": "page-me", "models_down_after_s": 900},
        "backup": {"git_remote": "git@example.com:me/x.git"},
        "channels": {"telegram": {"allow": [1]}, "slack": {"x": 1}},
    }
    cfg = sandbox_config(owner, port=4321, alert_sink=tmp_path / "a", telegram_api="http://127.0.0.1:9")
    assert cfg["gateway"] == {"port": 4321, "bind": "127.0.0.1", "max_run_attempts": 5}
    assert cfg["supervisor"] == {"watchdog_timeout_s": 7} and cfg["models"] == owner["models"]
    assert cfg["auth"] == {"refresh_margin_s": 120}
    assert "page-me" not in str(cfg) and str(tmp_path / "a") in cfg["alerts"]["command"]
    assert cfg["alerts"]["models_down_after_s"] == 2.0
    assert "backup" not in cfg and list(cfg["channels"]) == ["telegram"]
    assert cfg["channels"]["telegram"]["api_base"] == "http://127.0.0.1:9"
    assert cfg["providers"]["openrouter"]["kind"] == "openai"
    assert cfg["providers"]["openrouter"]["api_key_env"] == "NEXUS_DRILL_OPENAI_KEY"
    assert cfg["providers"]["openrouter"]["first_token_timeout_s"] == 9
    assert cfg["providers"]["anthropic"]["kind"] == "anthropic"
    assert "MY_SECRET_ENV" not in to_toml(cfg)
    assert "[providers.openrouter]\nfirst_token_timeout_s = 9" in to_toml(cfg)
