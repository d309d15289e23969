"""Telling the owner: alerts for a profile needing a new login, a crash loop, every model failing for
too long, a token about to expire. Always logged and kept in ``run/alerts.json`` (what ``/status``
shows); sent to ``[alerts] command`` (the alert as JSON on stdin) when it passes the policy.

Why a policy: a crash loop at 388 restarts an hour must produce one message, not 388. The same alert
(kind, subject, severity) goes out at most every ``min_interval_s``; across all alerts at most
``max_per_hour``. The history lives on disk under a lock, so the gateway, the supervisor and a
restarted gateway share it: a restart does not reset the de-duplication.

This module imports only ``nexus.common`` and ``nexus.config`` so any process can use it.
The gateway's one call: ``Alerter.from_config(config.alerts, paths).notify(alert)`` (or ``await
alerter.anotify(alert)`` inside the event loop), with alerts built by the detectors below.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nexus.common import Clock, FileLock, NexusPaths, SystemClock, atomic_write_text
from nexus.config.schema import AlertsConfig
from nexus.errors import LockTimeout

log = logging.getLogger("nexus.alerts")

MAX_PER_HOUR = 20
HOOK_TIMEOUT_S = 10.0
KEEP_RECENT = 50
EXPIRY_DAYS = 7.0
_SECRET_ENV = ("API_KEY", "TOKEN", "SECRET", "PASSWORD")


class AlertKind(enum.StrEnum):
    NEEDS_REAUTH = "needs_reauth"
    CRASH_LOOP = "crash_loop"
    MODELS_DOWN = "models_down"
    TOKEN_EXPIRING = "token_expiring"
    APPROVAL_PENDING = "approval_pending"
    BACKUP_FAILED = "backup_failed"
    CRON_FAILING = "cron_failing"
    CHANNEL_FAILED = "channel_failed"


class Verdict(enum.StrEnum):
    SEND = "send"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    subject: str
    """What it is about: a profile name, ``gateway``, ``models``."""
    severity: str
    """``warning`` or ``critical``."""
    message: str
    remedy: str
    at: float

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}:{self.severity}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind.value, "key": self.key}


@dataclass(frozen=True)
class History:
    last_sent: Mapping[str, float] = field(default_factory=dict)
    sent_times: Sequence[float] = ()
    recent: Sequence[Mapping[str, Any]] = ()


def decide(
    alert: Alert, history: History, *, now: float, min_interval_s: float, max_per_hour: int = MAX_PER_HOUR
) -> Verdict:
    """Pure: send, or suppress as a duplicate, or suppress to stop a storm."""
    last = history.last_sent.get(alert.key)
    if last is not None and now - last < min_interval_s:
        return Verdict.DUPLICATE
    if sum(1 for t in history.sent_times if now - t < 3600.0) >= max_per_hour:
        return Verdict.RATE_LIMITED
    return Verdict.SEND


def record(history: History, alert: Alert, verdict: Verdict, *, now: float) -> History:
    """Pure: the history after ``alert`` was judged ``verdict``."""
    entry = {**alert.to_json(), "verdict": verdict.value}
    recent = [*history.recent, entry][-KEEP_RECENT:]
    if verdict is not Verdict.SEND:
        return History(history.last_sent, history.sent_times, recent)
    times = [t for t in history.sent_times if now - t < 3600.0] + [now]
    return History({**history.last_sent, alert.key: now}, times, recent)


# -- detectors: pure functions from what the gateway and supervisor already know ----------------------


class ReportLike(Protocol):
    """What a detector needs of an auth ``ProfileReport`` (kept structural: no import of nexus.auth)."""

    name: str
    provider: str
    days_left: float | None
    reason: str | None

    @property
    def status(self) -> str: ...


def profile_alerts(reports: Iterable[ReportLike], *, now: float) -> list[Alert]:
    out = []
    for r in reports:
        status = str(r.status)
        if status == "needs_reauth":
            out.append(
                Alert(
                    AlertKind.NEEDS_REAUTH,
                    r.name,
                    "critical",
                    f"auth profile {r.name} ({r.provider}) needs a new login: its refresh token is dead",
                    r.reason or f"run `nexus auth login {r.provider}`",
                    now,
                )
            )
        elif status in ("expiring", "expired") and r.days_left is not None and r.days_left <= EXPIRY_DAYS:
            gone = r.days_left <= 0
            out.append(
                Alert(
                    AlertKind.TOKEN_EXPIRING,
                    r.name,
                    "critical" if gone or r.days_left <= 1 else "warning",
                    f"auth profile {r.name} ({r.provider}) "
                    + ("has expired" if gone else f"expires in {r.days_left:.1f} days"),
                    r.reason
                    or f"create a new token (`claude setup-token`), then `nexus auth add-token {r.provider} "
                    f"--name {r.name}`",
                    now,
                )
            )
    return out


def crash_loop_alert(status: Mapping[str, Any], *, now: float) -> Alert | None:
    """From the supervisor's status document (``nexus.supervisor.status``)."""
    if (status.get("supervisor") or {}).get("state") != "crash-loop":
        return None
    gateway = status.get("gateway") or {}
    last = gateway.get("last_exit") or {}
    return Alert(
        AlertKind.CRASH_LOOP,
        "gateway",
        "critical",
        f"the gateway is in a crash loop ({gateway.get('restarts_last_hour', '?')} restarts in the last "
        f"hour), last cause {last.get('cause', '?')}: {last.get('message', '')}".rstrip(": "),
        "run `nexus doctor`; it names the cause and the fix",
        now,
    )


def models_down_alert(
    *, failing_since: float | None, last_success: float | None, now: float, threshold_s: float = 600.0
) -> Alert | None:
    """Every model candidate has failed since ``failing_since``, with no success after it."""
    if failing_since is None or (last_success is not None and last_success >= failing_since):
        return None
    down_for = now - failing_since
    if down_for < threshold_s:
        return None
    return Alert(
        AlertKind.MODELS_DOWN,
        "models",
        "critical",
        f"every model has failed for {down_for / 60:.0f} minutes: messages are not being answered",
        "run `nexus doctor` and `nexus auth list`; check the providers' status pages",
        now,
    )


def channel_failed_alerts(failures: Mapping[str, str], *, now: float) -> list[Alert]:
    """Channels stopped on a failure that retrying cannot fix (a revoked token, a missing intent, a
    bad config): nobody is heard on them until the owner acts, so say which and what to do."""
    return [
        Alert(
            AlertKind.CHANNEL_FAILED,
            name,
            "critical",
            f"channel {name} is down until you act; messages sent there are not received: {error}",
            "do what the error says, then check with `nexus channels status`",
            now,
        )
        for name, error in sorted(failures.items())
    ]


def approval_alert(*, approval_id: str, question: str, expires_at: float, now: float) -> Alert:
    """A tool call waits for the owner: one alert per approval (its id is the subject)."""
    minutes = max(0, round((expires_at - now) / 60))
    return Alert(
        AlertKind.APPROVAL_PENDING,
        approval_id,
        "warning",
        f"the assistant waits for your approval to {question} (expires in {minutes} min)",
        f"`nexus approve {approval_id}` or `nexus deny {approval_id}`",
        now,
    )


def cron_failing_alert(*, job: str, failures: int, cause: str | None, retry_in_s: float, now: float) -> Alert:
    """A scheduled job failed ``failures`` times in a row; it is backing off."""
    reason = (cause or "unknown error").splitlines()[0]
    return Alert(
        AlertKind.CRON_FAILING,
        f"cron:{job}",
        "warning",
        f"scheduled job {job!r} failed {failures} times in a row, last cause: {reason}; "
        f"next try in {retry_in_s / 60:.0f} min at the earliest",
        f"check it with `nexus cron list` and `nexus logs`; fix the cause, or `nexus cron remove {job}`",
        now,
    )


# -- the runner --------------------------------------------------------------------------------------


def _load(path: Path) -> History:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return History()
    if not isinstance(raw, dict):
        return History()
    last = {str(k): float(v) for k, v in (raw.get("last_sent") or {}).items() if isinstance(v, int | float)}
    times = [float(t) for t in raw.get("sent_times") or [] if isinstance(t, int | float)]
    recent = [r for r in raw.get("recent") or [] if isinstance(r, dict)]
    return History(last, times, recent)


def _save(path: Path, history: History) -> None:
    doc = {
        "last_sent": dict(history.last_sent),
        "sent_times": list(history.sent_times),
        "recent": list(history.recent),
    }
    atomic_write_text(path, json.dumps(doc, indent=1), mode=0o600)


def recent_alerts(paths: NexusPaths) -> list[Mapping[str, Any]]:
    """The latest alerts, newest last, for ``/status``."""
    return list(_load(paths.run / "alerts.json").recent)


def hook_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The hook's environment, without anything that looks like a credential."""
    return {k: v for k, v in environ.items() if not any(word in k.upper() for word in _SECRET_ENV)}


def run_hook(command: str, payload: bytes, *, timeout_s: float, environ: Mapping[str, str]) -> str | None:
    """Run ``command`` with ``payload`` on stdin in its own process group; None on success, else why.
    A hook that hangs is killed with its whole group after ``timeout_s``."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=hook_environment(environ),
    )
    try:
        _, err = proc.communicate(payload, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"the alert command did not finish within {timeout_s:.0f}s and was killed"
    if proc.returncode != 0:
        return f"the alert command exited {proc.returncode}: {err.decode(errors='replace').strip()[:200]}"
    return None


class Alerter:
    """Judges, records and delivers alerts for one state directory. Never raises to its caller."""

    def __init__(
        self,
        paths: NexusPaths,
        *,
        command: str | None,
        min_interval_s: float = 600.0,
        max_per_hour: int = MAX_PER_HOUR,
        clock: Clock | None = None,
        timeout_s: float = HOOK_TIMEOUT_S,
        environ: Mapping[str, str] | None = None,
        deliver: Callable[[str, bytes], str | None] | None = None,
    ) -> None:
        self.paths = paths
        self.command = command
        self.min_interval_s = min_interval_s
        self.max_per_hour = max_per_hour
        self.clock = clock or SystemClock()
        env = dict(os.environ if environ is None else environ)
        self._deliver = deliver or (lambda cmd, data: run_hook(cmd, data, timeout_s=timeout_s, environ=env))
        self._file = paths.run / "alerts.json"
        self._lock = FileLock(paths.run / "alerts.lock")

    @classmethod
    def from_config(cls, config: AlertsConfig, paths: NexusPaths, **kwargs: Any) -> Alerter:
        return cls(paths, command=config.command, min_interval_s=config.min_interval_s, **kwargs)

    def notify(self, alert: Alert) -> Verdict:
        """Log, judge and record ``alert``; run the hook when it is to be sent."""
        level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        log.log(level, "alert %s: %s (%s)", alert.kind.value, alert.message, alert.remedy)
        now = self.clock.time()
        try:
            self._lock.acquire(2.0)
        except (LockTimeout, OSError) as exc:
            log.warning("alert history is busy (%s); sending without de-duplication", exc)
            verdict = Verdict.SEND
        else:
            try:
                history = _load(self._file)
                verdict = decide(
                    alert,
                    history,
                    now=now,
                    min_interval_s=self.min_interval_s,
                    max_per_hour=self.max_per_hour,
                )
                with contextlib.suppress(OSError):
                    _save(self._file, record(history, alert, verdict, now=now))
            finally:
                self._lock.release()
        if verdict is Verdict.SEND and self.command:
            payload = json.dumps(
                {**alert.to_json(), "host": socket.gethostname(), "nexus_home": str(self.paths.home)}
            )
            try:
                problem = self._deliver(self.command, payload.encode())
            except OSError as exc:
                problem = f"the alert command could not start: {exc.strerror}"
            if problem:
                log.warning("alert %s not delivered: %s", alert.key, problem)
        return verdict

    async def anotify(self, alert: Alert) -> Verdict:
        """:meth:`notify` off the event loop (the hook may take up to its timeout)."""
        return await asyncio.to_thread(self.notify, alert)
