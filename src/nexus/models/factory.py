"""Build the router from config: the built-in providers, ``[providers.NAME]`` tables, the environment.

The built-ins and their key variables are one table, :mod:`nexus.config.providers`, shared with the
auth store. A ``[providers.NAME]`` table overrides a built-in's fields or adds an endpoint; the
``*_BASE_URL`` variables win over the table (the environment overrides files, as ``NEXUS_PORT``
does). A table of a new provider needs ``base_url``.

The credential source is used as given: the gateway's (``nexus.auth.open_credentials``) already puts
the environment's keys after the store's profiles, and ``nexus.auth.source.env_source`` is the
environment alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from nexus.auth.credentials import CredentialSource
from nexus.common.clock import Clock
from nexus.common.paths import NexusPaths
from nexus.config.loader import ConfigError
from nexus.config.providers import BUILTINS, key_env, keyless_providers, provider_kind
from nexus.config.schema import NexusConfig, ProviderConfig
from nexus.models.cooldown_store import CooldownStore, JsonCooldownStore
from nexus.models.providers._common import StreamTimeouts, shared_client
from nexus.models.providers.anthropic import AnthropicProvider
from nexus.models.providers.base import Provider
from nexus.models.providers.openai_compat import OpenAICompatProvider
from nexus.models.router import Router


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as it will be used: everything resolved."""

    name: str
    kind: str
    base_url: str
    key_env: str | None
    config: ProviderConfig


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
        kind = provider_kind(name, config)
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
        specs[name] = ProviderSpec(name, kind, base_url.rstrip("/"), key_env(name, config), table)
    if problems:
        raise ConfigError(paths.config_file, problems)
    return specs


def make_provider(spec: ProviderSpec, client: httpx.AsyncClient) -> Provider:
    timeouts = StreamTimeouts.from_config(spec.config)
    if spec.kind == "anthropic":
        return AnthropicProvider(spec.name, spec.base_url, timeouts, client=client)
    return OpenAICompatProvider(spec.name, spec.base_url, timeouts, client=client)


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
        credentials=credentials,
        store=store if store is not None else JsonCooldownStore(paths.cooldowns),
        clock=clock,
        turn_timeout_s=config.models.turn_timeout_s,
        max_attempts=config.models.max_attempts,
        max_tokens=config.models.max_tokens,
        context_windows={name: spec.config.context_window for name, spec in specs.items()},
        keyless=keyless_providers(config),
        aclose_after=(client.aclose,),
    )
