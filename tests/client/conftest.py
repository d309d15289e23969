"""Client tests run against the in-process gateway on a real socket (tests/gateway/conftest.py)."""

from __future__ import annotations

from tests.gateway.conftest import gateway, router  # noqa: F401  (fixtures)
