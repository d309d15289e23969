"""Property-based tests of the config loader: any file loads or is refused with exit 78 and each
problem named by its key path (never another exception, which would crash-loop the supervisor)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus.common.paths import NexusPaths
from nexus.config import ConfigError, load_config
from nexus.config.schema import NexusConfig

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SECTIONS = {
    "gateway": ["port", "bind", "max_run_attempts", "tick_interval_s", "metrics_public", "nope"],
    "models": ["primary", "fallbacks", "max_tokens", "turn_timeout_s"],
    "logging": ["format", "level", "max_bytes", "backups"],
    "tracing": ["enabled", "exporter", "endpoint"],
    "supervisor": ["grace_s", "probe_failures"],
}
toml_text = st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=20)
toml_scalars = (
    st.integers(min_value=-(2**40), max_value=2**40).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.booleans().map(lambda b: "true" if b else "false")
    | toml_text.map(lambda t: json.dumps(t, ensure_ascii=False))
    | st.lists(toml_text.map(lambda t: json.dumps(t, ensure_ascii=False)), max_size=3).map(
        lambda xs: "[" + ", ".join(xs) + "]"
    )
)
tables = st.lists(
    st.sampled_from(sorted(SECTIONS)).flatmap(
        lambda section: st.tuples(
            st.just(section),
            st.lists(
                st.tuples(st.sampled_from(SECTIONS[section]), toml_scalars),
                max_size=4,
                unique_by=lambda kv: kv[0],
            ),
        )
    ),
    max_size=4,
    unique_by=lambda t: t[0],
)


def _load(tmp_path: Path, text: bytes) -> NexusConfig | ConfigError:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "nexus.toml").write_bytes(text)
    try:
        return load_config(NexusPaths(home=home), environ={})
    except ConfigError as exc:
        return exc


@FAST
@given(st.binary(max_size=200))
def test_any_file_loads_or_is_refused_with_a_config_error(tmp_path: Path, raw: bytes) -> None:
    result = _load(tmp_path, raw)
    assert isinstance(result, NexusConfig | ConfigError)
    if isinstance(result, ConfigError):
        assert result.problems and result.exit_code == 78


@FAST
@given(tables)
def test_a_bad_key_or_value_is_named_by_its_key_path(
    tmp_path: Path, spec: list[tuple[str, list[tuple[str, str]]]]
) -> None:
    text = "".join(f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in pairs) for section, pairs in spec)
    result = _load(tmp_path, text.encode())
    if isinstance(result, ConfigError):
        keys = {f"{section}.{k}" for section, pairs in spec for k, _ in pairs} | {s for s, _ in spec}
        for problem in result.problems:
            named = problem.split(":", 1)[0]
            assert named.split(".")[0] in SECTIONS and any(named.startswith(k) for k in keys), problem
    else:
        assert isinstance(result, NexusConfig)
