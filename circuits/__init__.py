"""Biologically wired policies as torch modules."""

from circuits.ncap import NCAPSwimmerCircuit

__all__ = ["NCAPSwimmerCircuit"]
