"""Installer output for each platform, into temporary directories, with a recording runner; generated
systemd units are checked by the real ``systemd-analyze verify`` where it exists."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from nexus.common import NexusPaths
from nexus.ops.programs import RunResult, run, systemd_version
from nexus.ops.render import HEADER, PROFILE_BEGIN, ServiceSpec, render_systemd
from nexus.ops.service import (
    Method,
    ServiceError,
    ServiceHost,
    install,
    plan_install,
    service_status,
    uninstall,
    verify_unit,
)
from nexus.ops.units import UnitFile, check_unit, parse_plist, parse_unit
from tests.ops.conftest import wait_until

ANALYZER = shutil.which("systemd-analyze")


class Recorder:
    """A runner that records every command and answers like a systemd host of a given version."""

    def __init__(self, version: int | None = 256, linger: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.version = version
        self.linger = linger

    def __call__(self, argv: Sequence[str]) -> RunResult:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:2] == ["systemctl", "--version"]:
            if self.version is None:
                return RunResult(127, "", "not found")
            return RunResult(0, f"systemd {self.version} ({self.version}.1)\n+PAM\n", "")
        if argv[0] == "loginctl":
            return RunResult(0, f"Linger={'yes' if self.linger else 'no'}\n", "")
        if argv[0] == ANALYZER:
            return run(argv)  # the real verifier
        return RunResult(0, "", "")


@pytest.fixture
def paths(tmp_path: Path) -> NexusPaths:
    return NexusPaths(home=tmp_path / "state dir")  # a space: quoting must hold


def linux_host(
    tmp_path: Path, runner: Recorder, *, wsl: bool = False, systemd: bool = True, analyzer: str | None = None
) -> ServiceHost:
    version = tmp_path / "version"
    version.write_text(
        "Linux version 5.15.153.1-microsoft-standard-WSL2\n" if wsl else "Linux version 6.1.0\n"
    )
    comm = tmp_path / "comm"
    comm.write_text("systemd\n" if systemd else "init\n")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return ServiceHost(
        home=home,
        environ={"HOME": str(home), "USER": "alice", "SHELL": "/bin/bash", "WSL_DISTRO_NAME": "Ubuntu"},
        platform="linux",
        proc_version=version,
        proc_1_comm=comm,
        systemd_user_dir=tmp_path / "user-units",
        systemd_system_dir=tmp_path / "system-units",
        launchd_dir=tmp_path / "agents",
        runner=runner,
        analyzer=analyzer,
    )


def test_user_unit_has_every_safety_setting_and_is_installed(tmp_path: Path, paths: NexusPaths) -> None:
    runner = Recorder(version=256)
    host = linux_host(tmp_path, runner)
    plan, done = install(paths, host)
    unit = tmp_path / "user-units" / "nexus.service"
    assert plan.method is Method.SYSTEMD and f"wrote {unit}" in done
    settings = parse_unit(unit.read_text())
    expected = {
        "Service.Type": "notify",
        "Service.KillMode": "mixed",
        "Service.Restart": "on-failure",
        "Service.RestartPreventExitStatus": "78",
        "Service.RestartSteps": "10",
        "Service.RestartMaxDelaySec": "60",
        "Service.WatchdogSec": "30",
        "Install.WantedBy": "default.target",
    }
    assert {k: settings[k][-1] for k in expected} == expected
    assert settings["Service.ExecStartPre"][-1].endswith("-m nexus cleanup")
    assert f'"NEXUS_HOME={paths.home}"' in settings["Service.Environment"]
    assert ["systemctl", "--user", "enable", "--now", "nexus.service"] in runner.calls
    assert any("loginctl enable-linger alice" in line for line in plan.advice)
    assert check_unit(UnitFile(str(unit), "systemd", True, settings))[0].counts is False


def test_old_systemd_gets_no_restart_steps(tmp_path: Path, paths: NexusPaths) -> None:
    plan = plan_install(paths, linux_host(tmp_path, Recorder(version=249, linger=True)))
    text = plan.files[0][1].decode()
    assert "RestartSteps" not in text and "RestartSec=2" in text
    assert not any("enable-linger" in line for line in plan.advice)


@pytest.mark.skipif(ANALYZER is None, reason="no systemd-analyze on this host")
def test_generated_units_pass_systemd_analyze(tmp_path: Path, paths: NexusPaths) -> None:
    local = systemd_version(run)
    host = linux_host(tmp_path, Recorder(version=local), analyzer=ANALYZER)
    for system in (False, True):
        text = plan_install(paths, host, system=system).files[0][1].decode()
        assert verify_unit(text, host) == []
    _, done = install(paths, host)  # install verifies before it writes
    assert f"wrote {tmp_path / 'user-units' / 'nexus.service'}" in done
    newer = linux_host(tmp_path, Recorder(version=(local or 252) + 10), analyzer=ANALYZER)
    if (local or 0) < 254:  # a unit for a newer systemd is refused here, and nothing is written
        (tmp_path / "user-units" / "nexus.service").unlink()
        with pytest.raises(ServiceError, match="RestartSteps"):
            install(paths, newer)
        assert not (tmp_path / "user-units" / "nexus.service").exists()
    broken = render_systemd(ServiceSpec(("/bin/true",), paths.home, "m")).replace(
        "KillMode=mixed", "KillMode=sometimes"
    )
    assert verify_unit(broken, host), "the verifier must catch a bad unit, or it proves nothing"


def test_system_unit_runs_as_the_user(tmp_path: Path, paths: NexusPaths) -> None:
    runner = Recorder()
    plan, _ = install(paths, linux_host(tmp_path, runner), system=True)
    path, content = plan.files[0]
    assert path == tmp_path / "system-units" / "nexus.service" and path.exists()
    settings = parse_unit(content.decode())
    assert settings["Service.User"] == ["alice"] and settings["Install.WantedBy"] == ["multi-user.target"]
    assert ["systemctl", "enable", "--now", "nexus.service"] in runner.calls


def test_dry_run_writes_nothing(tmp_path: Path, paths: NexusPaths) -> None:
    runner = Recorder()
    plan = plan_install(paths, linux_host(tmp_path, runner))
    assert "ExecStart=" in plan.describe() and "run: systemctl --user daemon-reload" in plan.describe()
    assert not (tmp_path / "user-units").exists()
    assert not any(c[:2] == ["systemctl", "--user"] for c in runner.calls)


def test_uninstall_removes_ours_and_leaves_others(tmp_path: Path, paths: NexusPaths) -> None:
    runner = Recorder()
    host = linux_host(tmp_path, runner)
    install(paths, host)
    unit = tmp_path / "user-units" / "nexus.service"
    assert service_status(paths, host).ours
    assert uninstall(paths, host, dry_run=True)[-1] == f"would remove {unit}" and unit.exists()
    lines = uninstall(paths, host)
    assert not unit.exists() and lines[-1] == f"removed {unit}"
    assert ["systemctl", "--user", "disable", "--now", "nexus.service"] in runner.calls
    unit.write_text("[Service]\nExecStart=/usr/bin/nexus gateway run\n")
    assert "not written by Nexus" in uninstall(paths, host)[0] and unit.exists()


def test_launchd_agent(tmp_path: Path, paths: NexusPaths) -> None:
    runner = Recorder(version=None)
    host = linux_host(tmp_path, runner)
    host = ServiceHost(**{**host.__dict__, "platform": "darwin"})
    plan, _ = install(paths, host)
    assert plan.method is Method.LAUNCHD
    path = tmp_path / "agents" / "ai.nexus.gateway.plist"
    doc = plistlib.loads(path.read_bytes())
    assert doc["KeepAlive"] == {"SuccessfulExit": False}
    assert doc["ThrottleInterval"] >= 5
    assert doc["ProgramArguments"][-2:] == ["nexus", "up"]
    assert doc["EnvironmentVariables"]["NEXUS_HOME"] == str(paths.home)
    assert [
        f.counts for f in check_unit(UnitFile(str(path), "launchd", True, parse_plist(path.read_bytes())))
    ] == [False]
    assert any(c[:2] == ["launchctl", "bootstrap"] for c in runner.calls)
    uninstall(paths, host)
    assert not path.exists()


def test_wsl_without_systemd_profile_block_and_task_command(tmp_path: Path, paths: NexusPaths) -> None:
    host = linux_host(tmp_path, Recorder(version=None), wsl=True, systemd=False)
    recorder = tmp_path / "fake-nexus"
    calls = tmp_path / "calls"
    recorder.write_text(f'#!/bin/sh\necho "$NEXUS_HOME|$*" >> "{calls}"\n')
    recorder.chmod(0o755)
    host = ServiceHost(**{**host.__dict__, "command": (str(recorder),)})
    bashrc = host.home / ".bashrc"
    bashrc.write_text("alias ll='ls -l'\n")

    install(paths, host)
    plan, _ = install(paths, host)  # twice: still one block
    text = bashrc.read_text()
    assert plan.method is Method.WSL_PROFILE
    assert text.startswith("alias ll='ls -l'\n") and text.count(PROFILE_BEGIN) == 1
    task = next(line for line in plan.advice if "schtasks" in line)
    assert (
        '/TN "Nexus gateway (WSL)"' in task and "/SC ONLOGON" in task and "wsl.exe -d Ubuntu -u alice" in task
    )
    assert task.endswith(f'{recorder} up"') and "--background" not in task  # foreground keeps the VM up

    for _ in range(2):  # two shells opening: the block runs `up --background`, made idempotent by the lock
        subprocess.run(
            ["bash", "-c", f"source {bashrc}"], check=True, timeout=10, env={"PATH": "/usr/bin:/bin"}
        )
    lines = wait_until(
        lambda: (
            calls.exists() and len(calls.read_text().splitlines()) == 2 and calls.read_text().splitlines()
        ),
        timeout=10,
    )
    assert lines == [f"{paths.home}|up --background"] * 2

    assert "removed the Nexus block" in uninstall(paths, host)[0]
    assert bashrc.read_text() == "alias ll='ls -l'\n"


def test_doctor_finds_no_problem_in_an_installed_unit(tmp_path: Path, paths: NexusPaths) -> None:
    install(paths, linux_host(tmp_path, Recorder()))
    text = (tmp_path / "user-units" / "nexus.service").read_text()
    assert HEADER in text
    findings = check_unit(UnitFile("u", "systemd", True, parse_unit(text)))
    assert not any(f.counts for f in findings)
