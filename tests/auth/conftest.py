"""Fixtures for the auth tests: a real token endpoint, a store path, a local mount table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus.fakes.oauth_server import FakeOAuthServer


@pytest.fixture
def oauth() -> Iterator[FakeOAuthServer]:
    with FakeOAuthServer(access_ttl=3600.0) as fake:
        yield fake


@pytest.fixture
def local_mounts(tmp_path: Path) -> Path:
    """A mount table saying everything is on a local ext4, whatever this machine really uses."""
    path = tmp_path / "mounts"
    path.write_text("/dev/sda1 / ext4 rw,relatime 0 0\n")
    return path


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home / "auth-profiles.json"


def write_store(path: Path, profiles: dict[str, dict[str, Any]], **top: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "profiles": profiles, **top}))
    path.chmod(0o600)


def read_store(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def refresh_directly(token_url: str, client_id: str, refresh: str) -> dict[str, Any]:
    """What a sibling program (Claude Code) does: spend a refresh token on its own."""
    import httpx

    body = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id}
    response = httpx.post(token_url, json=body, timeout=5)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
