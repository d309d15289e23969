"""The supervisor loop: start a generation, watch it, end it completely, decide, start the next.

Why it is shaped this way:
- Signal handlers only record (set a flag, wake the loop); the loop acts. Old handlers come back on exit.
- An exit is noticed the moment it happens: the pidfd becomes readable (or, as fallback, SIGCHLD
  arrives) and the loop reaps. Only the watchdog, start timeout and HTTP probe are timers.
- A generation is over only when every one of its processes is verified gone (``sweep``); only then is
  the next one started, so two generations never share the listening socket.
- A hung child gets SIGKILL at once: a stopped or deadlocked event loop cannot run a graceful shutdown.
  A stop requested by the owner gets SIGTERM + SIGCONT to the group, the grace period, then SIGKILL
  (systemd's ``KillMode=mixed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from nexus.common import Clock, SystemClock
from nexus.config import SupervisorConfig
from nexus.supervisor import policy
from nexus.supervisor.cgroup import CgroupTree
from nexus.supervisor.child import ChildSpec, Generation, describe_status, process_stopped, spawn
from nexus.supervisor.errors import PortHeldByForeign, SurvivorsRemain
from nexus.supervisor.health import HealthUrl, probe
from nexus.supervisor.identity import GATEWAY
from nexus.supervisor.kernel import KernelFeatures, set_child_subreaper
from nexus.supervisor.listener import PortInUse, bind_listener, port_holder
from nexus.supervisor.logs import OutputPump
from nexus.supervisor.notify import NotifySocket
from nexus.supervisor.records import (
    KEEP_GENERATIONS,
    GenerationRecord,
    RunFiles,
    load_generations,
    read_last_error,
    save_generations,
    write_status,
)
from nexus.supervisor.states import ChildState, SupervisorState, check_child, check_supervisor
from nexus.supervisor.sweep import find_marked, kill_group, sweep

READY_NOTIFY = "notify"
READY_PROBE = "probe"
READY_SPAWN = "spawn"
BLOCKED_POLL_S = 1.0


@dataclass(frozen=True)
class Options:
    """What to supervise and how to tell it is alive."""

    argv: Sequence[str]
    host: str = "127.0.0.1"
    port: int | None = None
    """Port to own and hand over as fd 3; None hands no socket."""
    health: HealthUrl | None = None
    ready: str = READY_NOTIFY
    watch_files: tuple[Path, ...] = ()
    """Files whose change ends the wait after an exit 78 (config, credentials)."""
    echo_output: bool = False


@dataclass
class _Watch:
    """Per-generation liveness bookkeeping."""

    ready_at: float | None = None
    last_beat: float | None = None
    last_ok: float | None = None
    """Last sign of life after READY (a heartbeat or a good probe): a hung generation's uptime ends here."""
    stopped_since: float | None = None
    probe_failures: int = 0
    status_text: str = ""
    kill_reason: str | None = None
    exit_status: int | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        options: Options,
        cfg: SupervisorConfig,
        files: RunFiles,
        output_log: Path,
        *,
        marker: str,
        name: str = GATEWAY,
        features: KernelFeatures,
        logger: logging.Logger,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
        uniform: Callable[[], float] = random.random,
        alert: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.options = options
        self.alert = alert
        """Told the status document when a crash loop is named (the owner hears of it, not only the log)."""
        self.cfg = cfg
        self.files = files
        self.output_log = output_log
        """Where the child's stdout and stderr go (``logs/gateway.log`` for the gateway)."""
        self.marker = marker
        self.name = name
        self.features = features
        self.log = logger
        self.clock = clock or SystemClock()
        self.environ = dict(os.environ if environ is None else environ)
        self.uniform = uniform
        self.state = SupervisorState.STARTING
        self.child_state = ChildState.NONE
        self.gen: Generation | None = None
        self.generation_number = 0
        self.failures = 0
        self.quick_failures: list[float] = []
        """Monotonic times of unclean escalating exits (never-ready, exits-soon): the crash-loop window."""
        self.restart_times: list[float] = []
        self.restart_kinds: list[str] = []
        """Parallel to ``restart_times``: the ending (``policy.Ending`` value) each restart followed."""
        self.last_exit: dict[str, Any] | None = None
        self.crash_loop = False
        self.next_start_at: float | None = None
        self.started_at = self.clock.time()
        self.listener: socket.socket | None = None
        self.cgroups: CgroupTree | None = None
        self.notify: NotifySocket | None = None
        self.records: list[GenerationRecord] = []
        self._watch = _Watch()
        self._pump: OutputPump | None = None
        self._wake = asyncio.Event()
        self._stop = False
        self._restart = False
        self._signals: list[int] = []

    @property
    def _what(self) -> str:
        return "the gateway" if self.name == GATEWAY else repr(self.name)

    # ---- control (safe to call from signal callbacks: they only record and wake) ----
    def request_stop(self) -> None:
        self._stop = True
        self._wake.set()

    def request_restart(self) -> None:
        self._restart = True
        self._wake.set()

    # ---- the whole life ----
    async def run(self) -> int:
        """Run until asked to stop; returns the process exit code."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        try:
            await self._setup()
            self._set_state(SupervisorState.RUNNING)
            while not self._stop:
                try:
                    gen = self._start()
                except OSError as exc:  # fork/exec failed: EAGAIN, ENOMEM, a missing /bin/sh
                    self.failures += 1
                    delay = policy.backoff_delay(self.failures, self.cfg, uniform=self.uniform)
                    self.log.error("could not start %s (%s); retrying in %.2fs", self._what, exc, delay)
                    self._set_state(SupervisorState.BACKOFF)
                    await self._wait_delay(delay)
                    continue
                exit_ = await self._watch_generation(gen)
                await self._finish(gen)
                if self._stop:
                    break
                await self._after_exit(gen, exit_)
            return 0
        finally:
            await self._teardown(loop)

    async def _setup(self) -> None:
        if self.features.subreaper and not set_child_subreaper():
            self.features = KernelFeatures(self.features.pidfd, False, self.features.cgroup)
        if self.features.cgroup:
            self.cgroups = CgroupTree.detect(self.marker)
            if self.cgroups is None:
                self.features = KernelFeatures(self.features.pidfd, self.features.subreaper, False)
        self.log.info("kernel features: %s", self.features.describe())
        self.records = load_generations(self.files)
        await self._sweep_earlier_supervisors()
        if self.options.port is not None:
            try:
                self.listener = bind_listener(self.options.host, self.options.port)
            except PortInUse as exc:
                holder = port_holder(self.options.port)
                raise PortHeldByForeign(
                    self.options.host, self.options.port, holder.describe(), holder.pid
                ) from exc
            self.log.info(
                "listening on %s:%d (handed to each generation as fd 3)", self.options.host, self.options.port
            )
        self.notify = NotifySocket(f"nexus-notify-{self.marker}-{os.getpid()}", fallback_dir=self.files.run)
        asyncio.get_running_loop().add_reader(self.notify.fileno(), self._on_notify)

    async def _sweep_earlier_supervisors(self) -> None:
        """Kill what earlier supervisors of this home left running (one may have been kill -9ed)."""
        pgids = []
        for record in self.records:
            with contextlib.suppress(psutil.Error):
                if psutil.Process(record.pid).create_time() == record.create_time:
                    pgids.append(record.pid)  # same pid *and* start time: really that generation
        cgroups = self.cgroups.existing() if self.cgroups else []
        found = find_marked(self.marker)
        if pgids or found or cgroups:
            self.log.warning(
                "killing survivors of earlier generations: %s",
                ", ".join(str(p.pid) for p in found) or ", ".join(map(str, pgids)) or "(cgroups only)",
            )
        left = await sweep(
            marker=self.marker,
            pgids=pgids,
            cgroups=cgroups,
            use_children=self.features.subreaper,
            reap=self._reap,
        )
        if left:
            raise SurvivorsRemain(
                "earlier Nexus processes would not die: "
                + ", ".join(f"pid {p.pid}" for p in left)
                + "; they may be in uninterruptible sleep (state D); check `ps -o pid,stat,cmd -p PID`"
            )

    # ---- one generation ----
    def _start(self) -> Generation:
        self.generation_number = max([self.generation_number, *(r.number for r in self.records)]) + 1
        number = self.generation_number
        cgroup = self.cgroups.generation(number) if self.cgroups else None
        assert self.notify is not None
        spec = ChildSpec(
            argv=self.options.argv,
            environ=self.environ,
            notify_address=self.notify.address,
            watchdog_usec=int(self.cfg.watchdog_interval_s * 2 * 1_000_000),
            marker=self.marker,
        )
        now = self.clock.monotonic()
        gen = spawn(
            spec,
            number,
            listen_fd=self.listener.fileno() if self.listener else None,
            cgroup=cgroup,
            now_mono=now,
            now_wall=self.clock.time(),
            use_pidfd=self.features.pidfd,
        )
        self.gen = gen
        self._watch = _Watch()
        self.child_state = check_child(self.child_state, ChildState.STARTING)
        self.records.append(
            GenerationRecord(
                number=number,
                pid=gen.pid,
                create_time=gen.create_time,
                cmdline=list(self.options.argv),
                sid=gen.pid,
                cgroup=str(cgroup) if cgroup else None,
                marker=self.marker,
                started_at=gen.started_wall,
            )
        )
        self.records = self.records[-KEEP_GENERATIONS:]
        save_generations(self.files, self.records)
        loop = asyncio.get_running_loop()
        if gen.pidfd is not None:
            loop.add_reader(gen.pidfd, self._reap)
        self._pump = OutputPump(self.output_log, echo=self.options.echo_output)
        loop.add_reader(gen.output_fd, self._on_output)
        if self.options.ready == READY_SPAWN:
            self._mark_ready()
        if self.options.health is not None:
            self._watch.tasks.append(asyncio.create_task(self._probe_loop(gen)))
        self.log.info("generation %d started: pid %d", number, gen.pid)
        self._set_state(SupervisorState.RUNNING)
        return gen

    async def _watch_generation(self, gen: Generation) -> policy.Exit:
        """Wait until the generation exits or must be ended; return how it ended."""
        requested = False
        while True:
            if self._watch.exit_status is not None:
                code, sig = describe_status(self._watch.exit_status)
                return policy.Exit(code, sig, requested=requested)
            if (self._stop or self._restart) and self.child_state != ChildState.STOPPING:
                requested = True
                self._restart = False
                await self._stop_gracefully(gen)
                continue
            reason = self._failed_check()
            if reason is not None and self.child_state != ChildState.STOPPING:
                self._watch.kill_reason = reason
                self.log.warning("generation %d %s: killing it", gen.number, _REASONS[reason])
                self._kill_now(gen)
                self.child_state = check_child(self.child_state, ChildState.STOPPING)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_check_in())

    def _failed_check(self) -> str | None:
        w = self._watch
        assert self.gen is not None
        now = self.clock.monotonic()
        if process_stopped(self.gen.pid):
            w.stopped_since = w.stopped_since if w.stopped_since is not None else now
        else:
            w.stopped_since = None
        return policy.liveness_failure(
            now=now,
            started=self.gen.started_mono,
            ready_at=w.ready_at,
            last_beat=w.last_beat,
            probe_failures=w.probe_failures,
            cfg=self.cfg,
            stopped_since=w.stopped_since,
        )

    def _next_check_in(self) -> float:
        return max(0.02, min(0.25, self.cfg.watchdog_timeout_s / 10, policy.stopped_after_s(self.cfg) / 4))

    async def _stop_gracefully(self, gen: Generation) -> None:
        """SIGTERM + SIGCONT to the group, wait up to the grace period, then SIGKILL everything."""
        self.child_state = check_child(self.child_state, ChildState.STOPPING)
        self._set_state(self.state)
        self.log.info("stopping generation %d (grace %.1fs)", gen.number, self.cfg.grace_s)
        for sig in (signal.SIGTERM, signal.SIGCONT):
            kill_group(gen.pgid, sig)
            if gen.cgroup is not None:
                CgroupTree.signal_all(gen.cgroup, sig)
        deadline = self.clock.monotonic() + self.cfg.grace_s
        while self._watch.exit_status is None and self.clock.monotonic() < deadline:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=max(0.01, deadline - self.clock.monotonic())
                )
        if self._watch.exit_status is None:
            self.log.warning("generation %d ignored SIGTERM for %.1fs: SIGKILL", gen.number, self.cfg.grace_s)
            self._kill_now(gen)

    def _kill_now(self, gen: Generation) -> None:
        if gen.pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(gen.pidfd, signal.SIGKILL)
        kill_group(gen.pgid, signal.SIGKILL)
        if gen.cgroup is not None:
            CgroupTree.kill(gen.cgroup)

    async def _finish(self, gen: Generation) -> None:
        """Kill every process the generation left and verify they are gone; then release its fds."""
        loop = asyncio.get_running_loop()
        for task in self._watch.tasks:
            task.cancel()
        for task in self._watch.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while True:
            left = await sweep(
                marker=self.marker,
                pgids=[gen.pgid],
                cgroups=[gen.cgroup] if gen.cgroup else [],
                use_children=self.features.subreaper,
                reap=self._reap,
            )
            if not left:
                break
            self.log.error(
                "generation %d left processes that will not die (%s); not starting another until they do",
                gen.number,
                ", ".join(str(p.pid) for p in left),
            )
            if self._stop:
                break
        if gen.pidfd is not None:
            loop.remove_reader(gen.pidfd)
        loop.remove_reader(gen.output_fd)
        if self._pump is not None:
            self._pump.feed(gen.output_fd)
            self._pump.close()
            self._pump = None
        gen.close_fds()
        self.child_state = check_child(self.child_state, ChildState.EXITED)

    # ---- after an exit: the pure policy decides, the loop waits ----
    def _ready_for(self, now: float) -> float | None:
        """How long the generation was ready and alive: for one killed as hung, up to its last sign of life."""
        w = self._watch
        if w.ready_at is None:
            return None
        end = now
        if w.kill_reason in HANG_REASONS:
            end = w.last_ok if w.last_ok is not None else w.ready_at
        return max(0.0, end - w.ready_at)

    async def _after_exit(self, gen: Generation, exit_: policy.Exit) -> None:
        now = self.clock.monotonic()
        ready_for = self._ready_for(now)
        cause, message = self._cause(gen, exit_)
        decision = policy.decide(
            exit_,
            ready_for_s=ready_for,
            failures=self.failures,
            quick_failure_times=self.quick_failures,
            now=now,
            cfg=self.cfg,
            uniform=self.uniform,
        )
        if decision.quick_failure:
            self.quick_failures = [
                t for t in [*self.quick_failures, now] if now - t <= self.cfg.crash_loop_window_s
            ]
        self.last_exit = {
            "code": exit_.code,
            "signal": exit_.signal,
            "signal_name": signal.Signals(exit_.signal).name if exit_.signal else None,
            "cause": cause,
            "message": message,
            "at": self.clock.time(),
            "generation": gen.number,
            "ran_s": round(now - gen.started_mono, 3),
            "ready_for_s": None if ready_for is None else round(ready_for, 3),
            "ending": decision.ending.value,
            "next": _next_words(decision),
        }
        self.failures = decision.failures
        self.crash_loop = decision.crash_loop
        self.log.info(
            "generation %d ended: %s (%s), %s; next: %s",
            gen.number,
            cause,
            message,
            decision.ending.value,
            _next_words(decision),
        )
        if decision.action is policy.Action.BLOCK:
            self._set_state(SupervisorState.BLOCKED)
            self.log.error(
                "%s cannot run as configured (%s): not restarting; fix it and the change is "
                "picked up by itself, or run `nexus restart`",
                self._what,
                message,
            )
            await self._wait_blocked()
        else:
            if decision.crash_loop:
                self._set_state(SupervisorState.CRASH_LOOP)
                self.log.error(
                    "crash loop: %d quick failures in %.0fs, last cause %s; next start in %.0fs",
                    len(self.quick_failures),
                    self.cfg.crash_loop_window_s,
                    cause,
                    decision.delay_s,
                )
                if self.alert is not None:
                    snapshot = self.snapshot()
                    # the hook may take seconds: never in the supervisor's own loop
                    asyncio.get_running_loop().run_in_executor(None, self.alert, snapshot)
            elif decision.delay_s > 0:
                self._set_state(SupervisorState.BACKOFF)
            await self._wait_delay(decision.delay_s)
        if not self._stop:
            wall = self.clock.time()
            kept = [
                (t, k)
                for t, k in zip(self.restart_times, self.restart_kinds, strict=True)
                if wall - t <= 3600
            ]
            kept.append((wall, decision.ending.value))
            self.restart_times = [t for t, _ in kept]
            self.restart_kinds = [k for _, k in kept]
        self.next_start_at = None

    def _cause(self, gen: Generation, exit_: policy.Exit) -> tuple[str, str]:
        if exit_.requested:
            return "restart", "restarted on request"
        reason = self._watch.kill_reason
        if reason is not None:
            return reason, _REASONS[reason]
        err = read_last_error(self.files, pid=gen.pid, since=gen.started_wall)
        if err is not None:
            return err.cause, err.message
        if exit_.signal is not None:
            return "crash", f"killed by {signal.Signals(exit_.signal).name}"
        if exit_.code == 78:
            return "config", f"exit 78: configuration or credentials unusable (see {self.output_log})"
        if exit_.code == 0:
            return "exit", "exited with status 0"
        if exit_.code in (126, 127):
            return (
                "crash",
                f"exit status {exit_.code}: command not found or not executable: {self.options.argv[0]}",
            )
        return "crash", f"exit status {exit_.code}"

    async def _wait_delay(self, delay: float) -> None:
        if delay <= 0:
            return
        self.next_start_at = self.clock.time() + delay
        self._write_status()
        deadline = self.clock.monotonic() + delay
        while not self._stop and not self._restart:
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=remaining)
        self._restart = False

    async def _wait_blocked(self) -> None:
        before = _stat_all(self.options.watch_files)
        while not self._stop and not self._restart:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=BLOCKED_POLL_S)
            if _stat_all(self.options.watch_files) != before:
                self.log.info("config or credentials changed: starting again")
                break
        self._restart = False

    # ---- event callbacks: they record and wake, nothing more ----
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if self.gen is not None and pid == self.gen.pid:
                self._watch.exit_status = status
        self._wake.set()

    def _on_notify(self) -> None:
        assert self.notify is not None
        for note in self.notify.drain():
            gen = self.gen
            if gen is None or self._watch.exit_status is not None:
                continue
            if note.pid is not None and note.pid != gen.pid:
                continue  # a late message from a dead generation, or a stray sender
            now = self.clock.monotonic()
            fields = note.fields
            if fields.get("WATCHDOG") == "1":
                self._watch.last_beat = now
                self._watch.last_ok = now
            if fields.get("WATCHDOG") == "trigger":
                self._watch.probe_failures = self.cfg.probe_failures
            if "STATUS" in fields:
                self._watch.status_text = fields["STATUS"][:200]
            if fields.get("READY") == "1" and self._watch.ready_at is None:
                self._mark_ready()
            if fields.get("STOPPING") == "1":
                self.log.info("generation %d says it is stopping", gen.number)
        self._wake.set()

    def _mark_ready(self) -> None:
        now = self.clock.monotonic()
        self._watch.ready_at = now
        self._watch.last_ok = now
        if self._watch.last_beat is None and self.options.ready == READY_NOTIFY:
            self._watch.last_beat = now  # the watchdog is armed from READY=1 on
        if self.child_state == ChildState.STARTING:
            self.child_state = check_child(self.child_state, ChildState.READY)
            assert self.gen is not None
            self.log.info("generation %d ready after %.3fs", self.gen.number, now - self.gen.started_mono)
            self._write_status()

    def _on_output(self) -> None:
        gen = self.gen
        if gen is None or self._pump is None:
            return
        if not self._pump.feed(gen.output_fd):
            asyncio.get_running_loop().remove_reader(gen.output_fd)

    async def _probe_loop(self, gen: Generation) -> None:
        assert self.options.health is not None
        while True:
            if self.options.ready == READY_PROBE or self._watch.ready_at is not None:
                ok = await probe(self.options.health, limit_s=self.cfg.probe_timeout_s)
                if ok:
                    self._watch.probe_failures = 0
                    self._watch.last_ok = self.clock.monotonic()
                    if self._watch.ready_at is None:
                        self._mark_ready()
                elif self._watch.ready_at is not None:
                    self._watch.probe_failures += 1
                    self.log.warning(
                        "generation %d: /healthz probe failed (%d/%d)",
                        gen.number,
                        self._watch.probe_failures,
                        self.cfg.probe_failures,
                    )
                    self._wake.set()
            await asyncio.sleep(self.cfg.probe_interval_s if self._watch.ready_at is not None else 0.05)

    # ---- plumbing ----
    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        handlers = {
            signal.SIGTERM: self.request_stop,
            signal.SIGINT: self.request_stop,
            signal.SIGHUP: self.request_restart,
            signal.SIGCHLD: self._reap,
        }
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
            self._signals.append(sig)

    async def _teardown(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(Exception):
            if self.state is not SupervisorState.STOPPING:
                self._set_state(SupervisorState.STOPPING)
        left = await sweep(
            marker=self.marker,
            cgroups=self.cgroups.existing() if self.cgroups else [],
            use_children=self.features.subreaper,
            reap=self._reap,
        )
        if left:
            self.log.error("processes left behind at exit: %s", ", ".join(str(p.pid) for p in left))
        if self.cgroups is not None:
            with contextlib.suppress(OSError):
                self.cgroups.base.rmdir()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()
        if self.notify is not None:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(self.notify.fileno())
            self.notify.close()
        if self.listener is not None:
            self.listener.close()
        self.gen = None
        self.state = SupervisorState.STOPPED
        self._write_status()
        self.log.info("supervisor stopped")

    def _set_state(self, new: SupervisorState) -> None:
        if new is not self.state:
            self.state = check_supervisor(self.state, new)
        self._write_status()

    def _write_status(self) -> None:
        with contextlib.suppress(OSError):
            write_status(self.files, self.snapshot())

    def snapshot(self) -> dict[str, Any]:
        """The status document (``nexus status --json`` adds live fields when it reads it)."""
        now_wall = self.clock.time()
        gen = self.gen
        alive = gen is not None and self.child_state in (
            ChildState.STARTING,
            ChildState.READY,
            ChildState.STOPPING,
        )
        ready_wall = None
        if gen is not None and self._watch.ready_at is not None:
            ready_wall = gen.started_wall + (self._watch.ready_at - gen.started_mono)
        return {
            "supervisor": {
                "name": self.name,
                "command": list(self.options.argv),
                "pid": os.getpid(),
                "state": self.state.value,
                "started_at": self.started_at,
                "features": self.features.describe(),
                "port": self.options.port,
                "crash_loop": self.crash_loop,
                "next_start_at": self.next_start_at,
                "restart_policy": policy.policy_summary(self.cfg),
            },
            ("gateway" if self.name == GATEWAY else "child"): {
                "pid": gen.pid if alive and gen else None,
                "generation": gen.number if gen else None,
                "state": self.child_state.value,
                "started_at": gen.started_wall if alive and gen else None,
                "ready_at": ready_wall if alive else None,
                "status_text": self._watch.status_text,
                "restart_times": list(self.restart_times),
                "restart_kinds": list(self.restart_kinds),
                "last_exit": self.last_exit,
            },
            "updated_at": now_wall,
        }


_REASONS = {
    "watchdog": "sent no WATCHDOG=1 heartbeat in time (hung?)",
    "liveness": "failed its /healthz liveness probe repeatedly",
    "start-timeout": "did not become ready in time",
    "stopped": "was stopped (SIGSTOP) and answered nobody",
}
HANG_REASONS = ("watchdog", "liveness", "stopped")


def _next_words(decision: policy.Decision) -> str:
    if decision.action is policy.Action.BLOCK:
        return "blocked until the config or credentials change, or `nexus restart`"
    if decision.delay_s <= 0:
        return "restart at once"
    return f"restart in {decision.delay_s:.2f}s" + (" (crash loop)" if decision.crash_loop else "")


def _stat_all(paths: Sequence[Path]) -> list[tuple[int, int, int] | None]:
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = path.stat()
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append(None)
    return out
