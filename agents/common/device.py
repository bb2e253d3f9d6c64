"""The one place a config's ``device`` becomes a torch device name.

``auto`` picks ``cuda`` when a CUDA device is available, else ``cpu``; ``cuda`` without a CUDA
device is a config error (one line, exit code 2) rather than a crash at the first tensor.
``trainer.api.build`` resolves the run's device with it before building the agent; an agent
built directly (a notebook, a test) resolves the ``device`` it is given the same way.
"""

from __future__ import annotations

import torch

from configs.errors import ConfigError


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a config's ``device`` (``"auto"``, ``"cpu"`` or ``"cuda"``)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config error: device: 'cuda' requested but no CUDA device is available")
    return device
