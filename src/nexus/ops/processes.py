"""Who holds the gateway port and which Nexus processes are left over: facts, then pure verdicts.

A process counts as **ours** only by proof, never by its name (``pgrep -f`` matched an editor in the
incident): its environment carries this state directory's marker (``NEXUS_SUPERVISOR_ID``, set by the
supervisor and by our systemd unit), or its pid *and* start time match a generation record under
``run/``. Ours and **live** means inside the tree of the supervisor that holds ``run/supervisor.lock``
or of the systemd unit's main process; ours and not live is **stale**, and only stale processes are
ever killed. Everything else is **foreign**: named with pid, user and command line, never touched.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import psutil

from nexus.common import NexusPaths
from nexus.common.redact import redact
from nexus.ops.findings import Finding, Fix, FixKind, Severity, ok
from nexus.supervisor.child import MARKER_ENV
from nexus.supervisor.control import lock_owner
from nexus.supervisor.identity import marker_for
from nexus.supervisor.records import RunFiles, load_generations


class Role(enum.Enum):
    LIVE = "live"
    """Ours, inside the running supervisor's (or unit's) tree."""
    STALE = "stale"
    """Ours by proof, but no live supervisor owns it: a survivor of an earlier generation."""
    FOREIGN = "foreign"
    """Not provably ours (or not visible to us): never killed."""


@dataclass(frozen=True)
class ProcInfo:
    """One process as the doctor saw it. ``pid`` None: the kernel would not say who (another user)."""

    pid: int | None
    create_time: float | None
    user: str | None
    cmdline: str | None
    marked: bool
    """Its environment carries our marker."""
    recorded: bool
    """Its pid and start time match one of our generation records."""
    in_live_tree: bool
    root: bool = False
    """It is the lock-holding supervisor or the systemd unit's main process: ours by the lock itself."""

    def describe(self) -> str:
        if self.pid is None:
            return "a process this user cannot see (another user's, or in another namespace)"
        return f"pid {self.pid} (user {self.user or '?'}): {self.cmdline or '?'}"


_SECRETISH = re.compile(r"(?i)(key|token|secret|passw(or)?d|auth|credential)")


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line fit to print: values of secret-looking options become ``***`` (a foreign
    program may carry a credential on its argv; we name the program, never its secrets); a
    secret-shaped positional argument is masked by the shared redactor."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            out.append("***")
            hide_next = False
            continue
        hide_next = False
        name, sep, _ = arg.partition("=")
        if name.startswith("-") and _SECRETISH.search(name):
            if sep:
                out.append(f"{name}=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        if sep and _SECRETISH.search(name) and name.replace("_", "").isalnum():
            out.append(f"{name}=***")  # KEY=value environment-style arguments
            continue
        out.append(redact(arg))
    return out


def role_of(proc: ProcInfo) -> Role:
    """Pure: ours needs proof (marker or record); ours outside the live tree is stale."""
    if proc.pid is None or not (proc.marked or proc.recorded or proc.root):
        return Role.FOREIGN
    return Role.LIVE if proc.in_live_tree else Role.STALE


@dataclass(frozen=True)
class ProcessFacts:
    port: int
    listeners: tuple[ProcInfo, ...]
    others: tuple[ProcInfo, ...]
    """Our processes (by proof) that do not hold the port."""
    supervisor_pid: int | None
    unit_main_pid: int | None
    healthy: bool | None
    """The gateway answered /healthz (None: not probed, nothing of ours listens)."""


def ancestors(pid: int | None = None) -> set[int]:
    """``pid`` (default: this process) and every parent up to init: never candidates for a kill."""
    found: set[int] = set()
    try:
        proc: psutil.Process | None = psutil.Process(pid if pid is not None else os.getpid())
    except psutil.Error:
        return found
    while proc is not None:
        found.add(proc.pid)
        try:
            proc = proc.parent()
        except psutil.Error:
            break
    return found


def live_tree(*roots: int | None) -> set[int]:
    """The roots and all their descendants."""
    pids: set[int] = set()
    for root in roots:
        if not root:
            continue
        try:
            proc = psutil.Process(root)
            pids.add(proc.pid)
            pids.update(child.pid for child in proc.children(recursive=True))
        except psutil.Error:
            continue
    return pids


def _info(
    proc: psutil.Process,
    marker: str,
    records: set[tuple[int, float | None]],
    live: set[int],
    roots: set[int] | frozenset[int] = frozenset(),
) -> ProcInfo:
    try:
        create_time: float | None = proc.create_time()
    except psutil.Error:
        create_time = None
    try:
        user: str | None = proc.username()
    except (psutil.Error, KeyError):
        user = None
    try:
        cmdline: str | None = " ".join(redact_argv(proc.cmdline())) or proc.name()
    except psutil.Error:
        cmdline = None
    try:
        marked = proc.environ().get(MARKER_ENV) == marker
    except psutil.Error:
        marked = False
    return ProcInfo(
        pid=proc.pid,
        create_time=create_time,
        user=user,
        cmdline=cmdline,
        marked=marked,
        recorded=(proc.pid, create_time) in records,
        in_live_tree=proc.pid in live,
        root=proc.pid in roots,
    )


def listening_pids(port: int) -> tuple[set[int], bool]:
    """Pids with a TCP listening socket on ``port``; the flag says a listener exists whose pid we
    cannot see (another user's process)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        conns = []
    pids: set[int] = set()
    hidden = False
    for conn in conns:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.pid:
            pids.add(conn.pid)
        else:
            hidden = True
    return pids, hidden


def gather_processes(
    paths: NexusPaths,
    port: int,
    *,
    unit_main_pid: int | None = None,
    probe: Callable[[int], bool] | None = None,
    exclude: Iterable[int] = (),
) -> ProcessFacts:
    """Look at the port, the supervisor lock, the generation records and every process of ours."""
    marker = marker_for(paths)
    files = RunFiles.of(paths)
    owner = lock_owner(files) if files.lock.exists() else None  # never create run/ by looking
    supervisor_pid = owner.pid if owner else None
    live = live_tree(supervisor_pid, unit_main_pid)
    roots = {pid for pid in (supervisor_pid, unit_main_pid) if pid}
    records = {(r.pid, r.create_time) for r in load_generations(files)}
    skip = set(exclude) | ancestors()
    listener_pids, hidden = listening_pids(port)
    listeners = []
    for pid in sorted(listener_pids):
        try:
            listeners.append(_info(psutil.Process(pid), marker, records, live, roots))
        except psutil.Error:
            continue
    if hidden and not listeners:
        listeners.append(ProcInfo(None, None, None, None, False, False, False))
    others = []
    for proc in psutil.process_iter():
        if proc.pid in listener_pids or proc.pid in skip:
            continue
        info = _info_if_ours(proc, marker, records, live)
        if info is not None:
            others.append(info)
    healthy = None
    if probe is not None and any(role_of(p) is Role.LIVE for p in listeners):
        healthy = probe(port)
    return ProcessFacts(
        port=port,
        listeners=tuple(listeners),
        others=tuple(others),
        supervisor_pid=supervisor_pid,
        unit_main_pid=unit_main_pid,
        healthy=healthy,
    )


def _info_if_ours(
    proc: psutil.Process, marker: str, records: set[tuple[int, float | None]], live: set[int]
) -> ProcInfo | None:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        recorded = (proc.pid, proc.create_time()) in records
        marked = proc.environ().get(MARKER_ENV) == marker
    except psutil.Error:
        return None
    if not (recorded or marked):
        return None
    return _info(proc, marker, records, live)


def stale(facts: ProcessFacts) -> list[ProcInfo]:
    """Every stale process, port holders first."""
    return [p for p in (*facts.listeners, *facts.others) if role_of(p) is Role.STALE]


def _kill_fix(procs: Iterable[ProcInfo], what: str) -> Fix:
    return Fix(FixKind.KILL_STALE, what, pids=tuple((p.pid, p.create_time) for p in procs if p.pid))


def check_port(facts: ProcessFacts) -> Finding:
    """Pure: who holds the gateway port, and what to do about it."""
    port = facts.port
    by_role: dict[Role, list[ProcInfo]] = {role: [] for role in Role}
    for proc in facts.listeners:
        by_role[role_of(proc)].append(proc)
    foreign, stale_ones, live = by_role[Role.FOREIGN], by_role[Role.STALE], by_role[Role.LIVE]
    if foreign:
        holder = foreign[0]
        return Finding(
            "port",
            Severity.ERROR,
            f"port {port} is held by {holder.describe()}, which is not a Nexus process of this state "
            "directory; the gateway cannot start while it listens there",
            remedy=(
                f"stop that program yourself (`kill {holder.pid}` if you are sure), or give Nexus another "
                "port: [gateway] port in nexus.toml or NEXUS_PORT. Nexus never kills a foreign process."
            ),
            details={"pid": holder.pid, "user": holder.user, "cmdline": holder.cmdline, "role": "foreign"},
        )
    if stale_ones:
        pids = ", ".join(str(p.pid) for p in stale_ones)
        return Finding(
            "port",
            Severity.ERROR,
            f"port {port} is held by a stale Nexus process ({stale_ones[0].describe()}) that no live "
            "supervisor owns: every restart would fail to bind (the incident's orphan)",
            remedy="run `nexus cleanup` (or `nexus doctor --fix`): it kills verified stale Nexus processes",
            fix=_kill_fix(stale_ones, f"stale Nexus processes holding port {port}: {pids}"),
            details={"pids": [p.pid for p in stale_ones], "role": "stale"},
        )
    if live:
        if facts.healthy is False:
            return Finding(
                "port",
                Severity.WARN,
                f"the Nexus gateway holds port {port} but does not answer /healthz",
                remedy="see `nexus status` and `nexus logs`; `nexus restart` starts a new generation",
                details={"pids": [p.pid for p in live], "role": "live"},
            )
        return ok("port", f"port {port}: the live Nexus gateway answers", pids=[p.pid for p in live])
    if facts.supervisor_pid is not None:
        return Finding(
            "port",
            Severity.WARN,
            f"a supervisor runs (pid {facts.supervisor_pid}) but nothing listens on port {port}",
            remedy="see `nexus status` and `nexus logs`; `nexus restart` if it stays so",
        )
    return Finding(
        "port",
        Severity.INFO,
        f"nothing listens on port {port}: the gateway is not running",
        remedy="start it with `nexus up --background`, or install the service: `nexus service install`",
    )


def check_survivors(facts: ProcessFacts) -> Finding:
    """Pure: our processes that outlived their generation (they hold memory, sockets, tokens)."""
    left = [p for p in facts.others if role_of(p) is Role.STALE]
    if not left:
        return ok("survivors", "no survivors of earlier generations")
    listed = "; ".join(p.describe() for p in left[:5]) + (" ..." if len(left) > 5 else "")
    return Finding(
        "survivors",
        Severity.WARN,
        f"{len(left)} process(es) of earlier Nexus generations still run without a supervisor: {listed}",
        remedy="run `nexus cleanup` (or `nexus doctor --fix`) to kill them; they are verified to be ours",
        fix=_kill_fix(left, f"survivors of earlier generations: {', '.join(str(p.pid) for p in left)}"),
        details={"pids": [p.pid for p in left]},
    )
