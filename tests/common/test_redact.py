"""The one redactor: every secret kind Nexus handles, in every place a secret turns up."""

from __future__ import annotations

import secrets

import pytest

from nexus.common.redact import Redactor, redact
from nexus.ops.processes import redact_argv

B62 = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"

# kind -> a realistic value (fake, but of the real shape)
SECRETS = {
    "anthropic api key": "sk-ant-api03-" + (B62 * 3)[:93] + "-Q1w2AA",
    "oauth access token": "sk-ant-oat01-" + (B62 * 3)[:95] + "AA",
    "oauth refresh token": "sk-ant-ort01-" + (B62 * 3)[:95] + "AA",
    "setup token": "sk-ant-oat01-" + (B62[::-1] * 3)[:95] + "AA",
    "openai project key": "sk-proj-" + (B62 * 4)[:124],
    "openai legacy key": "sk-" + (B62 * 2)[:48],
    "telegram bot token": "7212345678:AAH" + B62[:32],
    "slack bot token": "xoxb-1234567890-1234567890123-" + B62[:24],
    "slack app token": "xapp-1-A0123456789-1234567890123-" + "0123456789abcdef" * 4,
    "discord bot token": "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhIjKl." + B62[:38],
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
CONTEXTS = [
    "{}",
    "error at https://api.example.test/v1/{}/models",
    '{{"api_key": "{}", "x": 1}}',
    "headers={{'x-api-key': '{}'}}",
    "Authorization: Bearer {}",
    "token={}&next=1",
]


@pytest.mark.parametrize("kind", sorted(SECRETS))
@pytest.mark.parametrize("context", CONTEXTS)
def test_every_secret_kind_is_masked_in_every_context(kind: str, context: str) -> None:
    value = SECRETS[kind]
    text = context.format(value)
    cleaned = redact(text)
    assert value not in cleaned
    assert value[-12:] not in cleaned, cleaned  # not even its tail
    assert "<redacted>" in cleaned or "<bot-token>" in cleaned


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Bearer abcdef123456", "Bearer <redacted>"),
        ("sk-ant-oat01-" + B62, "sk-ant-oat01-<redacted>"),  # the kind stays visible
        ("xoxb-" + B62, "xoxb-<redacted>"),
        ("POST /bot7212345678:AAH" + B62[:32] + "/getMe", "POST /bot<bot-token>/getMe"),
        ("model claude-opus-4-5 answered in 1.2s", "model claude-opus-4-5 answered in 1.2s"),
        ("run 01JABCDEF0123456789 at 12:34:56", "run 01JABCDEF0123456789 at 12:34:56"),
        ("session telegram:123456789", "session telegram:123456789"),
        ("api_key: <redacted>", "api_key: <redacted>"),  # idempotent
    ],
)
def test_redaction_keeps_what_is_not_a_secret(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(redact(text)) == shown


def test_a_shapeless_secret_is_masked_once_registered() -> None:
    token = secrets.token_urlsafe(32)  # the gateway token has no shape
    redactor = Redactor()
    assert token in redactor(f"client sent {token}")
    redactor.add(token, None, "short")
    assert redactor(f"client sent {token}") == "client sent <redacted>"
    assert redactor("short stays") == "short stays"  # too short to mask without hiding real words


def test_argv_redaction_uses_the_shared_shapes_too() -> None:
    key = SECRETS["anthropic api key"]
    assert redact_argv(["proxy", key]) == ["proxy", "sk-ant-api03-<redacted>"]
    assert redact_argv(["srv", "--api-key", key]) == ["srv", "--api-key", "***"]
