"""Mixed precision of the off-policy update (``agent.precision``).

``bf16``: the update's forward passes run under ``torch.autocast(dtype=torch.bfloat16)``
(matmuls and convolutions in bfloat16, losses and reductions in float32); the weights, their
gradients and Adam's moments stay float32 (master weights). The hidden maps are bfloat16; FAU
and the dormant scores count them in float32 (``agents/plasticity/metrics.py``). Only where the
device computes
bfloat16 natively: a CPU with AMX (``amx_bf16``) or AVX-512 BF16 (``avx512_bf16``) in its
``/proc/cpuinfo`` flags, or a CUDA device that ``torch.cuda.is_bf16_supported()``; elsewhere
bf16 is emulated and slower than fp32, so it is refused (one line, exit 2).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from configs.errors import ConfigError

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (module docstring)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return any(flag in cpu_flags() for flag in CPU_BF16_FLAGS)


def check_precision(precision: str, device: torch.device) -> None:
    """``bf16`` on a device without native bfloat16 is a one-line config error."""
    if precision == "bf16" and not native_bf16(device):
        what = ("this CUDA device" if device.type == "cuda" else
                f"this CPU (no {' or '.join(CPU_BF16_FLAGS)} flag in /proc/cpuinfo)")
        raise ConfigError(f"config error: agent.precision: bf16 needs native bfloat16, which "
                          f"{what} lacks (it would run slower than fp32); use fp32")


def autocast(precision: str, device: torch.device):
    """The context the update's forward passes run in: bf16 autocast, or nothing (fp32)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
