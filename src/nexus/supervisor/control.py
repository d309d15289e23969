"""The commands' logic: run a supervisor, find the running one, stop it, restart it, report on it.

One supervisor per state directory and name (``identity.Instance``: the gateway's is ``gateway``),
decided by ``flock`` on its ``supervisor.lock`` (never ``pgrep``, never a bare pidfile): the kernel
drops the lock when its holder dies, so a stale file cannot lie.
The lock file also names its holder (pid and start time), which is how ``down`` and ``restart`` find
whom to signal; the pid is trusted only while the lock is held and the start time matches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from pydantic import ValidationError

from nexus.alerts import Alerter, crash_loop_alert
from nexus.common import FileLock, NexusPaths
from nexus.config import ConfigError, NexusConfig, SupervisorConfig, load_config
from nexus.config.schema import AlertsConfig
from nexus.errors import LockTimeout
from nexus.supervisor import policy
from nexus.supervisor.cgroup import CgroupTree
from nexus.supervisor.errors import SupervisorError
from nexus.supervisor.health import HealthUrl
from nexus.supervisor.identity import GATEWAY, Instance, named_instances
from nexus.supervisor.kernel import KernelFeatures
from nexus.supervisor.logs import supervisor_logger
from nexus.supervisor.loop import READY_NOTIFY, Options, Supervisor
from nexus.supervisor.records import RunFiles, load_generations, read_status
from nexus.supervisor.sweep import sweep

UP_LOCK_WAIT_S = 15.0
"""How long ``up`` waits while the lock is held by something that is *not* a live supervisor (a
``status`` peeking, ``down`` or ``doctor --fix`` sweeping): it starts once they let go."""
ACTIVE_STATES = ("running", "backoff", "crash-loop", "blocked")


@dataclass(frozen=True)
class Owner:
    pid: int
    create_time: float | None


def load_settings(
    paths: NexusPaths, *, environ: Mapping[str, str] | None = None
) -> tuple[NexusConfig, str | None]:
    """The config, or a fallback plus the error text: the supervisor must run even when the config is
    broken, so that the gateway's exit 78 is shown in ``nexus status`` instead of nothing at all.

    The fallback is the last good copy of ``nexus.toml`` (so the port stays the configured one), else
    the defaults. A bad ``NEXUS_PORT`` is not survivable (which port?): its ConfigError is raised.
    """
    try:
        return load_config(paths, environ=environ), None
    except ConfigError as exc:
        problem = str(exc)
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(paths.last_good_config.read_text(encoding="utf-8"))
        fallback = NexusConfig.model_validate(data)
        problem += "\n(supervising with the last good copy of the config)"
    except (OSError, ValueError, ValidationError):
        fallback = NexusConfig()
        problem += "\n(supervising with the default settings)"
    port = env.get("NEXUS_PORT")
    if port:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(paths.config_file, [f"NEXUS_PORT: {port!r} is not a port number (1-65535)"])
        fallback = fallback.model_copy(
            update={"gateway": fallback.gateway.model_copy(update={"port": int(port)})}
        )
    return fallback, problem


def gateway_argv() -> list[str]:
    """The gateway, started by exec: a broken gateway import can never break the supervisor."""
    return [sys.executable, "-m", "nexus", "gateway", "run"]


def gateway_options(paths: NexusPaths, config: NexusConfig, *, echo_output: bool) -> Options:
    store = Path(config.auth.store).expanduser() if config.auth.store else paths.auth_store
    return Options(
        argv=gateway_argv(),
        host=config.gateway.bind,
        port=config.gateway.port,
        health=HealthUrl(_probe_host(config.gateway.bind), config.gateway.port, "/healthz"),
        ready=READY_NOTIFY,
        watch_files=(paths.config_file, store),
        echo_output=echo_output,
    )


def _probe_host(bind: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bind, bind)


def _crash_loop_alerter(paths: NexusPaths, alerts: AlertsConfig) -> Callable[[Mapping[str, Any]], None]:
    """Crash loops reach the owner through ``[alerts] command``, de-duplicated with the gateway's alerts."""
    alerter = Alerter.from_config(alerts, paths)

    def send(status: Mapping[str, Any]) -> None:
        alert = crash_loop_alert(status, now=time.time())
        if alert is not None:
            alerter.notify(alert)

    return send


def run_supervisor(
    paths: NexusPaths,
    options: Options,
    cfg: SupervisorConfig,
    *,
    echo: bool = True,
    environ: Mapping[str, str] | None = None,
    config_problem: str | None = None,
    alerts: AlertsConfig | None = None,
    name: str = GATEWAY,
) -> int | None:
    """Run supervisor ``name`` in this process until it is stopped. None: another one already holds its
    lock. Crash-loop alerts go to ``[alerts] command`` for the gateway's supervisor only."""
    me_as = Instance(paths, name)
    me_as.ensure()
    files = RunFiles.of(paths, name)
    lock = FileLock(files.lock)
    deadline = time.monotonic() + UP_LOCK_WAIT_S
    while not lock.try_acquire():
        if lock_owner(files) is not None:
            return None  # a live supervisor holds it (its pid and start time are in the lock file)
        if time.monotonic() >= deadline:
            print(
                f"{files.lock} has been held for {UP_LOCK_WAIT_S:.0f}s by a nexus command that is not a "
                "supervisor (down, doctor --fix?); try again when it has finished",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.02)
    logger = supervisor_logger(me_as.supervisor_log, echo=echo)
    try:
        me = psutil.Process()
        lock.write_owner(json.dumps({"pid": me.pid, "create_time": me.create_time()}))
        if config_problem:
            logger.error("%s; the gateway will report the same problem", config_problem)
        env = dict(os.environ if environ is None else environ)
        env["NEXUS_HOME"] = str(paths.home)
        supervisor = Supervisor(
            options,
            cfg,
            files,
            me_as.output_log,
            marker=me_as.marker,
            name=name,
            features=KernelFeatures.detect(env),
            logger=logger,
            environ=env,
            alert=_crash_loop_alerter(paths, alerts) if alerts is not None and me_as.is_gateway else None,
        )
        return asyncio.run(supervisor.run())
    except SupervisorError as exc:
        logger.error("%s", exc)
        return exc.exit_code
    finally:
        lock.release()


def start_background(paths: NexusPaths, argv: Sequence[str], *, timeout: float = 20.0) -> int:
    """Start ``argv`` (a foreground ``up``) detached in its own session, output to ``logs/``, and wait
    until it holds the lock and runs; its exit code if it stopped first (e.g. the port is taken)."""
    paths.ensure()
    out = os.open(paths.logs / "supervisor.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = os.posix_spawn(
            argv[0],
            list(argv),
            dict(os.environ, NEXUS_HOME=str(paths.home)),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, out, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(out)
        os.close(devnull)
    deadline = time.monotonic() + timeout
    files = RunFiles.of(paths)
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        owner = lock_owner(files)
        snap = read_status(files)
        sup = (snap or {}).get("supervisor", {})
        if owner is not None and sup.get("pid") == owner.pid and sup.get("state") in ACTIVE_STATES:
            return 0
        time.sleep(0.02)
    return 1


def lock_owner(files: RunFiles) -> Owner | None:
    """The live supervisor of this state directory, or None when nobody holds the lock."""
    lock = FileLock(files.lock)
    if lock.try_acquire():
        lock.release()
        return None
    try:
        raw = json.loads(lock.read_owner() or "{}")
        pid = int(raw["pid"])
    except (ValueError, KeyError, TypeError):
        return None
    create_time = raw.get("create_time")
    try:
        if create_time is not None and abs(psutil.Process(pid).create_time() - float(create_time)) > 0.01:
            return None  # the lock holder rewrote nothing yet, or the pid is someone else's now
    except psutil.Error:
        return None
    return Owner(pid, create_time)


def lock_owner_of(paths: NexusPaths, name: str = GATEWAY) -> Owner | None:
    return lock_owner(RunFiles.of(paths, name))


def status(paths: NexusPaths, *, name: str = GATEWAY, now: Callable[[], float] = time.time) -> dict[str, Any]:
    """The status document: ``{"supervisor": {pid, state, ...}, "gateway": {pid, state, uptime_s,
    restarts_last_hour, last_exit: {code, signal, cause, ...}}}``; "stopped" when no lock holder.
    For a named supervisor the supervised process is under ``"child"`` instead of ``"gateway"``."""
    inst = Instance(paths, name)
    files = RunFiles.of(paths, name)
    owner = lock_owner(files) if files.lock.exists() else None  # looking never creates run/
    snap = read_status(files) or {}
    sup = dict(snap.get("supervisor") or {})
    sup.setdefault("name", name)
    gw = dict(snap.get(inst.child_key) or {})
    t = now()
    if owner is None or sup.get("pid") != owner.pid:
        sup.update(pid=owner.pid if owner else None, state="starting" if owner else "stopped")
        if owner is None:
            gw.update(pid=None, state="stopped", started_at=None, ready_at=None)
    since = gw.get("ready_at") or gw.get("started_at")
    gw["uptime_s"] = round(t - since, 3) if gw.get("pid") and since else None
    gw.update(policy.restart_counts(gw.get("restart_times") or [], gw.get("restart_kinds") or [], t))
    gw.setdefault("last_exit", None)
    gw.setdefault("state", "none")  # locked, no status written yet: the supervisor is starting
    return {"supervisor": sup, inst.child_key: gw}


def status_all(paths: NexusPaths, *, now: Callable[[], float] = time.time) -> dict[str, Any]:
    """The gateway's status document, plus ``"supervise"``: every running named supervisor's, by name."""
    doc = status(paths, now=now)
    others = {i.name: status(paths, name=i.name, now=now) for i in named_instances(paths)}
    doc["supervise"] = {n: d for n, d in others.items() if d["supervisor"].get("state") != "stopped"}
    return doc


EXIT_READY = 0
EXIT_NOT_READY = 1
EXIT_STUCK = 2
EXIT_NOT_RUNNING = 3
EXIT_UNKNOWN = 4


def status_exit_code(doc: Mapping[str, Any]) -> int:
    """``nexus status``'s exit code, after LSB ``status`` (and ``systemctl status``): 0 running and
    ready; 1 running, not ready (starting, restarting, stopping); 2 running but stuck (crash loop, or
    blocked on the config); 3 not running. 4 (status unknown) is the caller's, when nothing was readable."""
    sup = doc.get("supervisor") or {}
    child = doc.get("gateway") or doc.get("child") or {}
    state = sup.get("state")
    if state in (None, "stopped"):
        return EXIT_NOT_RUNNING
    if state in ("crash-loop", "blocked"):
        return EXIT_STUCK
    if state == "running" and child.get("state") == "ready":
        return EXIT_READY
    return EXIT_NOT_READY


def render_status(doc: Mapping[str, Any]) -> str:
    """The human form of :func:`status` (and of :func:`status_all`'s named supervisors)."""
    sup = doc["supervisor"]
    named = "gateway" not in doc
    gw = doc["child"] if named else doc["gateway"]
    what = str(sup.get("name"))
    head = f"supervisor {what!r}" if named else "supervisor"
    lines = [f"{head}: {sup.get('state')}" + (f" (pid {sup['pid']})" if sup.get("pid") else "")]
    if sup.get("features"):
        lines[0] += f", containment: {sup['features']}"
    if named and sup.get("command"):
        lines.append(f"command:    {' '.join(sup['command'])}")
    uptime = gw.get("uptime_s")
    gw_line = f"{'child:' if named else 'gateway:':<12}{gw.get('state')}"
    if gw.get("pid"):
        gw_line += f" (pid {gw['pid']}, generation {gw.get('generation')}"
        gw_line += f", up {uptime:.1f}s)" if uptime is not None else ")"
    lines.append(gw_line)
    restarts = f"restarts in the last hour: {gw.get('restarts_last_hour', 0)}"
    if gw.get("restarts_last_hour"):
        restarts += (
            f" ({gw.get('restarts_at_once_last_hour', 0)} at once after a ready generation died, "
            f"{gw.get('restarts_escalated_last_hour', 0)} escalated)"
        )
    lines.append(restarts)
    last = gw.get("last_exit")
    if last:
        how = (
            f"signal {last.get('signal_name') or last.get('signal')}"
            if last.get("signal")
            else f"code {last.get('code')}"
        )
        line = f"last exit:  {how}, cause {last.get('cause')}: {last.get('message')}"
        if last.get("ending"):
            line += f"; {last['ending']}, {last.get('next')}"
        lines.append(line)
    rules = sup.get("restart_policy") or {}
    if rules:
        lines.append(f"policy:     at once: {rules.get('at_once')}")
        lines.append(f"            escalating: {rules.get('escalating')}")
    flag = "" if not named else f" --name {what}"
    if sup.get("state") == "crash-loop":
        lines.append(
            f"CRASH LOOP: {'it' if named else 'the gateway'} keeps dying before it is ready or soon after "
            f"({last.get('cause') if last else '?'}); retried at the backoff cap. See `nexus logs{flag}`."
        )
    if sup.get("state") == "blocked":
        lines.append(
            f"BLOCKED: {'it' if named else 'the gateway'} cannot run as configured (exit 78); fix the config "
            f"or credentials (picked up by itself) or run `nexus restart{flag}`."
        )
    for other in (doc.get("supervise") or {}).values():
        lines.append("")
        lines.append(render_status(other))
    return "\n".join(lines)


def signal_supervisor(paths: NexusPaths, sig: int, *, name: str = GATEWAY) -> Owner | None:
    """Send ``sig`` to the live supervisor ``name`` of ``paths``; None (nothing sent) when there is none."""
    owner = lock_owner(RunFiles.of(paths, name))
    if owner is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(owner.pid, sig)
    return owner


def down(paths: NexusPaths, *, timeout: float = 30.0, name: str = GATEWAY) -> list[int]:
    """Stop supervisor ``name`` (it stops its child), then kill any survivor of any of its generations,
    a supervisor killed by SIGKILL included. Returns the pids that would not die (empty: clean)."""
    inst = Instance(paths, name)
    if not inst.is_gateway and not inst.run_dir.exists():
        return []  # that name never ran here: nothing to stop, and no directory made for it
    inst.ensure()
    files = RunFiles.of(paths, name)
    lock = FileLock(files.lock)
    deadline = time.monotonic() + timeout
    signalled: Owner | None = None
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            raise LockTimeout(f"the supervisor did not stop within {timeout:.0f}s; see {inst.supervisor_log}")
        owner = lock_owner(files)
        if owner is not None and owner != signalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner.pid, signal.SIGTERM)
            signalled = owner
        time.sleep(0.02)
    try:
        if signalled is not None:
            _wait_gone(signalled, limit_s=max(1.0, deadline - time.monotonic()))
        return asyncio.run(sweep_home(paths, files, name=name))
    finally:
        lock.release()


def _wait_gone(owner: Owner, *, limit_s: float) -> None:
    """The lock is dropped just before the supervisor's interpreter exits: wait for the exit itself."""
    try:
        proc = psutil.Process(owner.pid)
        if owner.create_time is not None and abs(proc.create_time() - owner.create_time) > 0.01:
            return
    except psutil.Error:
        return
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.Error:
            return
        time.sleep(0.01)


async def sweep_home(paths: NexusPaths, files: RunFiles, *, name: str = GATEWAY) -> list[int]:
    marker = Instance(paths, name).marker
    pgids = []
    for record in load_generations(files):
        with contextlib.suppress(psutil.Error):
            if psutil.Process(record.pid).create_time() == record.create_time:
                pgids.append(record.pid)
    tree = CgroupTree.detect(marker) if KernelFeatures.detect().cgroup else None
    left = await sweep(marker=marker, pgids=pgids, cgroups=tree.existing() if tree else [])
    if tree is not None:
        with contextlib.suppress(OSError):
            tree.base.rmdir()
    return [p.pid for p in left]


def wait_for(predicate: Callable[[], bool], *, timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()


def supervisor_log(paths: NexusPaths, name: str = GATEWAY) -> Path:
    return Instance(paths, name).supervisor_log
