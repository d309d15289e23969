"""Config loading: every bad key is named with its path and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.common.paths import NexusPaths
from nexus.config import ConfigError, ModelRef, load_config


def write(home: Path, text: str) -> NexusPaths:
    paths = NexusPaths(home=home)
    home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)
    return paths


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(NexusPaths(home=tmp_path), environ={})
    assert config.gateway.port == 18789 and config.gateway.bind == "127.0.0.1"
    assert [str(r) for r in config.chain()] == [
        "anthropic/claude-opus-4-5",
        "anthropic/claude-3-7-sonnet-latest",
        "anthropic/claude-3-5-haiku-latest",
    ]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[gateway]\nport = "abc"\n', "gateway.port"),
        ("[gateway]\nport = 70000\n", "gateway.port"),
        ("[gateway]\nprot = 1\n", "gateway.prot: unknown key; allowed here: "),
        ('[models]\nprimary = "claude"\n', "models.primary"),
        ('[providers.ollama]\nkind = "bogus"\n', "providers.ollama.kind"),
        (
            '[providers.ollama]\nbase = "x"\n',
            "providers.ollama.base: unknown key; allowed here: api_key_env, base_url",
        ),
        ("[nonsense]\n", "nonsense: unknown key; allowed here: agent, alerts, auth, backup, channels"),
        ("[gateway\n", "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    paths = write(tmp_path, toml)
    with pytest.raises(ConfigError) as info:
        load_config(paths, environ={})
    message = str(info.value)
    assert expected in message
    assert str(paths.config_file) in message
    assert info.value.exit_code == 78


def test_env_port_overrides_and_bad_env_is_named(tmp_path: Path) -> None:
    paths = write(tmp_path, "[gateway]\nport = 1000\n")
    assert load_config(paths, environ={"NEXUS_PORT": "2345"}).gateway.port == 2345
    with pytest.raises(ConfigError, match="NEXUS_PORT"):
        load_config(paths, environ={"NEXUS_PORT": "high"})


def test_last_good_copy_is_kept_and_not_overwritten_by_a_bad_file(tmp_path: Path) -> None:
    good = '[models]\nprimary = "openai/gpt-4o"\nfallbacks = []\n'
    paths = write(tmp_path, good)
    load_config(paths, environ={})
    assert paths.last_good_config.read_text() == good
    paths.config_file.write_text("[models]\nprimary = 3\n")
    with pytest.raises(ConfigError):
        load_config(paths, environ={})
    assert paths.last_good_config.read_text() == good


def test_model_refs_keep_slashes_in_the_model_part() -> None:
    ref = ModelRef.parse("openrouter/anthropic/claude-3.5-sonnet")
    assert (ref.provider, ref.model) == ("openrouter", "anthropic/claude-3.5-sonnet")
    with pytest.raises(ValueError, match="provider/model"):
        ModelRef.parse("/x")
