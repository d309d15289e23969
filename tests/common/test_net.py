"""One answer to "is this address this machine?" (the bind check, proxy bypass, the Telegram fake)."""

from __future__ import annotations

import pytest

from nexus.common.net import is_loopback, is_loopback_url


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),  # all of 127/8, which the oauth copy used to miss
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("192.168.1.2", False),
        ("localhost.example.com", False),
        ("", False),
        ("not an address", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080/bot", True),
        ("http://[::1]:9/x", True),
        ("https://localhost/", True),
        ("https://api.telegram.org", False),
        ("http://[::1", False),  # unparsable: never loopback
        ("", False),
    ],
)
def test_is_loopback_url(url: str, expected: bool) -> None:
    assert is_loopback_url(url) is expected
