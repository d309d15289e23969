"""Building the router from config: built-ins, [providers.NAME] tables, environment, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.models.conftest import Events, RouterFactory, turn

from nexus.auth.credentials import EnvCredentialSource
from nexus.auth.source import env_source
from nexus.common.paths import NexusPaths
from nexus.config.loader import ConfigError
from nexus.config.providers import key_envs, keyless_providers
from nexus.config.schema import NexusConfig
from nexus.fakes._server import Error
from nexus.fakes.openai_server import FakeOpenAI
from nexus.models.factory import build_router, provider_specs


def specs(config: dict, environ: dict[str, str], tmp_path: Path) -> dict:
    return provider_specs(NexusConfig.model_validate(config), NexusPaths(home=tmp_path), environ=environ)


def test_builtins_exist_without_config(tmp_path: Path) -> None:
    s = specs({}, {}, tmp_path)
    assert {n: (v.kind, v.base_url, v.key_env) for n, v in s.items()} == {
        "anthropic": ("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
        "openai": ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        "openrouter": ("openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        "ollama": ("openai", "http://127.0.0.1:11434/v1", None),
    }
    none = NexusConfig()
    assert keyless_providers(none) == {"ollama"}
    custom = NexusConfig.model_validate(
        {
            "providers": {
                "local": {"base_url": "http://127.0.0.1:1/v1"},
                "keyed": {"base_url": "http://127.0.0.1:2/v1", "api_key_env": "K"},
                "proxy": {"kind": "anthropic", "base_url": "http://127.0.0.1:3"},
            }
        }
    )
    assert keyless_providers(custom) == {"ollama", "local"}  # one rule, read by auth and the factory
    assert key_envs(custom)["keyed"] == "K" and "proxy" not in key_envs(custom)


def test_environment_overrides_the_table_and_a_table_keeps_the_builtin_kind(tmp_path: Path) -> None:
    config = {"providers": {"anthropic": {"base_url": "https://proxy.example/anthropic"}}}
    assert specs(config, {}, tmp_path)["anthropic"].base_url == "https://proxy.example/anthropic"
    assert specs(config, {}, tmp_path)["anthropic"].kind == "anthropic"
    env = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/"}
    assert specs(config, env, tmp_path)["anthropic"].base_url == "http://127.0.0.1:9"


def test_a_new_provider_needs_a_base_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        specs({"providers": {"vllm": {"kind": "openai"}}}, {}, tmp_path)
    assert "providers.vllm.base_url" in str(err.value)
    with pytest.raises(ConfigError) as err:
        specs({"providers": {"vllm": {"base_url": "127.0.0.1:8000"}}}, {}, tmp_path)
    assert "must start with http://" in str(err.value)


def test_an_unknown_provider_in_the_chain_is_named(tmp_path: Path) -> None:
    config = NexusConfig.model_validate({"models": {"primary": "mystery/model-1", "fallbacks": []}})
    with pytest.raises(ConfigError) as err:
        build_router(config, NexusPaths(home=tmp_path), EnvCredentialSource(environ={}), environ={})
    assert "'mystery' is not known" in str(err.value) and "[providers.mystery]" in str(err.value)


async def test_keyless_endpoint_and_api_key_env_of_a_custom_provider(make_router: RouterFactory) -> None:
    with FakeOpenAI(require_key=False) as local, FakeOpenAI() as custom:
        config = {
            "models": {"primary": "ollama/llama3", "fallbacks": ["vllm/qwen"]},
            "providers": {
                "ollama": {"base_url": local.base_url},
                "vllm": {"base_url": custom.base_url, "api_key_env": "VLLM_KEY"},
            },
        }
        environ = {"VLLM_KEY": "sk-vllm-123"}
        router = make_router(config, env_source(NexusConfig.model_validate(config), environ), environ)
        result = await router.run(turn("hi"), Events())
        assert (result.model, result.profile, result.text) == ("ollama/llama3", "ollama:env", "echo: hi")
        assert "authorization" not in local.requests[0].headers
        local.always(None, Error(503))
        result = await router.run(turn("hi"), Events())
        assert (result.model, result.profile) == ("vllm/qwen", "vllm:env")
        assert custom.requests[0].headers["authorization"] == "Bearer sk-vllm-123"
