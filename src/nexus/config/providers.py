"""The built-in model providers and their key variables: the one table the auth store, the router
factory and the doctor read (issue 12: it used to be written twice, and "keyless" decided thrice).

    name        kind        base URL (env override)                          key variable
    anthropic   anthropic   https://api.anthropic.com (ANTHROPIC_BASE_URL)   ANTHROPIC_API_KEY
    openai      openai      https://api.openai.com/v1 (OPENAI_BASE_URL)      OPENAI_API_KEY
    openrouter  openai      https://openrouter.ai/api/v1                     OPENROUTER_API_KEY
    ollama      openai      http://127.0.0.1:11434/v1                        (keyless)

A ``[providers.NAME]`` table overrides a built-in's fields or adds an endpoint; its ``api_key_env``
names the key variable. An OpenAI-compatible provider with no key variable at all is **keyless** (a
local server: no ``Authorization`` header); an Anthropic-kind one never is (it needs a profile).
"""

from __future__ import annotations

from dataclasses import dataclass

from nexus.config.schema import NexusConfig


@dataclass(frozen=True)
class Builtin:
    kind: str
    base_url: str
    base_url_env: str | None
    key_env: str | None


BUILTINS: dict[str, Builtin] = {
    "anthropic": Builtin("anthropic", "https://api.anthropic.com", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"),
    "openai": Builtin("openai", "https://api.openai.com/v1", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
    "openrouter": Builtin("openai", "https://openrouter.ai/api/v1", None, "OPENROUTER_API_KEY"),
    "ollama": Builtin("openai", "http://127.0.0.1:11434/v1", None, None),
}

DEFAULT_KEY_ENV: dict[str, str] = {name: b.key_env for name, b in BUILTINS.items() if b.key_env}
"""The built-ins' key variables (what applies with no config at all)."""


def provider_kind(name: str, config: NexusConfig) -> str:
    builtin = BUILTINS.get(name)
    table = config.providers.get(name)
    if table is not None and (builtin is None or "kind" in table.model_fields_set):
        return table.kind
    return builtin.kind if builtin is not None else "openai"


def key_env(name: str, config: NexusConfig) -> str | None:
    """The environment variable holding ``name``'s API key (None: it has none)."""
    table = config.providers.get(name)
    builtin = BUILTINS.get(name)
    return (table.api_key_env if table is not None else None) or (builtin.key_env if builtin else None)


def key_envs(config: NexusConfig) -> dict[str, str]:
    """Every known provider's key variable, the tables' over the built-ins'."""
    names = set(BUILTINS) | set(config.providers)
    return {name: var for name in sorted(names) if (var := key_env(name, config)) is not None}


def is_keyless(name: str, config: NexusConfig) -> bool:
    """Served with no credential at all: an OpenAI-compatible endpoint without a key variable."""
    known = name in BUILTINS or name in config.providers
    return known and key_env(name, config) is None and provider_kind(name, config) == "openai"


def keyless_providers(config: NexusConfig) -> frozenset[str]:
    return frozenset(n for n in set(BUILTINS) | set(config.providers) if is_keyless(n, config))
