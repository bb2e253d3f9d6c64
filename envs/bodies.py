"""Grids of bodies for zero-shot transfer, and the config overrides that build each one.

A body is data: for the swim task an ``envs.swim.BodySpec`` (joint count N, link length scale,
fluid density and viscosity), for a dm_control domain an ``envs.dmc_bodies.BodyChanges``
(multipliers of limb length, mass, actuator gear, joint damping, friction). A transfer grid is
the Cartesian product of the given lists, the first list varying slowest, e.g.
``swim_grid(joints=[5, 7], length_scales=[0.8, 1.0])`` gives (5, 0.8), (5, 1.0), (7, 0.8),
(7, 1.0). ``None`` for density or viscosity keeps the stock medium (density 3000, viscosity 0;
drag from MuJoCo's inertia-box fluid model).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from typing import Sequence, Union

from envs.dmc_bodies import PARAMETERS, BodyChanges, measured_changes
from envs.factory import DMC_PREFIX, parse_dmc_id
from envs.swim import BodySpec, measured_body

Body = Union[BodySpec, BodyChanges]

SWIM_COLUMNS = ("n_joints", "length_scale", "density", "viscosity")
DMC_COLUMNS = PARAMETERS
BODY_COLUMNS = SWIM_COLUMNS + tuple(c for c in DMC_COLUMNS if c not in SWIM_COLUMNS)


def body_grid(joints: Sequence[int], length_scales: Sequence[float] = (1.0,),
              densities: Sequence[float | None] = (None,),
              viscosities: Sequence[float | None] = (None,)) -> list[BodySpec]:
    """Every combination of the given swimmer values as a ``BodySpec`` (N varies slowest)."""
    return [BodySpec(n_joints=n, length_scale=s, density=d, viscosity=v)
            for n, s, d, v in itertools.product(joints, length_scales, densities, viscosities)]


def dmc_body_grid(**values: Sequence[float]) -> list[BodyChanges]:
    """Every combination of the given multipliers (keys ``length``, ``mass``, ``gear``,
    ``damping``, ``friction``; the first key varies slowest) as ``BodyChanges``."""
    keys = list(values)
    return [BodyChanges(**dict(zip(keys, combo)))
            for combo in itertools.product(*(values[k] for k in keys))]


def body_overrides(body: Body) -> list[str]:
    """``key=value`` run-config overrides that put a run's env on ``body``."""
    if isinstance(body, BodyChanges):
        return [f"env.body.{k}={v}" for k, v in asdict(body).items()]
    return [f"env.n_joints={body.n_joints}", f"env.length_scale={body.length_scale}",
            f"env.density={'null' if body.density is None else body.density}",
            f"env.viscosity={'null' if body.viscosity is None else body.viscosity}"]


def body_of(env_cfg) -> Body:
    """The body a run config's env section (``configs.schema.EnvConfig``) describes."""
    if env_cfg.id == "swim":
        return BodySpec(n_joints=env_cfg.n_joints, length_scale=env_cfg.length_scale,
                        density=env_cfg.density, viscosity=env_cfg.viscosity)
    return BodyChanges(**env_cfg.body.model_dump())


def body_columns(body: Body, physics) -> dict[str, float]:
    """The table columns of ``body`` on its built ``physics`` (the swimmer's medium as used)."""
    if isinstance(body, BodyChanges):
        return asdict(body)
    opt = physics.model.opt
    return {"n_joints": body.n_joints, "length_scale": body.length_scale,
            "density": float(opt.density), "viscosity": float(opt.viscosity)}


def measured_columns(env, env_id: str) -> dict[str, float]:
    """The body a built env simulates, read back from its physics (never from a config): swim
    ``n_joints, length_scale, density, viscosity`` (``envs.swim.measured_body``; the medium is
    set at reset, so read after an episode); a dm_control domain the multipliers it defines
    (``envs.dmc_bodies.measured_changes``: cart-pole has no ``friction``)."""
    if env_id.startswith(DMC_PREFIX):
        return measured_changes(env.physics.model, *parse_dmc_id(env_id))
    body = measured_body(env.physics)
    return {k: getattr(body, k) for k in SWIM_COLUMNS}
