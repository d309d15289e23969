"""Alerts: the pure policy by table, the detectors, and the runner with a real hook command."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from nexus.alerts import (
    Alert,
    Alerter,
    AlertKind,
    History,
    Verdict,
    channel_failed_alerts,
    crash_loop_alert,
    decide,
    hook_environment,
    models_down_alert,
    profile_alerts,
    recent_alerts,
    record,
)
from nexus.common import NexusPaths
from nexus.common.clock import FakeClock


def alert(subject: str = "anthropic:a", severity: str = "critical", at: float = 0.0) -> Alert:
    return Alert(AlertKind.NEEDS_REAUTH, subject, severity, "m", "r", at)


@pytest.mark.parametrize(
    ("history", "now", "verdict"),
    [
        (History(), 1000.0, Verdict.SEND),
        (History({"needs_reauth:anthropic:a:critical": 900.0}, [900.0]), 1000.0, Verdict.DUPLICATE),
        (History({"needs_reauth:anthropic:a:critical": 300.0}, [300.0]), 1000.0, Verdict.SEND),
        (History({"needs_reauth:anthropic:a:warning": 900.0}, [900.0]), 1000.0, Verdict.SEND),
        (History({}, [999.0] * 3), 1000.0, Verdict.RATE_LIMITED),
        (History({}, [-3000.0] * 3), 1000.0, Verdict.SEND),
    ],
)
def test_decide(history: History, now: float, verdict: Verdict) -> None:
    assert decide(alert(), history, now=now, min_interval_s=600.0, max_per_hour=3) is verdict


def test_a_storm_of_388_crash_loop_alerts_sends_one() -> None:
    history = History()
    sent = 0
    for i in range(388):
        now = i * 9.3  # one hour of restarts
        a = Alert(AlertKind.CRASH_LOOP, "gateway", "critical", "loop", "doctor", now)
        verdict = decide(a, history, now=now, min_interval_s=3600.0)
        history = record(history, a, verdict, now=now)
        sent += verdict is Verdict.SEND
    assert sent == 1 and len(history.recent) == 50


@dataclass
class Report:
    name: str
    provider: str
    status: str
    days_left: float | None
    reason: str | None = None


def test_profile_alerts() -> None:
    alerts = profile_alerts(
        [
            Report("a", "anthropic", "needs_reauth", None, "log in again"),
            Report("b", "anthropic", "expiring", 5.0),
            Report("c", "anthropic", "expiring", 0.5),
            Report("d", "anthropic", "expired", -1.0),
            Report("e", "anthropic", "ok", 300.0),
        ],
        now=1.0,
    )
    got = [(a.kind, a.subject, a.severity) for a in alerts]
    assert got == [
        (AlertKind.NEEDS_REAUTH, "a", "critical"),
        (AlertKind.TOKEN_EXPIRING, "b", "warning"),
        (AlertKind.TOKEN_EXPIRING, "c", "critical"),
        (AlertKind.TOKEN_EXPIRING, "d", "critical"),
    ]
    assert alerts[0].remedy == "log in again"


def test_crash_loop_and_models_down_detectors() -> None:
    doc = {
        "supervisor": {"state": "crash-loop"},
        "gateway": {"restarts_last_hour": 60, "last_exit": {"cause": "port", "message": "held"}},
    }
    found = crash_loop_alert(doc, now=5.0)
    assert found is not None and "60 restarts" in found.message and "port" in found.message
    assert crash_loop_alert({"supervisor": {"state": "running"}}, now=5.0) is None
    assert models_down_alert(failing_since=0.0, last_success=None, now=599.0) is None
    assert models_down_alert(failing_since=0.0, last_success=None, now=601.0) is not None
    assert models_down_alert(failing_since=0.0, last_success=10.0, now=6000.0) is None


def test_a_channel_failed_for_good_is_one_critical_alert_per_channel_with_its_error() -> None:
    found = channel_failed_alerts(
        {"slack": "token revoked: reinstall the app", "discord": "4014: enable MESSAGE CONTENT INTENT"},
        now=1.0,
    )
    assert [(a.kind, a.subject, a.severity) for a in found] == [
        (AlertKind.CHANNEL_FAILED, "discord", "critical"),
        (AlertKind.CHANNEL_FAILED, "slack", "critical"),
    ]
    assert "enable MESSAGE CONTENT INTENT" in found[0].message and "not received" in found[0].message
    assert "nexus channels status" in found[0].remedy
    assert found[0].key != found[1].key  # each channel is alerted on its own
    assert channel_failed_alerts({}, now=1.0) == []


@pytest.fixture
def paths(tmp_path: Path) -> NexusPaths:
    p = NexusPaths(home=tmp_path / "nexus")
    p.ensure()
    return p


def test_hook_receives_json_once_and_history_is_shared(paths: NexusPaths, tmp_path: Path) -> None:
    out = tmp_path / "hook.out"
    command = f"{sys.executable} -c \"import sys,json; open('{out}','a').write(json.dumps(json.load(sys.stdin))+'\\n')\""
    clock = FakeClock()
    env = {"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": "sk-SECRET"}
    first = Alerter(paths, command=command, min_interval_s=600.0, clock=clock, environ=env)
    a = alert(at=clock.time())
    assert first.notify(a) is Verdict.SEND
    second = Alerter(
        paths, command=command, min_interval_s=600.0, clock=clock, environ=env
    )  # another process
    assert second.notify(a) is Verdict.DUPLICATE
    clock.advance(601.0)
    assert second.notify(a) is Verdict.SEND
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["kind"] == "needs_reauth" and lines[0]["subject"] == "anthropic:a"
    assert lines[0]["nexus_home"] == str(paths.home)
    assert [r["verdict"] for r in recent_alerts(paths)] == ["send", "duplicate", "send"]


def test_hook_environment_drops_credentials() -> None:
    env = hook_environment(
        {"PATH": "/bin", "ANTHROPIC_API_KEY": "x", "NEXUS_GATEWAY_TOKEN": "y", "HOME": "/h"}
    )
    assert env == {"PATH": "/bin", "HOME": "/h"}


def test_a_hanging_or_failing_hook_never_raises_and_is_bounded(
    paths: NexusPaths, caplog: pytest.LogCaptureFixture
) -> None:
    hanging = Alerter(paths, command="sleep 30", min_interval_s=0.0, timeout_s=0.5)
    started = time.monotonic()
    assert hanging.notify(alert("x")) is Verdict.SEND
    assert time.monotonic() - started < 5.0
    failing = Alerter(paths, command="echo nope >&2; exit 3", min_interval_s=0.0)
    assert failing.notify(alert("y")) is Verdict.SEND
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "was killed" in messages and "exited 3: nope" in messages


def test_no_command_still_logs_and_records(paths: NexusPaths, caplog: pytest.LogCaptureFixture) -> None:
    Alerter(paths, command=None).notify(alert("z"))
    assert "needs_reauth" in caplog.text
    assert recent_alerts(paths)[-1]["subject"] == "z"
