"""Build the router from config: the built-in providers, ``[providers.NAME]`` tables, the environment.

Built-ins (usable with no config at all):

    name        kind        base URL (env override)                          key variable
    anthropic   anthropic   https://api.anthropic.com (ANTHROPIC_BASE_URL)   ANTHROPIC_API_KEY
    openai      openai      https://api.openai.com/v1 (OPENAI_BASE_URL)      OPENAI_API_KEY
    openrouter  openai      https://openrouter.ai/api/v1                     OPENROUTER_API_KEY
    ollama      openai      http://127.0.0.1:11434/v1                        (keyless)

A ``[providers.NAME]`` table overrides a built-in's fields or adds an endpoint; the ``*_BASE_URL``
variables win over the table (the environment overrides files, as ``NEXUS_PORT`` does). A table of
a new provider needs ``base_url``; without ``api_key_env`` it is keyless.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from nexus.auth.credentials import Credential, CredentialSource, EnvCredentialSource, ProfileState
from nexus.common.clock import Clock
from nexus.common.paths import NexusPaths
from nexus.config.loader import ConfigError
from nexus.config.schema import NexusConfig, ProviderConfig
from nexus.models.cooldown_store import CooldownStore, JsonCooldownStore
from nexus.models.providers._common import StreamTimeouts, shared_client
from nexus.models.providers.anthropic import AnthropicProvider
from nexus.models.providers.base import Provider
from nexus.models.providers.openai_compat import OpenAICompatProvider
from nexus.models.router import Router


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


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as it will be used: everything resolved."""

    name: str
    kind: str
    base_url: str
    key_env: str | None
    config: ProviderConfig

    @property
    def keyless(self) -> bool:
        return self.key_env is None


def provider_specs(
    config: NexusConfig, paths: NexusPaths, *, environ: Mapping[str, str] | None = None
) -> dict[str, ProviderSpec]:
    """Every known provider (built-ins and tables), or ConfigError naming the key to fix."""
    env = os.environ if environ is None else environ
    specs: dict[str, ProviderSpec] = {}
    problems: list[str] = []
    for name in sorted(set(BUILTINS) | set(config.providers)):
        builtin = BUILTINS.get(name)
        table = config.providers.get(name)
        if table is None:
            table = ProviderConfig(kind=builtin.kind if builtin else "openai")  # type: ignore[arg-type]
        kind = table.kind if (builtin is None or "kind" in table.model_fields_set) else builtin.kind
        from_env = env.get(builtin.base_url_env) if builtin and builtin.base_url_env else None
        base_url = from_env or table.base_url or (builtin.base_url if builtin else None)
        if not base_url:
            problems.append(
                f"providers.{name}.base_url: required for a provider Nexus does not know "
                f'(e.g. base_url = "http://127.0.0.1:8000/v1")'
            )
            continue
        if not base_url.startswith(("http://", "https://")):
            problems.append(f"providers.{name}.base_url: {base_url!r} must start with http:// or https://")
            continue
        key_env = table.api_key_env or (builtin.key_env if builtin else None)
        specs[name] = ProviderSpec(name, kind, base_url.rstrip("/"), key_env, table)
    if problems:
        raise ConfigError(paths.config_file, problems)
    return specs


def make_provider(spec: ProviderSpec, client: httpx.AsyncClient) -> Provider:
    timeouts = StreamTimeouts.from_config(spec.config)
    if spec.kind == "anthropic":
        return AnthropicProvider(spec.name, spec.base_url, timeouts, client=client)
    return OpenAICompatProvider(spec.name, spec.base_url, timeouts, client=client)


def env_credentials(
    specs: Mapping[str, ProviderSpec], *, environ: Mapping[str, str] | None = None
) -> EnvCredentialSource:
    """API keys from each provider's key variable (``ANTHROPIC_API_KEY``, ``api_key_env``...)."""
    return EnvCredentialSource(
        key_env={name: spec.key_env for name, spec in specs.items() if spec.key_env},
        environ=environ,
    )


class WithEnvFallback:
    """The given credential source, plus environment keys for providers it has no profile for.

    So a ``[providers.NAME] api_key_env = ...`` works whatever source the gateway uses.
    """

    def __init__(self, primary: CredentialSource, fallback: CredentialSource) -> None:
        self._primary = primary
        self._fallback = fallback
        self._from_fallback: set[str] = set()

    def profiles(self, provider: str) -> list[ProfileState]:
        states = self._primary.profiles(provider)
        if states:
            return states
        states = self._fallback.profiles(provider)
        self._from_fallback.update(s.profile for s in states)
        return states

    def _source(self, profile: str) -> CredentialSource:
        return self._fallback if profile in self._from_fallback else self._primary

    async def credential(self, profile: str) -> Credential:
        return await self._source(profile).credential(profile)

    async def unauthorized(self, profile: str, rejected: Credential) -> Credential | None:
        return await self._source(profile).unauthorized(profile, rejected)

    def revoked(self, profile: str, reason: str) -> None:
        self._source(profile).revoked(profile, reason)


def build_router(
    config: NexusConfig,
    paths: NexusPaths,
    credentials: CredentialSource,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    store: CooldownStore | None = None,
    providers: Mapping[str, Provider] | None = None,
) -> Router:
    """The router for ``config``; cooldowns persist in ``<run>/cooldowns.json`` unless ``store`` is given.

    ``providers`` replaces built adapters by name (tests). Every adapter sends through one shared
    ``httpx.AsyncClient`` (one connection pool per gateway), closed by ``Router.aclose()``.
    """
    specs = provider_specs(config, paths, environ=environ)
    chain = config.chain()
    unknown = sorted({ref.provider for ref in chain} - set(specs))
    if unknown:
        known = ", ".join(sorted(specs))
        raise ConfigError(
            paths.config_file,
            [
                f"models: provider {name!r} is not known (known: {known}); "
                f"add a [providers.{name}] table with kind and base_url"
                for name in unknown
            ],
        )
    client = shared_client()
    built = {name: make_provider(spec, client) for name, spec in specs.items()}
    built.update(providers or {})
    return Router(
        chain=chain,
        providers=built,
        credentials=WithEnvFallback(credentials, env_credentials(specs, environ=environ)),
        store=store if store is not None else JsonCooldownStore(paths.cooldowns),
        clock=clock,
        turn_timeout_s=config.models.turn_timeout_s,
        max_attempts=config.models.max_attempts,
        max_tokens=config.models.max_tokens,
        context_windows={name: spec.config.context_window for name, spec in specs.items()},
        keyless=frozenset(name for name, spec in specs.items() if spec.keyless),
        aclose_after=(client.aclose,),
    )
