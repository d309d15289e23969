"""Every doctor check is a pure function of facts: tables of cases, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.auth import ProfileReport, ProfileStatus
from nexus.ops.credentials import (
    AuthFacts,
    ForeignCredential,
    OwnedOAuth,
    check_clock,
    check_profiles,
    check_redundancy,
    check_shared_accounts,
)
from nexus.ops.disk import MB, DiskFacts, check_disk
from nexus.ops.filesystems import PlacedPath, check_filesystems
from nexus.ops.findings import Finding, Severity, exit_code, ok
from nexus.ops.history import HistoryFacts, check_history
from nexus.ops.permissions import PathFacts, check_permissions
from nexus.ops.processes import (
    ProcessFacts,
    ProcInfo,
    Role,
    check_port,
    check_survivors,
    redact_argv,
    role_of,
)
from nexus.ops.units import UnitFile, check_unit, parse_unit, seconds
from nexus.ops.wsl import HostFacts, check_host, detect_wsl


def proc(
    pid: int | None = 10,
    *,
    marked: bool = False,
    recorded: bool = False,
    live: bool = False,
    root: bool = False,
) -> ProcInfo:
    return ProcInfo(pid, 1.0, "me", "python -m nexus gateway run", marked, recorded, live, root)


@pytest.mark.parametrize(
    ("info", "role"),
    [
        (proc(marked=True), Role.STALE),
        (proc(recorded=True), Role.STALE),
        (proc(marked=True, live=True), Role.LIVE),
        (proc(root=True, live=True), Role.LIVE),
        (proc(live=True), Role.FOREIGN),  # in the tree but no proof: a name is no proof
        (proc(), Role.FOREIGN),
        (proc(None, marked=True), Role.FOREIGN),
    ],
)
def test_role_needs_proof(info: ProcInfo, role: Role) -> None:
    assert role_of(info) is role


def facts(
    *listeners: ProcInfo,
    others: tuple[ProcInfo, ...] = (),
    sup: int | None = None,
    healthy: bool | None = None,
) -> ProcessFacts:
    return ProcessFacts(18789, tuple(listeners), others, sup, None, healthy)


@pytest.mark.parametrize(
    ("given", "severity", "fixable", "words"),
    [
        (facts(), Severity.INFO, False, "not running"),
        (facts(sup=5), Severity.WARN, False, "nothing listens"),
        (facts(proc(root=True, live=True), healthy=True), Severity.OK, False, "answers"),
        (facts(proc(root=True, live=True), healthy=False), Severity.WARN, False, "does not answer"),
        (facts(proc(marked=True)), Severity.ERROR, True, "stale Nexus process"),
        (facts(proc()), Severity.ERROR, False, "not a Nexus process"),
        (facts(proc(None)), Severity.ERROR, False, "cannot see"),
        (facts(proc(marked=True), proc(11)), Severity.ERROR, False, "not a Nexus process"),
    ],
)
def test_check_port(given: ProcessFacts, severity: Severity, fixable: bool, words: str) -> None:
    finding = check_port(given)
    assert finding.severity is severity
    assert finding.fixable is fixable
    assert words in finding.finding


def test_check_survivors_lists_only_stale_ones() -> None:
    given = facts(others=(proc(20, marked=True), proc(21, marked=True, live=True)))
    finding = check_survivors(given)
    assert (
        finding.severity is Severity.WARN and "pid 20" in finding.finding and "pid 21" not in finding.finding
    )
    assert finding.fix is not None and finding.fix.pids == ((20, 1.0),)
    assert check_survivors(facts()).severity is Severity.OK


@pytest.mark.parametrize(
    ("state", "restarts", "cause", "severity", "words"),
    [
        ("crash-loop", 388, "port", Severity.ERROR, "crash loop: 388 restarts"),
        ("blocked", 1, "config", Severity.ERROR, "blocked"),
        ("stopped", 12, "auth", Severity.WARN, "12 gateway restarts"),
        ("running", 2, "crash", Severity.OK, "2 gateway restart"),
    ],
)
def test_check_history(state: str, restarts: int, cause: str, severity: Severity, words: str) -> None:
    finding = check_history(HistoryFacts(state, restarts, {"cause": cause, "message": "boom"}))
    assert finding.severity is severity and words in finding.finding
    if severity is not Severity.OK:
        assert cause in finding.finding and finding.remedy


def report(
    name: str,
    status: ProfileStatus,
    *,
    kind: str = "token",
    refreshable: bool = False,
    reason: str | None = None,
    days: float | None = 30.0,
) -> ProfileReport:
    return ProfileReport(
        name, "anthropic", kind, None, status, refreshable, 0.0, days, None, None, None, reason
    )


@pytest.mark.parametrize(
    ("status", "severity"),
    [
        (ProfileStatus.OK, Severity.OK),
        (ProfileStatus.EXPIRING, Severity.WARN),
        (ProfileStatus.EXPIRED, Severity.ERROR),
        (ProfileStatus.NEEDS_REAUTH, Severity.ERROR),
        (ProfileStatus.INVALID, Severity.ERROR),
        (ProfileStatus.COOLING, Severity.INFO),
    ],
)
def test_check_profiles(status: ProfileStatus, severity: Severity) -> None:
    [finding] = check_profiles(AuthFacts("s", reports=(report("anthropic:a", status, reason="do X"),)))
    assert finding.severity is severity
    if severity is not Severity.OK:
        assert finding.remedy == "do X"


def test_store_error_is_one_error() -> None:
    [finding] = check_profiles(AuthFacts("/x/auth-profiles.json", store_error="not valid JSON"))
    assert finding.severity is Severity.ERROR and "not valid JSON" in finding.finding


@pytest.mark.parametrize(("count", "severity"), [(0, Severity.ERROR), (1, Severity.WARN), (2, Severity.OK)])
def test_check_redundancy(count: int, severity: Severity) -> None:
    [finding] = check_redundancy(AuthFacts("s", usable_by_provider={"anthropic": count}))
    assert finding.severity is severity


MINE = OwnedOAuth("anthropic:me", "anthropic", "Me@Example.com", "rf1", "af1")


@pytest.mark.parametrize(
    ("other", "matched"),
    [
        (ForeignCredential("Claude Code", "p", "anthropic", None, "rf1", "zz"), "the same refresh token"),
        (ForeignCredential("Claude Code", "p", "anthropic", None, "zz", "af1"), "the same access token"),
        (ForeignCredential("OpenClaw", "p", "anthropic", "me@example.com", "zz", "zz"), "the same e-mail"),
        (ForeignCredential("OpenClaw", "p", "openai", "me@example.com", "zz", "zz"), None),
        (ForeignCredential("Claude Code", "p", "anthropic", "other@example.com", "zz", "zz"), None),
    ],
)
def test_check_shared_accounts(other: ForeignCredential, matched: str | None) -> None:
    [finding] = check_shared_accounts(AuthFacts("s", owned_oauth=(MINE,), foreign=(other,)))
    if matched is None:
        assert finding.severity is Severity.OK
    else:
        assert finding.severity is Severity.ERROR and matched in finding.finding
        assert ("borrow" in (finding.remedy or "")) is (other.program == "Claude Code")


@pytest.mark.parametrize(
    ("offset", "severity"), [(-86400.0, Severity.OK), (60.0, Severity.OK), (3600.0, Severity.WARN)]
)
def test_check_clock(offset: float, severity: Severity) -> None:
    finding = check_clock(AuthFacts("s", timestamps=(("issue time", 1000.0 + offset),)), now=1000.0)
    assert finding.severity is severity


@pytest.mark.parametrize(
    ("fstype", "forced", "severity"),
    [
        ("ext4", False, Severity.OK),
        ("nfs4", False, Severity.ERROR),
        ("drvfs", True, Severity.WARN),
        ("9p", False, Severity.ERROR),
    ],
)
def test_check_filesystems(fstype: str, forced: bool, severity: Severity) -> None:
    [finding] = check_filesystems([PlacedPath("auth store", "/s", "/", fstype)], forced=forced)
    assert finding.severity is severity


SAFE = """
[Unit]
StartLimitIntervalSec=600
[Service]
ExecStart=/usr/bin/nexus gateway run
KillMode=mixed
Restart=on-failure
RestartSec=2
RestartPreventExitStatus=78
"""


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({}, None),
        ({"KillMode=mixed": "KillMode=process"}, "KillMode=process"),
        ({"KillMode=mixed": "KillMode=none"}, "KillMode=none"),
        ({"RestartSec=2": "RestartSec=0"}, "no backoff"),
        ({"RestartSec=2\n": ""}, "no backoff"),
        ({"RestartSec=2": "RestartSec=0\nRestartSteps=5"}, None),
        ({"StartLimitIntervalSec=600": "StartLimitIntervalSec=0"}, "StartLimitIntervalSec=0"),
        ({"RestartPreventExitStatus=78": "RestartPreventExitStatus=1 2"}, "RestartPreventExitStatus=78"),
        ({"Restart=on-failure": "Restart=no"}, "Restart=no"),
    ],
)
def test_check_systemd_unit(change: dict[str, str], words: str | None) -> None:
    text = SAFE
    for old, new in change.items():
        text = text.replace(old, new)
    findings = check_unit(UnitFile("/u/nexus.service", "systemd", False, parse_unit(text)))
    if words is None:
        assert [f.severity for f in findings] == [Severity.OK]
    else:
        assert any(words in f.finding and f.counts for f in findings), findings
        assert all(not f.fixable for f in findings)


@pytest.mark.parametrize(("throttle", "bad"), [("1", True), ("4", True), ("5", False), ("10", False)])
def test_check_launchd_throttle(throttle: str, bad: bool) -> None:
    findings = check_unit(UnitFile("/a.plist", "launchd", True, {"ThrottleInterval": [throttle]}))
    assert any(f.counts for f in findings) is bad
    assert all(f.fixable for f in findings if f.counts)


@pytest.mark.parametrize(
    ("text", "value"),
    [("2", 2.0), ("500ms", 0.5), ("1min 30s", 90.0), ("infinity", float("inf")), ("x", None)],
)
def test_seconds(text: str, value: float | None) -> None:
    assert seconds(text) == value


def test_parse_unit_keeps_repeats_and_continuations() -> None:
    parsed = parse_unit("[Service]\n# c\nEnvironment=A=1\nEnvironment=B=2\nExecStart=/bin/x \\\n  --flag\n")
    assert parsed["Service.Environment"] == ["A=1", "B=2"]
    assert parsed["Service.ExecStart"] == ["/bin/x  --flag"]


def host(**kw: Any) -> HostFacts:
    base: dict[str, Any] = dict(
        wsl=True,
        wsl2=True,
        systemd_pid1=False,
        cgroup_v1=False,
        cgroup_v2=True,
        profile_line=None,
        distro="Ubuntu",
    )
    base.update(kw)
    return HostFacts(**base)


@pytest.mark.parametrize(
    ("given", "severities"),
    [
        (host(wsl=False, wsl2=False), [Severity.OK]),
        (host(), [Severity.WARN]),
        (host(profile_line="/h/.bashrc"), [Severity.INFO]),
        (host(systemd_pid1=True), [Severity.INFO]),
        (host(systemd_pid1=True, cgroup_v1=True), [Severity.INFO, Severity.WARN]),
    ],
)
def test_check_host(given: HostFacts, severities: list[Severity]) -> None:
    assert [f.severity for f in check_host(given)] == severities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Linux version 5.15.153.1-microsoft-standard-WSL2", (True, True)),
        ("Linux version 4.4.0-19041-Microsoft", (True, False)),
        ("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)", (False, False)),
    ],
)
def test_detect_wsl(text: str, expected: tuple[bool, bool]) -> None:
    assert detect_wsl(text) == expected


@pytest.mark.parametrize(
    ("free", "severity"), [(50 * MB, Severity.ERROR), (500 * MB, Severity.WARN), (5000 * MB, Severity.OK)]
)
def test_check_disk(free: int, severity: Severity) -> None:
    assert check_disk(DiskFacts("/h", free, 10_000 * MB)).severity is severity


def test_check_permissions() -> None:
    findings = check_permissions(
        [
            PathFacts("/h", True, 0o755, 1000),
            PathFacts("/h/auth-profiles.json", False, 0o600, 1000),
            PathFacts("/h/gateway.token", False, 0o640, 1000),
            PathFacts("/h/state.db", False, 0o600, 0),
        ],
        uid=1000,
    )
    by_path = {f.finding.split()[1]: f for f in findings}
    assert by_path["/h"].fix is not None and by_path["/h"].fix.mode == 0o700
    assert by_path["/h/gateway.token"].fix is not None and by_path["/h/gateway.token"].fix.mode == 0o600
    assert by_path["/h/state.db"].severity is Severity.ERROR and not by_path["/h/state.db"].fixable
    assert "/h/auth-profiles.json" not in by_path


def test_exit_code_counts_warnings_and_errors_only() -> None:
    info = Finding("x", Severity.INFO, "fyi")
    warn = Finding("x", Severity.WARN, "hm")
    assert exit_code([ok("x", "fine"), info]) == 0
    assert exit_code([ok("x", "fine"), warn]) == 1


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["srv", "--api-key", "sk-1", "--port", "8"], ["srv", "--api-key", "***", "--port", "8"]),
        (["srv", "--token=abc"], ["srv", "--token=***"]),
        (["env", "ANTHROPIC_API_KEY=sk-2", "node", "x.js"], ["env", "ANTHROPIC_API_KEY=***", "node", "x.js"]),
        (["python", "-m", "http.server", "8080"], ["python", "-m", "http.server", "8080"]),
    ],
)
def test_redact_argv(argv: list[str], shown: list[str]) -> None:
    assert redact_argv(argv) == shown
