"""``nexus service install|uninstall|status``: put the right service definition in place for this host.

    Linux with systemd     a user unit (``--system``: a system unit), verified by ``systemd-analyze``
                           before it is installed, then ``systemctl daemon-reload`` and ``enable --now``
    macOS                  a LaunchAgent plist, then ``launchctl bootstrap``
    WSL2 without systemd   the guarded shell-profile block, and the Windows Task Scheduler command

Every directory and every program run comes in through :class:`ServiceHost`, whose defaults are the
real machine; tests hand in temporary directories and a recording runner. Install builds a
:class:`Plan` first (what ``--dry-run`` prints), then carries it out. Uninstall removes only files
that carry our header (or our launchd label), and only our block of a shell profile.
"""

from __future__ import annotations

import enum
import getpass
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nexus.common import NexusPaths, atomic_write_bytes
from nexus.ops.findings import Finding
from nexus.ops.programs import Runner, run, systemd_version
from nexus.ops.render import (
    HEADER,
    LAUNCHD_LABEL,
    MARKER_ENV,
    PROFILE_BEGIN,
    UNIT_NAME,
    ServiceSpec,
    render_launchd,
    render_profile_block,
    render_systemd,
    replace_profile_block,
    task_scheduler_command,
)
from nexus.ops.units import UnitFile, check_unit, parse_plist, parse_unit
from nexus.ops.wsl import PROC_1_COMM, PROC_VERSION, detect_wsl
from nexus.supervisor.identity import marker_for


class Method(enum.Enum):
    SYSTEMD = "systemd"
    LAUNCHD = "launchd"
    WSL_PROFILE = "wsl-profile"


class ServiceError(Exception):
    """The service cannot be installed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ServiceHost:
    """The machine as the installer sees it (defaults: the real one)."""

    home: Path = field(default_factory=Path.home)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    platform: str = sys.platform
    proc_version: Path = PROC_VERSION
    proc_1_comm: Path = PROC_1_COMM
    systemd_user_dir: Path | None = None
    """Default ``$XDG_CONFIG_HOME/systemd/user``."""
    systemd_system_dir: Path = Path("/etc/systemd/system")
    launchd_dir: Path | None = None
    """Default ``~/Library/LaunchAgents``."""
    runner: Runner = run
    analyzer: str | None = field(default_factory=lambda: shutil.which("systemd-analyze"))
    command: tuple[str, ...] = (sys.executable, "-m", "nexus")

    def user_unit_dir(self) -> Path:
        if self.systemd_user_dir is not None:
            return self.systemd_user_dir
        config = self.environ.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return Path(config) / "systemd" / "user"

    def agents_dir(self) -> Path:
        return self.launchd_dir or self.home / "Library" / "LaunchAgents"

    def wsl(self) -> bool:
        try:
            return detect_wsl(self.proc_version.read_text())[0]
        except OSError:
            return False

    def systemd_pid1(self) -> bool:
        try:
            return self.proc_1_comm.read_text().strip() == "systemd"
        except OSError:
            return False


def choose_method(*, platform: str, wsl: bool, systemd_pid1: bool) -> Method:
    """Pure: launchd on macOS; systemd wherever it runs as PID 1; the shell profile on WSL without it."""
    if platform == "darwin":
        return Method.LAUNCHD
    if wsl and not systemd_pid1:
        return Method.WSL_PROFILE
    return Method.SYSTEMD


@dataclass
class Plan:
    method: Method
    files: list[tuple[Path, bytes]] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"method: {self.method.value}"]
        for path, content in self.files:
            lines += [f"--- {path}", content.decode("utf-8", errors="replace").rstrip("\n")]
        for argv in self.commands:
            lines.append(f"run: {shlex.join(argv)}")
        lines += self.advice
        return "\n".join(lines)


def spec_for(paths: NexusPaths, host: ServiceHost, *, system: bool) -> ServiceSpec:
    user = host.environ.get("SUDO_USER") or host.environ.get("USER") or getpass.getuser()
    return ServiceSpec(
        command=host.command,
        home=paths.home,
        marker=marker_for(paths),
        system=system,
        user=user if system else None,
        systemd_version=systemd_version(host.runner),
    )


def _systemctl(system: bool, *args: str) -> list[str]:
    return ["systemctl", *([] if system else ["--user"]), *args]


def unit_path(host: ServiceHost, *, system: bool) -> Path:
    return (host.systemd_system_dir if system else host.user_unit_dir()) / UNIT_NAME


def plan_install(paths: NexusPaths, host: ServiceHost, *, system: bool = False) -> Plan:
    """What ``install`` will write and run on this host (pure apart from reading the host's facts)."""
    method = choose_method(platform=host.platform, wsl=host.wsl(), systemd_pid1=host.systemd_pid1())
    if system and method is not Method.SYSTEMD:
        raise ServiceError(f"--system needs systemd; this host uses {method.value}")
    spec = spec_for(paths, host, system=system)
    plan = Plan(method)
    if method is Method.SYSTEMD:
        plan.files.append((unit_path(host, system=system), render_systemd(spec).encode()))
        plan.commands += [
            _systemctl(system, "daemon-reload"),
            _systemctl(system, "enable", "--now", UNIT_NAME),
        ]
        if spec.systemd_version is not None and spec.systemd_version < 254:
            plan.advice.append(
                f"systemd {spec.systemd_version} has no RestartSteps=; the unit backs off with RestartSec= "
                "and the start rate limit instead"
            )
        if not system:
            user = host.environ.get("USER") or getpass.getuser()
            linger = host.runner(["loginctl", "show-user", user, "--property=Linger"])
            if "Linger=yes" not in linger.out:
                plan.advice.append(
                    f"run `loginctl enable-linger {user}` so the user unit starts at boot and survives logout"
                )
    elif method is Method.LAUNCHD:
        path = host.agents_dir() / f"{LAUNCHD_LABEL}.plist"
        plan.files.append((path, render_launchd(spec)))
        uid = os.getuid()
        plan.commands += [
            ["launchctl", "bootout", f"gui/{uid}/{LAUNCHD_LABEL}"],
            ["launchctl", "bootstrap", f"gui/{uid}", str(path)],
        ]
    else:
        profile = _profile_file(host)
        try:
            current = profile.read_text()
        except FileNotFoundError:
            current = ""
        block = render_profile_block(spec)
        plan.files.append((profile, replace_profile_block(current, block).encode()))
        distro = host.environ.get("WSL_DISTRO_NAME")
        plan.advice += [
            "WSL shuts its VM down when no Windows process uses it. To start Nexus at logon and keep the VM",
            "up, run this once in a Windows terminal (PowerShell or cmd):",
            "  " + task_scheduler_command(spec, distro=distro, linux_user=host.environ.get("USER")),
        ]
    return plan


def _profile_file(host: ServiceHost) -> Path:
    shell = Path(host.environ.get("SHELL", "/bin/bash")).name
    return host.home / (".zshrc" if shell == "zsh" else ".bashrc")


def verify_unit(text: str, host: ServiceHost) -> list[str]:
    """``systemd-analyze verify`` on a copy of the unit: every complaint it prints about our file.
    Empty when it is clean, or when this host has no systemd-analyze."""
    if host.analyzer is None:
        return []
    with tempfile.TemporaryDirectory(prefix="nexus-unit-") as tmp:
        path = Path(tmp) / UNIT_NAME
        path.write_text(text)
        result = host.runner([host.analyzer, "verify", str(path)])
    lines = (result.out + result.err).splitlines()
    return [line for line in lines if UNIT_NAME in line or result.code != 0]


def install(paths: NexusPaths, host: ServiceHost, *, system: bool = False) -> tuple[Plan, list[str]]:
    """Carry out :func:`plan_install`; returns the plan and what happened, line by line."""
    plan = plan_install(paths, host, system=system)
    done: list[str] = []
    for path, content in plan.files:
        if plan.method is Method.SYSTEMD:
            complaints = verify_unit(content.decode(), host)
            if complaints:
                raise ServiceError(
                    "systemd-analyze rejects the generated unit:\n  " + "\n  ".join(complaints)
                )
        mode = 0o644 if plan.method is not Method.WSL_PROFILE else _mode_or(path, 0o644)
        atomic_write_bytes(path, content, mode=mode)
        done.append(f"wrote {path}")
    for argv in plan.commands:
        result = host.runner(argv)
        if result.code != 0 and argv[-1] != f"gui/{os.getuid()}/{LAUNCHD_LABEL}":
            done.append(f"failed: {shlex.join(argv)} (exit {result.code}): {result.err.strip()[:300]}")
        else:
            done.append(f"ran: {shlex.join(argv)}")
    return plan, done


def _mode_or(path: Path, default: int) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return default


def uninstall(
    paths: NexusPaths, host: ServiceHost, *, system: bool = False, dry_run: bool = False
) -> list[str]:
    """Stop and remove what ``install`` put in place; never a file that is not ours."""
    method = choose_method(platform=host.platform, wsl=host.wsl(), systemd_pid1=host.systemd_pid1())
    out: list[str] = []
    if method is Method.SYSTEMD:
        path = unit_path(host, system=system)
        steps = [_systemctl(system, "disable", "--now", UNIT_NAME)]
        out += _remove_ours(path, lambda data: HEADER.encode() in data, steps, host, dry_run)
        if not dry_run and out and out[-1].startswith("removed"):
            host.runner(_systemctl(system, "daemon-reload"))
    elif method is Method.LAUNCHD:
        path = host.agents_dir() / f"{LAUNCHD_LABEL}.plist"
        steps = [["launchctl", "bootout", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"]]
        out += _remove_ours(
            path, lambda data: parse_plist(data).get("Label") == [LAUNCHD_LABEL], steps, host, dry_run
        )
    else:
        profile = _profile_file(host)
        try:
            text = profile.read_text()
        except FileNotFoundError:
            text = ""
        if PROFILE_BEGIN not in text:
            return [f"no Nexus block in {profile}"]
        if not dry_run:
            atomic_write_bytes(
                profile, replace_profile_block(text, None).encode(), mode=_mode_or(profile, 0o644)
            )
        out.append(f"{'would remove' if dry_run else 'removed'} the Nexus block from {profile}")
        out.append('and in Windows: schtasks /Delete /TN "Nexus gateway (WSL)" /F')
    return out


def _remove_ours(
    path: Path, ours: Callable[[bytes], bool], steps: list[list[str]], host: ServiceHost, dry_run: bool
) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [f"nothing installed at {path}"]
    if not ours(data):
        return [f"{path} was not written by Nexus: left alone"]
    if dry_run:
        return [f"would run: {shlex.join(s)}" for s in steps] + [f"would remove {path}"]
    out = []
    for argv in steps:
        result = host.runner(argv)
        out.append(f"ran: {shlex.join(argv)}" + ("" if result.code == 0 else f" (exit {result.code})"))
    path.unlink()
    out.append(f"removed {path}")
    return out


@dataclass(frozen=True)
class ServiceStatus:
    method: Method
    path: Path
    installed: bool
    ours: bool
    active: str | None
    findings: list[Finding]


def service_status(paths: NexusPaths, host: ServiceHost, *, system: bool = False) -> ServiceStatus:
    method = choose_method(platform=host.platform, wsl=host.wsl(), systemd_pid1=host.systemd_pid1())
    if method is Method.SYSTEMD:
        path = unit_path(host, system=system)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return ServiceStatus(method, path, False, False, None, [])
        unit = UnitFile(str(path), "systemd", HEADER in text, parse_unit(text))
        active = host.runner(_systemctl(system, "is-active", UNIT_NAME)).out.strip() or None
        return ServiceStatus(method, path, True, unit.ours, active, check_unit(unit))
    if method is Method.LAUNCHD:
        path = host.agents_dir() / f"{LAUNCHD_LABEL}.plist"
        try:
            settings = parse_plist(path.read_bytes())
        except FileNotFoundError:
            return ServiceStatus(method, path, False, False, None, [])
        unit = UnitFile(str(path), "launchd", True, settings)
        return ServiceStatus(method, path, True, True, None, check_unit(unit))
    profile = _profile_file(host)
    try:
        present = PROFILE_BEGIN in profile.read_text()
    except FileNotFoundError:
        present = False
    return ServiceStatus(method, profile, present, present, None, [])


def spec_from_unit(unit: UnitFile, *, version: int | None) -> ServiceSpec | None:
    """The spec a unit of ours was generated from, read back from the unit itself (for ``--fix``)."""
    exec_start = unit.settings.get("Service.ExecStart")
    if not exec_start:
        return None
    argv = shlex.split(exec_start[-1])
    if argv[-2:] != ["gateway", "run"]:
        return None
    env: dict[str, str] = {}
    for line in unit.settings.get("Service.Environment", ()):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            env[key] = value
    if "NEXUS_HOME" not in env or MARKER_ENV not in env:
        return None
    wanted = " ".join(unit.settings.get("Install.WantedBy", ()))
    user = unit.settings.get("Service.User")
    return ServiceSpec(
        command=tuple(argv[:-2]),
        home=Path(env["NEXUS_HOME"]),
        marker=env[MARKER_ENV],
        system="multi-user.target" in wanted,
        user=user[-1] if user else None,
        systemd_version=version,
    )


def rewrite_unit(path: Path, *, runner: Runner = run) -> str:
    """Regenerate one of our systemd units in place (the ``--fix`` for a dangerous setting)."""
    text = path.read_text()
    if HEADER not in text:
        return f"left {path} alone: not written by Nexus"
    spec = spec_from_unit(
        UnitFile(str(path), "systemd", True, parse_unit(text)), version=systemd_version(runner)
    )
    if spec is None:
        return f"left {path} alone: cannot tell how it was generated; run `nexus service install` again"
    atomic_write_bytes(path, render_systemd(spec).encode(), mode=0o644)
    return (
        f"rewrote {path} with safe settings; run `systemctl{'' if spec.system else ' --user'} daemon-reload`"
    )
