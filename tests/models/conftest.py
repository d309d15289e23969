"""Helpers for router tests: a credential source with several profiles, and a router on the fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nexus.auth.credentials import Credential, CredentialKind, ProfileState
from nexus.auth.errors import CredentialUnavailable
from nexus.common.clock import FakeClock, SystemClock
from nexus.common.paths import NexusPaths
from nexus.common.secret import Secret
from nexus.config.schema import NexusConfig
from nexus.models.factory import build_router
from nexus.models.router import Router
from nexus.models.turn import RouterEvent, Turn
from nexus.models.types import ChatMessage


@dataclass
class ProfilesSource:
    """A real CredentialSource: profiles per provider, each with a current secret.

    ``refreshed`` holds what a forced refresh yields per profile (absent: nothing better).
    """

    profiles_by_provider: dict[str, list[str]]
    secrets: dict[str, str]
    kinds: dict[str, CredentialKind] = field(default_factory=dict)
    refreshed: dict[str, str] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)
    revoked_calls: list[tuple[str, str]] = field(default_factory=list)
    unauthorized_calls: list[str] = field(default_factory=list)

    def profiles(self, provider: str) -> list[ProfileState]:
        return [
            ProfileState(p, provider, p not in self.unusable, self.unusable.get(p))
            for p in self.profiles_by_provider.get(provider, [])
        ]

    async def credential(self, profile: str) -> Credential:
        if profile in self.unusable:
            raise CredentialUnavailable(profile, self.unusable[profile])
        kind = self.kinds.get(profile, CredentialKind.API_KEY)
        return Credential(profile, kind, Secret(self.secrets[profile]))

    async def unauthorized(self, profile: str, rejected: Credential) -> Credential | None:
        self.unauthorized_calls.append(profile)
        fresh = self.refreshed.pop(profile, None)
        if fresh is None:
            return None
        self.secrets[profile] = fresh
        return await self.credential(profile)

    def revoked(self, profile: str, reason: str) -> None:
        self.revoked_calls.append((profile, reason))
        self.unusable[profile] = f"revoked: {reason}"


class Events(list[RouterEvent]):
    """An EventSink that keeps what it hears."""

    def __call__(self, event: RouterEvent) -> None:
        self.append(event)

    def of(self, cls: type) -> list[Any]:
        return [e for e in self if isinstance(e, cls)]


def turn(text: str = "hello", **kwargs: Any) -> Turn:
    return Turn(run_id="r1", messages=(ChatMessage("user", text),), **kwargs)


RouterFactory = Callable[..., Router]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_router(tmp_path: Path, clock: FakeClock) -> AsyncIterator[RouterFactory]:
    """``make_router(config, credentials, environ)`` -> a Router on the real providers; closed after the test."""
    routers: list[Router] = []

    def make(
        config: Mapping[str, Any],
        credentials: Any,
        environ: Mapping[str, str],
        *,
        home: Path | None = None,
        real_clock: bool = False,
    ) -> Router:
        paths = NexusPaths(home=home or tmp_path / "home")
        paths.ensure()
        router = build_router(
            NexusConfig.model_validate(config),
            paths,
            credentials,
            clock=SystemClock() if real_clock else clock,
            environ=dict(environ),
        )
        routers.append(router)
        return router

    yield make
    for router in routers:
        await router.aclose()
