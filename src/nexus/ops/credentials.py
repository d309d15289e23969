"""Auth findings: each profile's state, providers with a single profile (the incident's lesson 3), an
OAuth account that another program on this host also refreshes (its root cause 1), and a clock that
disagrees with the tokens' own timestamps.

Facts hold fingerprints (``Secret.fingerprint()``), never secrets: two credentials are compared by
fingerprint, so nothing secret can reach a finding, the JSON output or a log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nexus.auth import ProfileReport, ProfileStatus, open_credentials
from nexus.auth.borrowed import claude_code_credentials_path
from nexus.auth.profiles import ProfileType
from nexus.common import NexusPaths, Secret
from nexus.config import NexusConfig
from nexus.config.providers import keyless_providers
from nexus.ops.findings import Finding, Severity, ok

SKEW_TOLERANCE_S = 300.0


@dataclass(frozen=True)
class OwnedOAuth:
    """An OAuth profile Nexus itself refreshes."""

    name: str
    provider: str
    email: str | None
    refresh_fp: str | None
    access_fp: str | None


@dataclass(frozen=True)
class ForeignCredential:
    """A credential another program on this host owns and refreshes."""

    program: str
    path: str
    provider: str
    email: str | None
    refresh_fp: str | None
    access_fp: str | None


@dataclass(frozen=True)
class AuthFacts:
    store_path: str
    store_error: str | None = None
    reports: tuple[ProfileReport, ...] = ()
    usable_by_provider: Mapping[str, int] = field(default_factory=dict)
    """Usable credentials (store and environment) of each provider the model chain needs."""
    owned_oauth: tuple[OwnedOAuth, ...] = ()
    foreign: tuple[ForeignCredential, ...] = ()
    timestamps: tuple[tuple[str, float], ...] = ()
    """(what, epoch seconds) that should never lie in the future: token issue times, file mtimes."""


def _fp(value: object) -> str | None:
    return Secret(value).fingerprint() if isinstance(value, str) and value else None


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def gather_foreign(environ: Mapping[str, str]) -> list[ForeignCredential]:
    """Claude Code's login and OpenClaw/Clawdbot OAuth profiles, as fingerprints."""
    found: list[ForeignCredential] = []
    home = Path(environ.get("HOME") or str(Path.home()))
    cc_path = claude_code_credentials_path(environ)
    raw = _read_json(cc_path)
    block = raw.get("claudeAiOauth") if isinstance(raw, dict) else None
    if isinstance(block, dict):
        account = _read_json(home / ".claude.json")
        oauth_account = account.get("oauthAccount") if isinstance(account, dict) else None
        email = oauth_account.get("emailAddress") if isinstance(oauth_account, dict) else None
        found.append(
            ForeignCredential(
                "Claude Code",
                str(cc_path),
                "anthropic",
                email if isinstance(email, str) else None,
                _fp(block.get("refreshToken")),
                _fp(block.get("accessToken")),
            )
        )
    for program, state_dir in (("OpenClaw", home / ".openclaw"), ("Clawdbot", home / ".clawdbot")):
        stores = sorted(state_dir.glob("agents/*/agent/auth-profiles.json"))
        stores += [p for p in [state_dir / "agent" / "auth-profiles.json"] if p.exists()]
        for store in stores:
            doc = _read_json(store)
            profiles = doc.get("profiles") if isinstance(doc, dict) else None
            for entry in (profiles or {}).values() if isinstance(profiles, dict) else ():
                if isinstance(entry, dict) and entry.get("type") == "oauth" and entry.get("refresh"):
                    found.append(
                        ForeignCredential(
                            program,
                            str(store),
                            str(entry.get("provider") or ""),
                            entry.get("email") if isinstance(entry.get("email"), str) else None,
                            _fp(entry.get("refresh")),
                            _fp(entry.get("access")),
                        )
                    )
    return found


def gather_auth(
    config: NexusConfig,
    paths: NexusPaths,
    *,
    environ: Mapping[str, str],
    mounts_path: Path,
) -> AuthFacts:
    """Read the store the gateway would use (without refreshing anything) and what else is on the host."""
    source = open_credentials(
        config, paths, environ=environ, force_unreliable_fs=True, mounts_path=mounts_path
    )
    store = source.store
    foreign = tuple(gather_foreign(environ))
    try:
        doc = store.files.read(fresh=True)
        reports = tuple(store.report())
    except Exception as exc:  # the store's own errors name the file and the fix
        return AuthFacts(str(store.path), store_error=str(exc), foreign=foreign)
    keyless = keyless_providers(config)
    needed = sorted({ref.provider for ref in config.chain()} - keyless)
    usable = {p: sum(1 for s in source.profiles(p) if s.usable) for p in needed}
    owned = tuple(
        OwnedOAuth(
            p.name,
            p.provider,
            p.email,
            _fp(p.refresh and p.refresh.reveal()),
            _fp(p.secret and p.secret.reveal()),
        )
        for p in doc.profiles.values()
        if p.type is ProfileType.OAUTH
    )
    stamps: list[tuple[str, float]] = []
    for p in doc.profiles.values():
        if p.issued_ms is not None:
            stamps.append((f"profile {p.name}'s issue time", p.issued_ms / 1000.0))
    for path in (store.path, store.files.state_path):
        try:
            stamps.append((f"the modification time of {path}", os.stat(path).st_mtime))
        except OSError:
            continue
    return AuthFacts(
        str(store.path),
        reports=reports,
        usable_by_provider=usable,
        owned_oauth=owned,
        foreign=foreign,
        timestamps=tuple(stamps),
    )


def _day(ts: float | None) -> str:
    return "?" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


_SEVERITY = {
    ProfileStatus.EXPIRED: Severity.ERROR,
    ProfileStatus.NEEDS_REAUTH: Severity.ERROR,
    ProfileStatus.INVALID: Severity.ERROR,
    ProfileStatus.EXPIRING: Severity.WARN,
    ProfileStatus.COOLING: Severity.INFO,
}


def check_profiles(facts: AuthFacts) -> list[Finding]:
    """Pure: one finding per profile (its state, days left, the fix), and the store's own problem."""
    if facts.store_error:
        return [
            Finding(
                "auth",
                Severity.ERROR,
                f"the auth store {facts.store_path} cannot be read: {facts.store_error}",
                remedy="fix the file by hand (it is JSON), or move it away and add the profiles again",
            )
        ]
    findings = []
    for report in facts.reports:
        left = "" if report.days_left is None else f", {report.days_left:.1f} days left"
        label = f"profile {report.name} ({report.type}, {report.provider})"
        severity = _SEVERITY.get(report.status)
        if severity is None:
            how = (
                "refreshed by Nexus"
                if report.refreshable
                else f"not refreshable, until {_day(report.expires_at)}"
            )
            if report.type == "borrowed":
                how = "borrowed: its owner refreshes it"
            findings.append(ok("auth", f"{label}: ok ({how}{left})", profile=report.name))
            continue
        findings.append(
            Finding(
                "auth",
                severity,
                f"{label}: {report.status.value}{left}",
                remedy=report.reason
                or f"create a new token (`claude setup-token`) and run `nexus auth add-token {report.provider} "
                f"--name {report.name}`",
                details={"profile": report.name, "state": report.status.value, "days_left": report.days_left},
            )
        )
    if not facts.reports:
        findings.append(Finding("auth", Severity.INFO, f"no profiles in {facts.store_path}"))
    return findings


def check_redundancy(facts: AuthFacts) -> list[Finding]:
    """Pure: every provider of the model chain should have two usable credentials (lesson 3)."""
    findings = []
    for provider, count in sorted(facts.usable_by_provider.items()):
        add = f"`nexus auth add-token {provider}` or `nexus auth add-key {provider}`"
        if count == 0:
            findings.append(
                Finding(
                    "redundancy",
                    Severity.ERROR,
                    f"provider {provider} is in the model chain but has no usable credential",
                    remedy=f"add one: {add} (or `nexus auth login {provider}`)",
                    details={"provider": provider, "usable": 0},
                )
            )
        elif count == 1:
            findings.append(
                Finding(
                    "redundancy",
                    Severity.WARN,
                    f"provider {provider} has only one usable credential: when it fails, nothing takes over",
                    remedy=f"add a second, independent one: {add}",
                    details={"provider": provider, "usable": 1},
                )
            )
    if not findings and facts.usable_by_provider:
        findings.append(ok("redundancy", "every provider of the model chain has two or more credentials"))
    return findings


def check_shared_accounts(facts: AuthFacts) -> list[Finding]:
    """Pure: a Nexus-refreshed OAuth profile that is also another program's login. Refresh tokens are
    single-use: whichever program refreshes first logs the other out (the incident's root cause 1)."""
    findings = []
    for mine in facts.owned_oauth:
        for other in facts.foreign:
            how = _same_account(mine, other)
            if how is None:
                continue
            findings.append(
                Finding(
                    "shared-account",
                    Severity.ERROR,
                    f"profile {mine.name} is refreshed by Nexus, and {other.program} ({other.path}) refreshes "
                    f"the same account ({how}): whichever refreshes first logs the other out",
                    remedy=(
                        "borrow it instead (`nexus auth borrow claude-code`, then `nexus auth remove "
                        f"{mine.name}`), or replace it with a separate long-lived token (`claude setup-token`, "
                        f"then `nexus auth add-token {mine.provider} --name {mine.name}`)"
                        if other.program == "Claude Code"
                        else f"give Nexus its own login (`nexus auth login {mine.provider}`) or a long-lived "
                        f"token, and remove {mine.name}"
                    ),
                    details={"profile": mine.name, "program": other.program, "matched_by": how},
                )
            )
    if not findings and facts.owned_oauth:
        findings.append(
            ok("shared-account", "no OAuth account of Nexus is refreshed by another program here")
        )
    return findings


def _same_account(mine: OwnedOAuth, other: ForeignCredential) -> str | None:
    if mine.refresh_fp and mine.refresh_fp == other.refresh_fp:
        return "the same refresh token"
    if mine.access_fp and mine.access_fp == other.access_fp:
        return "the same access token"
    if (
        mine.email
        and other.email
        and mine.email.lower() == other.email.lower()
        and mine.provider == other.provider
    ):
        return f"the same e-mail {mine.email}"
    return None


def check_clock(facts: AuthFacts, *, now: float) -> Finding:
    """Pure: timestamps written by this host (or by the token endpoint) lying in the future mean the
    clock runs behind: tokens then look valid after they expired, and refreshes come too late."""
    ahead = [(what, ts) for what, ts in facts.timestamps if ts - now > SKEW_TOLERANCE_S]
    if not ahead:
        return ok("clock", f"the clock agrees with {len(facts.timestamps)} token and file timestamp(s)")
    what, ts = max(ahead, key=lambda item: item[1])
    minutes = (ts - now) / 60.0
    return Finding(
        "clock",
        Severity.WARN,
        f"the system clock runs at least {minutes:.0f} minutes behind: {what} lies in the future",
        remedy="enable time sync (`timedatectl set-ntp true`; under WSL2: `wsl --shutdown` resyncs the clock)",
        details={"skew_s": round(ts - now, 1)},
    )


def expiring_reports(reports: Sequence[ProfileReport]) -> list[ProfileReport]:
    return [r for r in reports if r.status in (ProfileStatus.EXPIRING, ProfileStatus.EXPIRED)]
