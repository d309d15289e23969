"""Configuration: ``nexus.toml`` validated by pydantic; errors name the file and the key path."""

from nexus.config.loader import ConfigError, load_config
from nexus.config.schema import (
    AuthConfig,
    GatewayConfig,
    ModelRef,
    ModelsConfig,
    NexusConfig,
    ProviderConfig,
    SupervisorConfig,
)

__all__ = [
    "AuthConfig",
    "ConfigError",
    "GatewayConfig",
    "ModelRef",
    "ModelsConfig",
    "NexusConfig",
    "ProviderConfig",
    "SupervisorConfig",
    "load_config",
]
