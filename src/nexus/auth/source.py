"""The one credential source the router and the gateway use: the profile store, then the environment.

``open_credentials`` is the factory: it resolves where the store lives (``NEXUS_AUTH_STORE``, then
``[auth] store``, then ``$NEXUS_HOME/auth-profiles.json``), refuses an unreliable filesystem, and puts
the environment's API keys after the store's profiles as ``<provider>:env``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from nexus.auth.credentials import (
    Credential,
    CredentialSource,
    EnvCredentialSource,
    ProfileState,
)
from nexus.auth.events import AuthEventSink
from nexus.auth.filesystem import PROC_MOUNTS
from nexus.auth.store import ProfileReport, ProfileStore
from nexus.common.clock import Clock
from nexus.common.paths import NexusPaths
from nexus.config.providers import key_envs, keyless_providers
from nexus.config.schema import NexusConfig


class CombinedSource:
    """Store profiles first, then environment keys; each profile is served by the source that owns it."""

    def __init__(self, store: ProfileStore, env: CredentialSource) -> None:
        self.store = store
        self.env = env

    def _owner(self, profile: str) -> CredentialSource:
        return self.store if self.store.has(profile) else self.env

    def profiles(self, provider: str) -> list[ProfileState]:
        mine = self.store.profiles(provider)
        names = {p.profile for p in mine}
        return mine + [p for p in self.env.profiles(provider) if p.profile not in names]

    async def credential(self, profile: str) -> Credential:
        return await self._owner(profile).credential(profile)

    async def unauthorized(self, profile: str, rejected: Credential) -> Credential | None:
        return await self._owner(profile).unauthorized(profile, rejected)

    def revoked(self, profile: str, reason: str) -> None:
        self._owner(profile).revoked(profile, reason)

    def profiles_report(self) -> list[ProfileReport]:
        """Rows for ``/status``: days left and state per stored profile, never a secret."""
        return self.store.report()

    def status_entry(self) -> tuple[str, dict[str, Any]]:
        """``("auth", {...})`` for the gateway's ``status_providers``; also fires due expiry warnings."""
        rows = self.store.report()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.provider] = counts.get(row.provider, 0) + 1
        return "auth", {
            "store": str(self.store.path),
            "profiles": [row.to_json() for row in rows],
            "single_profile_providers": sorted(p for p, n in counts.items() if n == 1),
        }


def resolve_store_path(config: NexusConfig, paths: NexusPaths, environ: Mapping[str, str]) -> Path:
    raw = environ.get("NEXUS_AUTH_STORE") or config.auth.store
    if raw:
        return Path(raw).expanduser().absolute()
    return paths.auth_store


def env_source(config: NexusConfig, environ: Mapping[str, str] | None = None) -> EnvCredentialSource:
    """API keys from each provider's key variable (the built-ins' and ``api_key_env``), keyless
    endpoints served with no key: the environment half of every credential source."""
    return EnvCredentialSource(key_env=key_envs(config), keyless=keyless_providers(config), environ=environ)


def open_credentials(
    config: NexusConfig,
    paths: NexusPaths,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    on_event: AuthEventSink | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    force_unreliable_fs: bool | None = None,
    mounts_path: Path = PROC_MOUNTS,
) -> CombinedSource:
    """The credential source for this process. Raises UnreliableFilesystem (naming where to move it)."""
    env = os.environ if environ is None else environ
    store = ProfileStore(
        resolve_store_path(config, paths, env),
        refresh_margin_s=config.auth.refresh_margin_s,
        lock_timeout_s=config.auth.lock_timeout_s,
        clock=clock,
        environ=dict(env),
        transport=transport,
        on_event=on_event,
        force_unreliable_fs=config.auth.force_unreliable_fs
        if force_unreliable_fs is None
        else force_unreliable_fs,
        mounts_path=mounts_path,
    )
    return CombinedSource(store, env_source(config, env))
