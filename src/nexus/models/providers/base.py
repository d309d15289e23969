"""The one I/O seam between Nexus and a model API: stream one request with one credential.

An adapter translates its SDK's exceptions into :mod:`nexus.models.errors` and nothing else
escapes it. Fakes in tests speak the real wire protocol to the real adapters instead of replacing them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from nexus.auth.credentials import Credential
from nexus.models.types import ModelRequest, StreamItem


class Provider(Protocol):
    name: str
    """The provider's config name (``anthropic``, ``openai``, ``ollama``...)."""

    def stream(self, request: ModelRequest, credential: Credential) -> AsyncIterator[StreamItem]:
        """Yield ``TextDelta`` items then one ``StreamEnd``; raise a ``ProviderError`` on failure."""
        ...

    async def aclose(self) -> None: ...
