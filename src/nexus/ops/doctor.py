"""``nexus doctor``: gather facts (all the I/O), run the pure checks, optionally apply the safe fixes.

The three steps are separate on purpose: checks are tested by tables of facts, gatherers against real
conditions, and ``--fix`` re-verifies everything it touches right before touching it. A gatherer that
fails does not hide the others: its failure is reported and the doctor exits 2 ("I could not look").
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus.auth.filesystem import PROC_MOUNTS
from nexus.auth.source import resolve_store_path
from nexus.common import Clock, NexusPaths, SystemClock
from nexus.ops import cleanup
from nexus.ops.configuration import ConfigFacts, check_config, gather_config
from nexus.ops.cooldowns import CooldownFact, check_cooldowns, gather_cooldowns
from nexus.ops.credentials import (
    AuthFacts,
    check_clock,
    check_profiles,
    check_redundancy,
    check_shared_accounts,
    gather_auth,
)
from nexus.ops.disk import DiskFacts, check_disk, gather_disk
from nexus.ops.filesystems import PlacedPath, check_filesystems, gather_placements
from nexus.ops.findings import EXIT_DOCTOR_FAILED, Finding, FixKind, Severity, exit_code
from nexus.ops.history import HistoryFacts, check_history, gather_history
from nexus.ops.memory import MemoryFacts, check_memory, gather_memory
from nexus.ops.permissions import PathFacts, apply_chmod, check_permissions, gather_permissions, secret_paths
from nexus.ops.processes import ProcessFacts, check_port, check_survivors, gather_processes
from nexus.ops.programs import Runner, run
from nexus.ops.render import UNIT_NAME
from nexus.ops.service import rewrite_unit
from nexus.ops.units import UnitFile, check_unit, gather_units
from nexus.ops.wsl import PROC_1_COMM, PROC_VERSION, HostFacts, check_host, gather_host
from nexus.supervisor.health import HealthUrl, probe


def http_probe(host: str) -> Callable[[int], bool]:
    def check(port: int) -> bool:
        return asyncio.run(probe(HealthUrl(host, port, "/healthz"), limit_s=2.0))

    return check


@dataclass(frozen=True)
class DoctorEnv:
    """Where the doctor looks; every default is the real machine."""

    paths: NexusPaths
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    mounts_path: Path = PROC_MOUNTS
    proc_version: Path = PROC_VERSION
    proc_1_comm: Path = PROC_1_COMM
    systemd_dirs: Sequence[Path] | None = None
    """Default: the user unit directory and /etc/systemd/system."""
    launchd_dirs: Sequence[Path] | None = None
    runner: Runner = run
    clock: Clock = field(default_factory=SystemClock)
    probe: Callable[[int], bool] | None = None
    """Liveness probe of the gateway port; default an HTTP GET of /healthz on the bind address."""

    def unit_dirs(self) -> list[Path]:
        if self.systemd_dirs is not None:
            return list(self.systemd_dirs)
        config = self.environ.get("XDG_CONFIG_HOME") or str(self.home / ".config")
        return [Path(config) / "systemd" / "user", Path("/etc/systemd/system")]

    def agent_dirs(self) -> list[Path]:
        if self.launchd_dirs is not None:
            return list(self.launchd_dirs)
        return [self.home / "Library" / "LaunchAgents"]


@dataclass
class Facts:
    now: float
    uid: int
    config: ConfigFacts | None = None
    processes: ProcessFacts | None = None
    history: HistoryFacts | None = None
    auth: AuthFacts | None = None
    placements: list[PlacedPath] | None = None
    permissions: list[PathFacts] | None = None
    units: list[UnitFile] | None = None
    host: HostFacts | None = None
    disk: DiskFacts | None = None
    cooldowns: list[CooldownFact] | None = None
    memory: MemoryFacts | None = None
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(what, why) for each gatherer that raised."""


def unit_main_pid(runner: Runner) -> int | None:
    """The main pid of an active ``nexus.service`` (user unit first), so its gateway counts as live."""
    for scope in (["--user"], []):
        result = runner(["systemctl", *scope, "show", "--property=MainPID", "--value", UNIT_NAME])
        if result.code == 0 and result.out.strip().isdigit() and int(result.out.strip()) > 0:
            return int(result.out.strip())
    return None


def gather(env: DoctorEnv) -> Facts:
    facts = Facts(now=env.clock.time(), uid=os.getuid())

    def step(name: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:  # one broken gatherer must not hide the other checks
            facts.failures.append((name, f"{type(exc).__name__}: {exc}"))
            return None

    facts.config = step("config", lambda: gather_config(env.paths, environ=env.environ))
    config = facts.config.config if facts.config else None
    store = resolve_store_path(config, env.paths, env.environ) if config else env.paths.auth_store
    if config is not None:
        port = config.gateway.port
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(
            config.gateway.bind, config.gateway.bind
        )
        check = env.probe or http_probe(host)
        facts.processes = step(
            "port",
            lambda: gather_processes(env.paths, port, unit_main_pid=unit_main_pid(env.runner), probe=check),
        )
        facts.auth = step(
            "auth", lambda: gather_auth(config, env.paths, environ=env.environ, mounts_path=env.mounts_path)
        )
    facts.history = step("restarts", lambda: gather_history(env.paths))
    facts.placements = step(
        "filesystem",
        lambda: gather_placements(
            [("auth store", store), ("state directory", env.paths.home)], mounts_path=env.mounts_path
        ),
    )
    facts.permissions = step("permissions", lambda: gather_permissions(secret_paths(env.paths, store)))
    facts.units = step("service-file", lambda: gather_units(env.unit_dirs(), env.agent_dirs()))
    facts.host = step(
        "wsl",
        lambda: gather_host(
            home=env.home,
            environ=env.environ,
            proc_version=env.proc_version,
            proc_1_comm=env.proc_1_comm,
            proc_mounts=env.mounts_path,
        ),
    )
    facts.disk = step("disk", lambda: gather_disk(env.paths.home))
    facts.cooldowns = step("model-cooldowns", lambda: gather_cooldowns(env.paths.cooldowns))
    if config is not None:
        agent = config.agent
        facts.memory = step(
            "memory",
            lambda: gather_memory(
                env.paths.workspace, file_chars=agent.memory_file_chars, total_chars=agent.memory_total_chars
            ),
        )
    return facts


def diagnose(facts: Facts) -> list[Finding]:
    """Pure: every check over the gathered facts, in the order a person would read them."""
    out: list[Finding] = []
    if facts.config:
        out.append(check_config(facts.config))
    if facts.permissions is not None:
        out += check_permissions(facts.permissions, uid=facts.uid)
    if facts.processes:
        out += [check_port(facts.processes), check_survivors(facts.processes)]
    if facts.history:
        out.append(check_history(facts.history))
    if facts.auth:
        out += check_profiles(facts.auth)
        out += check_redundancy(facts.auth)
        out += check_shared_accounts(facts.auth)
        out.append(check_clock(facts.auth, now=facts.now))
    if facts.placements is not None:
        forced = bool(facts.config and facts.config.config.auth.force_unreliable_fs)
        out += check_filesystems(facts.placements, forced=forced)
    for unit in facts.units or ():
        out += check_unit(unit)
    if facts.host:
        out += check_host(facts.host)
    if facts.disk:
        out.append(check_disk(facts.disk))
    if facts.cooldowns is not None:
        out.append(check_cooldowns(facts.cooldowns, now=facts.now))
    if facts.memory:
        out.append(check_memory(facts.memory))
    for name, why in facts.failures:
        out.append(Finding(name, Severity.ERROR, f"the doctor could not check this: {why}"))
    return out


def apply_fixes(findings: Sequence[Finding], env: DoctorEnv, *, port: int) -> list[str]:
    """Apply every safe remedy the findings offer; each is re-verified by the code that applies it."""
    done: list[str] = []
    uid = os.getuid()
    kills = [pid for f in findings if f.fix and f.fix.kind is FixKind.KILL_STALE for pid in f.fix.pids]
    if kills:
        result = cleanup.kill_stale(env.paths, port, only=kills, unit_main_pid=unit_main_pid(env.runner))
        for proc in result.killed:
            done.append(f"killed stale Nexus process {proc.describe()}")
        if result.left:
            done.append(f"could not kill {', '.join(map(str, result.left))} (uninterruptible sleep?)")
    for finding in findings:
        fix = finding.fix
        if fix is None or fix.kind is FixKind.KILL_STALE:
            continue
        try:
            if fix.kind is FixKind.CHMOD:
                done.append(apply_chmod(fix, uid=uid))
            elif fix.kind is FixKind.REWRITE_UNIT:
                line = (
                    rewrite_unit(Path(fix.target), runner=env.runner)
                    if fix.target.endswith(".service")
                    else f"left {fix.target} alone: run `nexus service install` to regenerate it"
                )
                if line not in done:
                    done.append(line)
        except OSError as exc:
            done.append(f"could not fix {fix.target}: {exc.strerror}")
    return done


@dataclass
class Outcome:
    findings: list[Finding]
    fixed: list[str]
    failed: bool

    @property
    def exit_code(self) -> int:
        return EXIT_DOCTOR_FAILED if self.failed else exit_code(self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "fixed": self.fixed,
            "findings": [f.to_json() for f in self.findings],
        }


def run_doctor(env: DoctorEnv, *, fix: bool = False) -> Outcome:
    facts = gather(env)
    findings = diagnose(facts)
    fixed: list[str] = []
    if fix and any(f.fixable for f in findings):
        port = facts.config.config.gateway.port if facts.config else 18789
        fixed = apply_fixes(findings, env, port=port)
        facts = gather(env)
        findings = diagnose(facts)
    return Outcome(findings, fixed, failed=bool(facts.failures))
