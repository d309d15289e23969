"""WSL2: the host the incident happened on. Detects it (``/proc/version``), whether systemd runs as
PID 1, hybrid cgroups, and says how Nexus should start there; every path is injectable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nexus.auth.filesystem import parse_mounts
from nexus.ops.findings import Finding, Severity, ok
from nexus.ops.render import PROFILE_BEGIN

PROC_VERSION = Path("/proc/version")
PROC_1_COMM = Path("/proc/1/comm")
PROC_MOUNTS = Path("/proc/mounts")
PROFILE_FILES = (".bashrc", ".zshrc", ".profile")


@dataclass(frozen=True)
class HostFacts:
    wsl: bool
    wsl2: bool
    systemd_pid1: bool
    cgroup_v1: bool
    cgroup_v2: bool
    profile_line: str | None
    """The shell profile holding our guarded start line, if any."""
    distro: str | None


def detect_wsl(version_text: str) -> tuple[bool, bool]:
    """(is WSL, is WSL2) from the kernel's version string."""
    text = version_text.lower()
    wsl = "microsoft" in text or "wsl" in text
    return wsl, wsl and ("wsl2" in text or "microsoft-standard" in text)


def gather_host(
    *,
    home: Path,
    environ: Mapping[str, str],
    proc_version: Path = PROC_VERSION,
    proc_1_comm: Path = PROC_1_COMM,
    proc_mounts: Path = PROC_MOUNTS,
) -> HostFacts:
    try:
        wsl, wsl2 = detect_wsl(proc_version.read_text())
    except OSError:
        wsl, wsl2 = False, False
    try:
        systemd = proc_1_comm.read_text().strip() == "systemd"
    except OSError:
        systemd = False
    try:
        mounts = parse_mounts(proc_mounts.read_text())
    except OSError:
        mounts = []
    profile = None
    for name in PROFILE_FILES:
        try:
            if PROFILE_BEGIN in (home / name).read_text(errors="replace"):
                profile = str(home / name)
                break
        except OSError:
            continue
    return HostFacts(
        wsl=wsl,
        wsl2=wsl2,
        systemd_pid1=systemd,
        cgroup_v1=any(m.fstype == "cgroup" for m in mounts),
        cgroup_v2=any(m.fstype == "cgroup2" for m in mounts),
        profile_line=profile,
        distro=environ.get("WSL_DISTRO_NAME"),
    )


IDLE_ADVICE = (
    "WSL shuts its VM down shortly after the last Windows-side process using it exits (no terminal "
    "open): register the logon task that `nexus service install` prints, which keeps `wsl.exe` "
    "running with the supervisor in it"
)


def check_host(facts: HostFacts) -> list[Finding]:
    """Pure: what WSL2 means for this install, and the recommended start-up method."""
    if not facts.wsl:
        return [ok("wsl", "not running under WSL")]
    name = "WSL2" if facts.wsl2 else "WSL1"
    findings: list[Finding] = []
    if facts.systemd_pid1:
        findings.append(
            Finding(
                "wsl",
                Severity.INFO,
                f"{name} with systemd: the recommended start-up is a user unit (`nexus service install`) "
                "plus `loginctl enable-linger`; " + IDLE_ADVICE,
                remedy="nexus service install",
            )
        )
        if facts.cgroup_v1 and facts.cgroup_v2:
            findings.append(
                Finding(
                    "wsl",
                    Severity.WARN,
                    f"{name} runs systemd on hybrid cgroups (v1 and v2 mounted): systemd may fail to track "
                    "and kill the gateway's children (how the incident's orphan survived)",
                    remedy=(
                        "add `kernelCommandLine = cgroup_no_v1=all` under [wsl2] in %UserProfile%\\.wslconfig, "
                        "then `wsl --shutdown`; Nexus's own cleanup still kills verified stale processes"
                    ),
                )
            )
    else:
        has_line = facts.profile_line is not None
        findings.append(
            Finding(
                "wsl",
                Severity.INFO if has_line else Severity.WARN,
                f"{name} without systemd: "
                + (
                    f"the guarded start line is in {facts.profile_line}; " + IDLE_ADVICE
                    if has_line
                    else "nothing starts Nexus when the VM boots"
                ),
                remedy="`nexus service install` adds the guarded line to your shell profile and prints the "
                "Windows Task Scheduler command that starts it at logon",
            )
        )
    return findings
