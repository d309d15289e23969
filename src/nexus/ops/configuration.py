"""Is ``nexus.toml`` usable? The loader already names every bad key path; the doctor repeats them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nexus.common import NexusPaths
from nexus.config import ConfigError, NexusConfig, load_config
from nexus.ops.findings import Finding, Severity, ok


@dataclass(frozen=True)
class ConfigFacts:
    path: str
    exists: bool
    problems: tuple[str, ...]
    config: NexusConfig
    """The loaded config, or the defaults (plus NEXUS_PORT) when the file is broken."""


def gather_config(paths: NexusPaths, *, environ: Mapping[str, str]) -> ConfigFacts:
    try:
        config = load_config(paths, environ=environ)
        problems: tuple[str, ...] = ()
    except ConfigError as exc:
        problems = tuple(exc.problems)
        port = environ.get("NEXUS_PORT", "")
        config = NexusConfig.model_validate({"gateway": {"port": int(port)}} if port.isdigit() else {})
    return ConfigFacts(str(paths.config_file), paths.config_file.exists(), problems, config)


def check_config(facts: ConfigFacts) -> Finding:
    if facts.problems:
        return Finding(
            "config",
            Severity.ERROR,
            f"{facts.path} is invalid (the gateway exits 78 and is not restarted): "
            + "; ".join(facts.problems),
            remedy=f"fix those keys (docs/config.md), or copy {facts.path}.last-good back",
            details={"problems": list(facts.problems)},
        )
    if not facts.exists:
        return ok("config", f"no {facts.path}: the defaults apply")
    return ok("config", f"{facts.path} is valid")
