"""Grids of swimmer bodies for zero-shot transfer, and the config overrides that build each one.

A body is data (``envs.swim.BodySpec``): joint count N and the physical parameters link length
scale, fluid density and fluid viscosity. A transfer grid is the Cartesian product of the given
lists, N varying slowest, e.g. ``joints=[5, 7], length_scales=[0.8, 1.0]`` gives
(5, 0.8), (5, 1.0), (7, 0.8), (7, 1.0). ``None`` for density or viscosity keeps the stock medium
(density 3000, viscosity 0; drag from MuJoCo's inertia-box fluid model).
"""

from __future__ import annotations

import itertools
from typing import Sequence

from envs.swim import BodySpec


def body_grid(joints: Sequence[int], length_scales: Sequence[float] = (1.0,),
              densities: Sequence[float | None] = (None,),
              viscosities: Sequence[float | None] = (None,)) -> list[BodySpec]:
    """Every combination of the given values as a ``BodySpec`` (validated; N varies slowest)."""
    return [BodySpec(n_joints=n, length_scale=s, density=d, viscosity=v)
            for n, s, d, v in itertools.product(joints, length_scales, densities, viscosities)]


def body_overrides(body: BodySpec) -> list[str]:
    """``key=value`` run-config overrides that put a run's env on ``body``."""
    return [f"env.n_joints={body.n_joints}", f"env.length_scale={body.length_scale}",
            f"env.density={'null' if body.density is None else body.density}",
            f"env.viscosity={'null' if body.viscosity is None else body.viscosity}"]


def body_of(env_cfg) -> BodySpec:
    """The body a run config's env section (``configs.schema.EnvConfig``) describes."""
    return BodySpec(n_joints=env_cfg.n_joints, length_scale=env_cfg.length_scale,
                    density=env_cfg.density, viscosity=env_cfg.viscosity)
