"""Contract tests run over every channel plugin in the registry: what the manager relies on."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from nexus.channels.base import TransportHealth
from nexus.channels.errors import ChannelConfigError, ChannelError, SendError
from nexus.channels.manifest import ChannelManifest
from nexus.channels.registry import MANIFESTS
from nexus.common.secret import Secret
from tests.channels.conftest import new_token

PLUGINS = sorted(MANIFESTS.values(), key=lambda m: m.name)
ASYNC_METHODS = ("start", "receive", "stop", "send", "edit", "typing")


@pytest.fixture(params=PLUGINS, ids=lambda m: m.name)
def plugin(request: pytest.FixtureRequest) -> ChannelManifest:
    manifest: ChannelManifest = request.param
    return manifest


def test_manifest_shape(plugin: ChannelManifest) -> None:
    assert MANIFESTS[plugin.name] is plugin
    settings = plugin.validate({})
    for attribute in ("enabled", "pairing", "edit_interval_s"):
        assert hasattr(settings, attribute)
    assert isinstance(settings.allow_ids(), set)  # type: ignore[attr-defined]
    assert isinstance(settings.owner_chats(), list)  # type: ignore[attr-defined]


def test_unknown_keys_are_refused_by_name(plugin: ChannelManifest) -> None:
    with pytest.raises(ChannelConfigError) as caught:
        plugin.validate({"no_such_key": 1})
    assert f"channels.{plugin.name}.no_such_key: unknown key" in str(caught.value)


def test_secret_check_never_echoes(plugin: ChannelManifest) -> None:
    for bad in ("", "x", "not a secret at all " * 3, "zq7Hk2-secret-ish"):
        problem = plugin.secret_check(bad)
        assert problem is not None
        assert len(bad.strip()) < 3 or bad not in problem  # a single letter occurs in any sentence


async def test_runtime_honours_the_channel_contract(plugin: ChannelManifest, tmp_path: Path) -> None:
    factory = plugin.load_factory()
    token = new_token()
    channel = factory(config=plugin.validate({}), token=Secret(token), lock_dir=tmp_path, clock=None)
    assert channel.name == plugin.name
    assert isinstance(channel.message_limit, int) and channel.message_limit > 0
    for name in ASYNC_METHODS:
        assert inspect.iscoroutinefunction(getattr(channel, name)), name
    health = channel.health()
    assert isinstance(health, TransportHealth) and health.alive is False
    with pytest.raises(SendError):
        await channel.send("1", "hi")  # not started: our error type, never an SDK's
    with pytest.raises(ChannelError):
        await channel.edit("1", "2", "hi")
    await channel.stop()  # safe before start, and twice
    await channel.stop()
    assert token not in repr(channel) and token not in str(channel)
