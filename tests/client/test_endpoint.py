"""Where the client looks for the gateway and its token."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.client import Endpoint
from nexus.common.paths import NexusPaths


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("127.0.0.1", "http://127.0.0.1:18789"),
        ("0.0.0.0", "http://127.0.0.1:18789"),  # bound everywhere: reach it through loopback
        ("::1", "http://[::1]:18789"),
        ("localhost", "http://localhost:18789"),
    ],
)
def test_address(tmp_path: Path, host: str, base_url: str) -> None:
    endpoint = Endpoint.local(NexusPaths(home=tmp_path), port=18789, host=host, environ={})
    assert endpoint.base_url == base_url
    assert endpoint.ws_url == base_url.replace("http", "ws", 1) + "/ws"


def test_token_from_file_env_or_none(tmp_path: Path) -> None:
    paths = NexusPaths(home=tmp_path)
    assert Endpoint.local(paths, port=1, environ={}).token is None
    (tmp_path / "gateway.token").write_text("from-file\n")
    assert Endpoint.local(paths, port=1, environ={}).token.reveal() == "from-file"  # type: ignore[union-attr]
    env = {"NEXUS_GATEWAY_TOKEN": "from-env"}
    endpoint = Endpoint.local(paths, port=1, environ=env)
    assert endpoint.token.reveal() == "from-env"  # type: ignore[union-attr]
    assert "from-env" not in repr(endpoint)  # the token never prints itself
