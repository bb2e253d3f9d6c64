"""The ``navigate`` task: reach a target with the N-joint swimmer (``ncap.md`` section 3).

The authors register ``navigate`` as the stock dm_control swimmer target-reaching task (left a
stub in their code); this is that task on our ``BodySpec`` bodies, with the target box as data:

* initial state: stock joint/yaw randomisation, then the target drawn uniformly in a square of
  half-width ``near_box`` with probability ``near_probability``, else ``box`` (stock: 0.3 m with
  probability 0.2, else 2 m; the same RNG draws in the same order, so the defaults reproduce the
  stock episodes exactly). The target stays visible (``swim`` hides it).
* observation: ``joints`` (N), ``to_target`` (2: nose -> target in the head frame, the nose
  pointing along local -y) and ``body_velocities`` (3 (N + 1)): ``4 N + 5`` (+1 time feature).
* reward: stock ``tolerance(d, bounds=(0, r), margin=5 r, sigmoid='long_tail')`` of the
  nose-to-target distance ``d`` with target radius ``r = 0.1`` m: 1 inside the target, else
  dm_control's long tail ``1 / (9 ((d - r) / (5 r))^2 + 1)`` (0.1 at ``d = 6 r``). Max 1000.
* success (``reached``): the nose within ``r`` of the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dm_control.rl import control
from dm_control.suite import swimmer as dm_swimmer
from dm_control.suite.utils import randomizers

from envs.swim import CONTROL_TIMESTEP, TIME_LIMIT_SECONDS, BodySpec, apply_medium, swimmer_physics


@dataclass(frozen=True)
class TargetBox:
    """Where ``navigate`` draws its target (half-widths in m, centred on the origin)."""

    box: float = 2.0
    near_box: float = 0.3
    near_probability: float = 0.2

    def __post_init__(self) -> None:
        for name in ("box", "near_box"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0: an empty target box (got "
                                 f"{getattr(self, name)})")
        if not 0.0 <= self.near_probability <= 1.0:
            raise ValueError(f"near_probability must be in [0, 1] (got {self.near_probability})")


class NavigateTask(dm_swimmer.Swimmer):
    """Stock swimmer target reaching on ``body``, target drawn from ``target``."""

    def __init__(self, body: BodySpec, target: TargetBox, random=None):
        super().__init__(random=random)
        self.body = body
        self.target = target

    def initialize_episode(self, physics):
        apply_medium(physics, self.body)
        randomizers.randomize_limited_and_rotational_joints(physics, self.random)
        near = self.random.rand() < self.target.near_probability
        box = self.target.near_box if near else self.target.box
        x, y = self.random.uniform(-box, box, size=2)
        physics.named.model.geom_pos["target", "x"] = x
        physics.named.model.geom_pos["target", "y"] = y
        physics.named.model.light_pos["target_light", "x"] = x
        physics.named.model.light_pos["target_light", "y"] = y
        self.after_step(physics)


def reached(physics) -> bool:
    """Nose within the target radius (0.1 m)."""
    return bool(physics.nose_to_target_dist() <= physics.named.model.geom_size["target", 0])


def make_navigate_dm_env(body: BodySpec, target: TargetBox = TargetBox(),
                         seed: int | None = None) -> control.Environment:
    """A dm_control ``control.Environment`` running ``navigate`` on ``body``."""
    task = NavigateTask(body, target, random=np.random.RandomState(seed))
    return control.Environment(swimmer_physics(body), task, time_limit=TIME_LIMIT_SECONDS,
                               control_timestep=CONTROL_TIMESTEP)
