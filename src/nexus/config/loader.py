"""Load ``nexus.toml``: refuse bad files with the key path named; keep the last good copy.

A config error is fatal for the gateway (exit 78): a supervisor must not restart into the same error.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nexus.common.atomic import atomic_write_bytes
from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.errors import EX_CONFIG, NexusError


class ConfigError(NexusError):
    """``nexus.toml`` cannot be used; ``problems`` lists one line per bad key."""

    exit_code = EX_CONFIG

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid config {path}:\n{lines}\nfix the file (see docs/config.md) and start again"
        )


def load_config(paths: NexusPaths, *, environ: Mapping[str, str] | None = None) -> NexusConfig:
    """Read, validate and apply environment overrides; save a last-good copy on success."""
    env = os.environ if environ is None else environ
    path = paths.config_file
    raw_bytes: bytes | None = None
    data: dict[str, Any] = {}
    if path.exists():
        raw_bytes = path.read_bytes()
        try:
            data = tomllib.loads(raw_bytes.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(path, [f"not valid TOML: {exc}"]) from exc
    port_override = env.get("NEXUS_PORT")
    if port_override:
        data.setdefault("gateway", {})
        if isinstance(data["gateway"], dict):
            try:
                data["gateway"]["port"] = int(port_override)
            except ValueError as exc:
                raise ConfigError(
                    path, [f"NEXUS_PORT: {port_override!r} is not a port number (1-65535)"]
                ) from exc
    try:
        config = NexusConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, [_describe(err) for err in exc.errors()]) from exc
    if raw_bytes is not None:
        _save_last_good(paths, raw_bytes)
    return config


def _describe(err: Mapping[str, Any]) -> str:
    loc = list(err.get("loc", ()))
    if len(loc) >= 2 and loc[0] == "cron" and isinstance(loc[1], int):
        loc[:2] = [f"[[cron]] #{loc[1] + 1}"]  # an array of tables has no names in the key path
    key = ".".join(str(part) for part in loc) or "(top level)"
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        parent = key.rpartition(".")[0]
        allowed = _allowed_keys(parent)
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"{key}: unknown key{hint}"
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{key}: {message}{shown}"


def _allowed_keys(dotted_parent: str) -> list[str]:
    """The keys a table accepts, found by walking the schema along the error's key path."""
    model: Any = NexusConfig
    parts = [p for p in dotted_parent.split(".") if p]
    index = 0
    while index < len(parts):
        fields = getattr(model, "model_fields", None)
        if fields is None or parts[index] not in fields:
            return []
        annotation = fields[parts[index]].annotation
        if getattr(annotation, "__origin__", None) is dict:
            model = annotation.__args__[1]
            index += 2  # skip the table's own name, e.g. providers.<NAME>
        else:
            model = annotation
            index += 1
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else []


def _save_last_good(paths: NexusPaths, raw: bytes) -> None:
    target = paths.last_good_config
    try:
        if target.exists() and target.read_bytes() == raw:
            return
        atomic_write_bytes(target, raw, mode=0o600)
    except OSError:
        pass  # a read-only home must not stop a valid config from loading
