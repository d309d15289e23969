"""Installed service files that run Nexus, and the settings in them that bring the incident back:
``KillMode=process``/``none`` (orphans keep the port), restarts with no backoff, no start rate limit
(``StartLimitIntervalSec=0``), no ``RestartPreventExitStatus=78`` (a config error looped forever),
launchd ``ThrottleInterval`` under 5 seconds. Parsing and checking are pure; only the scan reads disk.
"""

from __future__ import annotations

import plistlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from nexus.ops.findings import Finding, Fix, FixKind, Severity, ok
from nexus.ops.render import HEADER, LAUNCHD_LABEL, MIN_THROTTLE_S

UnitSettings = Mapping[str, Sequence[str]]
"""``Section.Key`` -> every value given, in order (systemd keys may repeat)."""


def parse_unit(text: str) -> dict[str, list[str]]:
    """A systemd unit file: sections, ``Key=Value`` lines, ``#``/``;`` comments, ``\\`` continuations."""
    settings: dict[str, list[str]] = {}
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep:
            settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?")


def seconds(value: str) -> float | None:
    """systemd time spans: ``2``, ``500ms``, ``1min 30s``, ``infinity``; None when unparseable."""
    text = value.strip().lower()
    if text == "infinity":
        return float("inf")
    total = 0.0
    matched = False
    for number, unit in _SPAN.findall(text):
        matched = True
        scale = {"ms": 0.001, "min": 60.0, "m": 60.0, "h": 3600.0}.get(unit, 1.0)
        total += float(number) * scale
    return total if matched else None


def _last(settings: UnitSettings, key: str) -> str | None:
    values = settings.get(key)
    return values[-1] if values else None


@dataclass(frozen=True)
class UnitFile:
    path: str
    kind: str
    """``systemd`` or ``launchd``."""
    ours: bool
    """Carries our header: ``--fix`` may regenerate it."""
    settings: Mapping[str, Sequence[str]]


def runs_nexus(settings: UnitSettings) -> bool:
    execs = " ".join(settings.get("Service.ExecStart", ()) + list(settings.get("ProgramArguments", ())))
    return bool(re.search(r"(^|[\s/])nexus(\s|$)", execs))


def check_unit(unit: UnitFile) -> list[Finding]:
    """Pure: the dangerous settings of one installed service file, each a finding with its remedy."""
    problems = (
        _launchd_problems(unit.settings) if unit.kind == "launchd" else _systemd_problems(unit.settings)
    )
    fix = Fix(FixKind.REWRITE_UNIT, unit.path) if unit.ours else None
    remedy_tail = (
        "`nexus doctor --fix` rewrites it (it is ours)"
        if unit.ours
        else "edit it, or replace it with `nexus service install`"
    )
    findings = [
        Finding(
            "service-file",
            severity,
            f"{unit.path}: {problem}",
            remedy=f"{remedy}; {remedy_tail}",
            fix=fix,
            details={"path": unit.path, "kind": unit.kind},
        )
        for severity, problem, remedy in problems
    ]
    return findings or [ok("service-file", f"{unit.path}: safe settings")]


def _systemd_problems(s: UnitSettings) -> list[tuple[Severity, str, str]]:
    out: list[tuple[Severity, str, str]] = []
    kill_mode = (_last(s, "Service.KillMode") or "control-group").lower()
    if kill_mode in ("process", "none"):
        out.append(
            (
                Severity.ERROR,
                f"KillMode={kill_mode}: when the gateway dies its children survive and keep the port "
                "(the incident's 388 restarts an hour)",
                "use KillMode=mixed",
            )
        )
    restart = (_last(s, "Service.Restart") or "no").lower()
    if restart == "no":
        out.append(
            (Severity.WARN, "Restart=no: nothing restarts the gateway when it dies", "use Restart=on-failure")
        )
    else:
        delay = seconds(_last(s, "Service.RestartSec") or "100ms") or 0.0
        if delay < 1.0 and not s.get("Service.RestartSteps"):
            out.append(
                (
                    Severity.WARN,
                    f"restarts after {delay:g}s with no backoff: a crash loop spins as fast as it can",
                    "set RestartSec=2 (and RestartSteps/RestartMaxDelaySec on systemd 254 or newer)",
                )
            )
        prevent = " ".join(s.get("Service.RestartPreventExitStatus", ())).split()
        if "78" not in prevent and "EX_CONFIG" not in prevent:
            out.append(
                (
                    Severity.WARN,
                    "no RestartPreventExitStatus=78: a bad config or dead credential is restarted forever",
                    "add RestartPreventExitStatus=78",
                )
            )
    interval = _last(s, "Unit.StartLimitIntervalSec") or _last(s, "Service.StartLimitInterval")
    if interval is not None and seconds(interval) == 0:
        out.append(
            (
                Severity.WARN,
                "StartLimitIntervalSec=0: the start rate limit is off, restarts are unbounded",
                "remove it or set StartLimitIntervalSec=600 with StartLimitBurst=20",
            )
        )
    return out


def _launchd_problems(s: UnitSettings) -> list[tuple[Severity, str, str]]:
    raw = _last(s, "ThrottleInterval")
    throttle = 10.0 if raw is None else (seconds(raw) or 0.0)
    if throttle < MIN_THROTTLE_S:
        return [
            (
                Severity.WARN,
                f"ThrottleInterval={raw}: launchd relaunches a crashing gateway every {throttle:g}s",
                f"set ThrottleInterval to {MIN_THROTTLE_S} or more",
            )
        ]
    return []


def parse_plist(data: bytes) -> dict[str, list[str]]:
    """The keys of a launchd plist that matter here, flattened to the same settings shape."""
    try:
        doc = plistlib.loads(data)
    except Exception:  # plistlib raises several unrelated types for garbage
        return {}
    if not isinstance(doc, dict):
        return {}
    out: dict[str, list[str]] = {}
    args = doc.get("ProgramArguments")
    if isinstance(args, list):
        out["ProgramArguments"] = [str(a) for a in args]
    for key in ("Label", "ThrottleInterval"):
        if key in doc:
            out[key] = [str(doc[key])]
    return out


def gather_units(systemd_dirs: Sequence[Path], launchd_dirs: Sequence[Path]) -> list[UnitFile]:
    """Every installed service file that runs nexus."""
    found: list[UnitFile] = []
    for directory in systemd_dirs:
        for path in sorted(Path(directory).glob("*.service")):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            settings = parse_unit(text)
            if runs_nexus(settings) or path.name.startswith("nexus"):
                found.append(UnitFile(str(path), "systemd", HEADER in text, settings))
    for directory in launchd_dirs:
        for path in sorted(Path(directory).glob("*.plist")):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            settings = parse_plist(data)
            if runs_nexus(settings):
                found.append(
                    UnitFile(str(path), "launchd", _last(settings, "Label") == LAUNCHD_LABEL, settings)
                )
    return found
