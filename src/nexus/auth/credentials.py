"""What a provider adapter needs to authenticate one request, and where it gets it from.

The router asks a :class:`CredentialSource` for the profiles of a provider in order, gets a live
:class:`Credential` for one (refreshing it first when due), and reports a 401 so the source can force
one refresh. Issue "auth profiles" implements the real store; :class:`EnvCredentialSource` serves the
standard environment variables (``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``...) until then and beside it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from nexus.common.secret import Secret
from nexus.config.providers import DEFAULT_KEY_ENV


class CredentialKind(StrEnum):
    API_KEY = "api_key"  # sent as x-api-key (Anthropic) or Bearer (OpenAI-compatible)
    BEARER = "bearer"  # OAuth access token or long-lived token: Authorization: Bearer + oauth beta header


@dataclass(frozen=True)
class Credential:
    profile: str
    kind: CredentialKind
    secret: Secret
    account: str | None = None


@dataclass(frozen=True)
class ProfileState:
    """Why a profile can or cannot serve right now (for routing, readiness and status)."""

    profile: str
    provider: str
    usable: bool
    reason: str | None = None
    """When not usable: a sentence naming the problem and the command that fixes it."""


class CredentialSource(Protocol):
    """Credentials per provider, in the order they should be tried."""

    def profiles(self, provider: str) -> list[ProfileState]: ...

    async def credential(self, profile: str) -> Credential:
        """A live credential for ``profile``, refreshed first when it is due. Raises AuthError."""
        ...

    async def unauthorized(self, profile: str, rejected: Credential) -> Credential | None:
        """The provider answered 401 to ``rejected``: force one refresh; None if nothing better exists."""
        ...

    def revoked(self, profile: str, reason: str) -> None:
        """The provider says the credential is dead for good: stop offering it until a human acts."""
        ...


class EnvCredentialSource:
    """API keys from environment variables: profile ``<provider>:env``.

    ``keyless`` providers (a local Ollama) get an empty key that OpenAI-compatible servers ignore.
    """

    def __init__(
        self,
        *,
        key_env: Mapping[str, str] | None = None,
        keyless: frozenset[str] = frozenset(),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._key_env = dict(DEFAULT_KEY_ENV if key_env is None else key_env)
        self._keyless = keyless
        self._environ = os.environ if environ is None else environ

    def _value(self, provider: str) -> str | None:
        if provider in self._keyless:
            return ""
        name = self._key_env.get(provider)
        value = self._environ.get(name) if name else None
        return value or None

    def profiles(self, provider: str) -> list[ProfileState]:
        name = f"{provider}:env"
        if self._value(provider) is not None:
            return [ProfileState(profile=name, provider=provider, usable=True)]
        var = self._key_env.get(provider)
        if var is None:
            return []
        return [
            ProfileState(
                profile=name,
                provider=provider,
                usable=False,
                reason=f"{var} is not set: export it, or run `nexus auth add-key {provider}`",
            )
        ]

    async def credential(self, profile: str) -> Credential:
        provider = profile.split(":", 1)[0]
        value = self._value(provider)
        if value is None:
            from nexus.auth.errors import CredentialUnavailable

            raise CredentialUnavailable(profile, f"no API key in the environment for {provider}")
        return Credential(profile=profile, kind=CredentialKind.API_KEY, secret=Secret(value))

    async def unauthorized(self, profile: str, rejected: Credential) -> Credential | None:
        return None

    def revoked(self, profile: str, reason: str) -> None:
        return None
