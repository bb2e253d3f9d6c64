"""YAML presets and the typed schema they are validated against.

``load_config``, ``dump_config``, ``RunConfig`` and ``ConfigError`` are imported on first use, so
importing one module of this package (``configs.errors``, ``configs.registry``) does not build
the schema, which imports every registered component's config section: importing one learner
(``agents.ppo``) then does not import the other learners' config modules.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "RunConfig", "dump_config", "load_config"]
_LAZY = {"ConfigError": "configs.loader", "dump_config": "configs.loader",
         "load_config": "configs.loader", "RunConfig": "configs.schema"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'configs' has no attribute '{name}'")
