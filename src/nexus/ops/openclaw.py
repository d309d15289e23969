"""``nexus import openclaw``: bring an OpenClaw or Clawdbot install's model chain and credentials over.

What is read (every file as JSON5, as OpenClaw writes and reads them: comments, unquoted keys,
single quotes, trailing commas; plain JSON is JSON5 too):
    <dir>/openclaw.json | clawdbot.json | moltbot.json
        agents.defaults.model             "provider/model", or {"primary": ..., "fallbacks": [...]}
        auth.order                        {"anthropic": ["anthropic:a", "anthropic:b"]}
    <dir>/agents/<id>/agent/auth-profiles.json   (legacy <dir>/agent/auth-profiles.json)
        {"version": 1, "profiles": {"<id>": {"type": "api_key"|"token"|"oauth", "provider", ...}}}

What is written: profiles into the Nexus store (never replacing one that exists), their order, and
the model chain into ``nexus.toml`` when it has no ``[models]`` yet (an existing one is kept).

Why OAuth is not copied: the other install keeps refreshing its OAuth profiles, and refresh tokens
are single-use, so a copy would log one of the two out (the incident). The Claude Code login that
OpenClaw syncs (``anthropic:claude-cli``, or any profile holding Claude Code's refresh token) is
*borrowed* (read, never refreshed); any other OAuth profile is skipped with the command that gives
Nexus a login of its own. Planning is pure; only :func:`read_source` and :func:`apply_import` do I/O.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus.auth.borrowed import CLAUDE_CODE, claude_code_credentials_path
from nexus.auth.profiles import Profile, ProfileType, parse_profile
from nexus.common import NexusPaths, Secret, atomic_write_text
from nexus.config import NexusConfig

CONFIG_NAMES = (("openclaw.json", "OpenClaw"), ("clawdbot.json", "Clawdbot"), ("moltbot.json", "Moltbot"))
DEFAULT_DIRS = (".openclaw", ".clawdbot", ".moltbot")
BUILTIN_PROVIDERS = frozenset({"anthropic", "openai", "openrouter", "ollama"})
CLAUDE_CLI_PROFILE = "anthropic:claude-cli"


class ImportFailed(Exception):
    """The source cannot be imported; the message says why and what to do."""


@dataclass(frozen=True)
class Source:
    directory: Path
    product: str
    config_path: Path | None
    config: Mapping[str, Any]
    profiles: Mapping[str, Mapping[str, Any]]
    """Profile id -> raw entry, from the main agent first."""
    profile_files: tuple[Path, ...]


@dataclass
class ImportPlan:
    lines: list[str] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    order: dict[str, list[str]] = field(default_factory=dict)
    models: tuple[str, list[str]] | None = None
    config_text: str | None = None
    """The new ``nexus.toml`` (None: left as it is)."""


def find_source(home: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    for name in DEFAULT_DIRS:
        if (home / name).is_dir():
            return home / name
    raise ImportFailed(
        f"no OpenClaw or Clawdbot state found in {home} (~/.openclaw, ~/.clawdbot); pass --from DIR"
    )


def _json(path: Path) -> Any:
    """One JSON5 document (the ``json5`` package, the reference grammar's Python port)."""
    import json5  # only this command needs it

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImportFailed(f"{path} cannot be read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ImportFailed(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        return json5.loads(text)
    except ValueError as exc:
        line, _, what = str(exc).removeprefix("<string>:").partition(" ")
        where = f"line {line}: {what}" if line.isdigit() else str(exc)
        raise ImportFailed(
            f"{path} is not valid JSON5 ({where}); fix that spot (OpenClaw refuses it too) and try again"
        ) from exc


def read_source(directory: Path) -> Source:
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise ImportFailed(f"{directory} is not a directory")
    config_path, product, config = None, "OpenClaw", {}
    for name, label in CONFIG_NAMES:
        if (directory / name).exists():
            config_path, product = directory / name, label
            loaded = _json(config_path)
            config = loaded if isinstance(loaded, dict) else {}
            break
    agents = sorted(
        directory.glob("agents/*/agent/auth-profiles.json"), key=lambda p: (p.parts[-3] != "main", str(p))
    )
    files = [*agents, *[p for p in [directory / "agent" / "auth-profiles.json"] if p.exists()]]
    profiles: dict[str, Mapping[str, Any]] = {}
    for path in files:
        doc = _json(path)
        raw = doc.get("profiles") if isinstance(doc, dict) else None
        for pid, entry in (raw or {}).items() if isinstance(raw, dict) else ():
            if isinstance(entry, dict):
                profiles.setdefault(str(pid), entry)
    if config_path is None and not files:
        raise ImportFailed(
            f"{directory} holds neither openclaw.json/clawdbot.json nor agents/*/agent/auth-profiles.json"
        )
    return Source(directory, product, config_path, config, profiles, tuple(files))


def model_chain(config: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """``agents.defaults.model`` as (primary, fallbacks); refs are lower-cased like OpenClaw does."""
    agents = config.get("agents") if isinstance(config.get("agents"), dict) else {}
    defaults = agents.get("defaults") if isinstance(agents.get("defaults"), dict) else {}
    model = defaults.get("model")
    if isinstance(model, str):
        return model.strip().lower() or None, []
    if not isinstance(model, dict):
        return None, []
    primary = model.get("primary")
    fallbacks = model.get("fallbacks") if isinstance(model.get("fallbacks"), list) else []
    return (
        primary.strip().lower() if isinstance(primary, str) and primary.strip() else None,
        [f.strip().lower() for f in fallbacks if isinstance(f, str) and f.strip()],
    )


def _usable_ref(ref: str, providers: frozenset[str]) -> bool:
    provider, sep, model = ref.partition("/")
    return bool(sep and model) and provider in providers


def plan_import(
    source: Source,
    *,
    existing: frozenset[str],
    claude_refresh_fp: str | None,
    config_text: str | None,
    config_path: Path,
) -> ImportPlan:
    """Pure: what importing ``source`` into a Nexus store holding ``existing`` profiles would do."""
    plan = ImportPlan()
    plan.lines.append(f"source: {source.directory} ({source.product})")
    current: dict[str, Any] = {}
    if config_text:
        try:
            current = tomllib.loads(config_text)
        except tomllib.TOMLDecodeError:
            current = {"models": "unreadable"}
    providers = BUILTIN_PROVIDERS | frozenset(
        (current.get("providers") or {}) if isinstance(current.get("providers"), dict) else ()
    )
    primary, fallbacks = model_chain(source.config)
    if primary is not None:
        chain = [r for r in [primary, *fallbacks] if _usable_ref(r, providers)]
        dropped = [r for r in [primary, *fallbacks] if r not in chain]
        for ref in dropped:
            plan.lines.append(
                f"model {ref}: skipped (provider not known to Nexus; add a [providers.NAME] table first)"
            )
        if chain:
            plan.models = (chain[0], list(dict.fromkeys(chain[1:])))
            shown = " -> ".join([plan.models[0], *plan.models[1]])
            if "models" in current:
                plan.lines.append(
                    f"model chain: {shown}: not written, {config_path} already has [models] (kept)"
                )
            else:
                plan.config_text = (config_text.rstrip("\n") + "\n\n" if config_text else "") + _models_toml(
                    *plan.models
                )
                plan.lines.append(f"model chain: {shown} -> [models] in {config_path}")
    for pid, entry in source.profiles.items():
        kind = str(entry.get("type"))
        provider = str(entry.get("provider") or pid.split(":", 1)[0])
        label = f"profile {pid} ({kind}, {provider})"
        if pid in existing:
            plan.lines.append(f"{label}: a Nexus profile with this name exists: kept, not replaced")
            continue
        if kind == "oauth":
            refresh = entry.get("refresh")
            same_as_claude = (
                isinstance(refresh, str)
                and claude_refresh_fp is not None
                and Secret(refresh).fingerprint() == claude_refresh_fp
            )
            if provider == "anthropic" and (pid == CLAUDE_CLI_PROFILE or same_as_claude):
                plan.profiles.append(
                    Profile(name=pid, type=ProfileType.BORROWED, provider="anthropic", source=CLAUDE_CODE)
                )
                plan.lines.append(f"{label}: borrowed from Claude Code (read, never refreshed by Nexus)")
            else:
                plan.lines.append(
                    f"{label}: skipped: {source.product} keeps refreshing it and a copy would log one of the "
                    f"two out; give Nexus its own with `nexus auth login {provider}` or `nexus auth add-token {provider}`"
                )
            continue
        parsed = parse_profile(pid, {**entry, "provider": provider})
        if isinstance(parsed, Profile) and parsed.type in (ProfileType.TOKEN, ProfileType.API_KEY):
            plan.profiles.append(parsed)
            plan.lines.append(f"{label}: copied (not refreshable, safe to share)")
        else:
            why = parsed.problem if not isinstance(parsed, Profile) else f"type {kind} is not imported"
            plan.lines.append(f"{label}: skipped: {why}")
    importable = {p.name for p in plan.profiles} | existing
    auth = source.config.get("auth") if isinstance(source.config.get("auth"), dict) else {}
    order = auth.get("order") if isinstance(auth.get("order"), dict) else {}
    for provider, names in order.items():
        kept = [str(n) for n in names if str(n) in importable] if isinstance(names, list) else []
        if kept:
            plan.order[str(provider)] = kept
            plan.lines.append(f"order {provider}: {', '.join(kept)}")
    if not plan.profiles and plan.models is None:
        plan.lines.append("nothing to import")
    return plan


def _models_toml(primary: str, fallbacks: list[str]) -> str:
    quoted = ", ".join(json.dumps(f) for f in fallbacks)
    return f"# imported from OpenClaw by `nexus import openclaw`\n[models]\nprimary = {json.dumps(primary)}\nfallbacks = [{quoted}]\n"


def claude_refresh_fingerprint(environ: Mapping[str, str]) -> str | None:
    """Fingerprint of Claude Code's refresh token (to recognise OpenClaw's copy of it), never the token."""
    try:
        raw = json.loads(claude_code_credentials_path(environ).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    block = raw.get("claudeAiOauth") if isinstance(raw, dict) else None
    token = block.get("refreshToken") if isinstance(block, dict) else None
    return Secret(token).fingerprint() if isinstance(token, str) and token else None


def apply_import(plan: ImportPlan, store: Any, paths: NexusPaths) -> list[str]:
    """Write the plan: profiles (never over an existing one), order, then ``nexus.toml``."""
    done = []
    for profile in plan.profiles:
        if store.has(profile.name):
            done.append(f"kept existing profile {profile.name}")
            continue
        store.put(profile)
        done.append(f"added profile {profile.name}")
    for provider, names in plan.order.items():
        store.set_order(provider, names)
        done.append(f"set order {provider}: {', '.join(names)}")
    if plan.config_text is not None:
        NexusConfig.model_validate(tomllib.loads(plan.config_text))  # never write a config that won't load
        paths.home.mkdir(parents=True, exist_ok=True)
        atomic_write_text(paths.config_file, plan.config_text, mode=0o600)
        done.append(f"wrote [models] to {paths.config_file}")
    return done
