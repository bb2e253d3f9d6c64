"""Biologically wired policies as torch modules.

``NCAPSwimmerCircuit`` and ``QuadrupedCircuit`` are imported on first use, so the torch-free
config sections beside the circuits (``circuits/*_config.py``) load without torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NCAPSwimmerCircuit", "QuadrupedCircuit"]


def __getattr__(name: str) -> Any:
    if name == "NCAPSwimmerCircuit":
        from circuits.ncap import NCAPSwimmerCircuit

        return NCAPSwimmerCircuit
    if name == "QuadrupedCircuit":
        from circuits.quadruped import QuadrupedCircuit

        return QuadrupedCircuit
    raise AttributeError(f"module 'circuits' has no attribute '{name}'")
