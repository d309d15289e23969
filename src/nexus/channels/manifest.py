"""A channel plugin's manifest: dependency-free facts the gateway and the CLI need before (and without)
importing the platform SDK. The runtime is imported only when the channel is enabled.

Config tables are validated here with the manifest's pydantic model, so every problem names its key
as ``channels.<name>.<key>``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from nexus.channels.errors import ChannelConfigError


@dataclass(frozen=True)
class ChannelManifest:
    name: str
    title: str
    config_model: type[BaseModel]
    runtime: str
    """``module:factory`` of the adapter, imported only when the channel runs."""
    secret_prompt: str
    """What ``nexus channels add NAME`` asks for on stdin."""
    secret_check: Callable[[str], str | None]
    """Returns why a secret is malformed (never echoing it), or None."""
    secret_prompts: tuple[str, ...] = ()
    """For a secret of several parts (Slack: app token, then bot token): one prompt per part, each
    read as one line of stdin; the parts are stored joined by newlines. Empty: one part."""
    webhook_paths: tuple[str, ...] = ()
    """Paths (``/webhook``) the platform calls, served at ``/channels/NAME/...`` without the gateway
    token; the adapter must be a :class:`~nexus.channels.base.WebhookChannel` and check each request."""

    def webhook_urls(self) -> frozenset[str]:
        """The gateway paths of :attr:`webhook_paths` (what the token middleware leaves open)."""
        return frozenset(f"/channels/{self.name}{path}" for path in self.webhook_paths)

    def validate(self, table: Mapping[str, Any]) -> BaseModel:
        try:
            return self.config_model.model_validate(dict(table))
        except ValidationError as exc:
            raise ChannelConfigError([self._describe(err) for err in exc.errors()]) from None

    def _describe(self, err: Mapping[str, Any]) -> str:
        key = ".".join(["channels", self.name, *(str(p) for p in err.get("loc", ()))])
        if err.get("type") == "extra_forbidden":
            allowed = ", ".join(sorted(self.config_model.model_fields))
            return f"{key}: unknown key; allowed here: {allowed}"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        return f"{key}: {err.get('msg', 'invalid value')}{shown}"

    def load_factory(self) -> Callable[..., Any]:
        module_name, _, attr = self.runtime.partition(":")
        factory: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
        return factory
