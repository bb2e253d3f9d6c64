"""YAML presets and the typed schema they are validated against."""

from configs.loader import ConfigError, dump_config, load_config
from configs.schema import RunConfig

__all__ = ["ConfigError", "RunConfig", "dump_config", "load_config"]
