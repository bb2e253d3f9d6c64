"""The NCAP ``swim`` task on dm_control's N-joint swimmer body.

Bhattasali, Zador & Engel (NeurIPS 2022) reuse the stock dm_control swimmer (``suite/swimmer.py``)
and replace its target-reaching reward by forward swimming:

* body: ``N`` joints = ``N`` actuators = ``N + 1`` links; joint range ``+-360 deg / (N + 1)``;
  physics step 0.002 s, control step 0.03 s (15 substeps), 30 s = 1000 control steps per episode;
  medium density 3000, viscosity 0 (drag from MuJoCo's inertia-box fluid model).
* initial state: root yaw ~ U[-pi, pi), every joint angle uniform within its limits (stock).
* observation: ``joints`` (N joint angles, rad) and ``body_velocities`` (3 (N + 1): local vx, vy,
  wz of every link); the stock ``to_target`` entry is dropped and the target is made invisible.
* reward: forward speed along the head's heading ``v = -head_vel_y`` (head-local frame; the nose
  points along local -y), scored by ``tolerance(v, bounds=(0.1, inf), margin=0.1,
  sigmoid='linear', value_at_margin=0)``, i.e. ``r_t = clip(v_t / 0.1, 0, 1)``.
  Maximum return 1000.

Physical variants (``BodySpec``) scale the segment length or change the medium; the defaults
reproduce the stock body exactly.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass

import numpy as np
from dm_control import mujoco as dm_mujoco
from dm_control.rl import control
from dm_control.suite import swimmer as dm_swimmer
from dm_control.utils import rewards
from lxml import etree

CONTROL_TIMESTEP = 0.03
TIME_LIMIT_SECONDS = 30.0
TARGET_SPEED = 0.1  # m/s at which the per-step reward saturates at 1


@dataclass(frozen=True)
class BodySpec:
    """A swimmer body described by data.

    Attributes:
        n_joints: number of joints N >= 2 (links = N + 1).
        length_scale: multiplies every link's length (link spacing, joint offset, capsule and
            inertial box, head included); 1.0 is the stock 0.1 m link.
        density: fluid density of the medium (kg/m^3); None keeps the stock 3000.
        viscosity: fluid viscosity (Pa s); None keeps the stock 0.
    """

    n_joints: int = 5
    length_scale: float = 1.0
    density: float | None = None
    viscosity: float | None = None

    def __post_init__(self) -> None:
        if self.n_joints < 2:
            raise ValueError(f"n_joints must be >= 2 (got {self.n_joints})")
        if self.length_scale <= 0:
            raise ValueError(f"length_scale must be > 0 (got {self.length_scale})")
        if self.density is not None and self.density < 0:
            raise ValueError(f"density must be >= 0 (got {self.density})")
        if self.viscosity is not None and self.viscosity < 0:
            raise ValueError(f"viscosity must be >= 0 (got {self.viscosity})")


def swimmer_xml(body: BodySpec) -> bytes:
    """MJCF of the stock swimmer with ``body.n_joints`` joints, its segments scaled in length."""
    xml = dm_swimmer.get_model_and_assets(body.n_joints + 1)[0]
    if body.length_scale == 1.0:
        return xml
    s = body.length_scale
    root = etree.fromstring(xml)
    for seg in root.iter("body"):
        if seg.get("name", "").startswith("segment_"):
            x, y, z = (float(v) for v in seg.get("pos").split())
            seg.set("pos", f"{x * s} {y * s} {z * s}")
    for default in root.iter("default"):
        if default.get("class") == "swimmer":
            joint = default.find("joint")
            x, y, z = (float(v) for v in joint.get("pos").split())
            joint.set("pos", f"{x * s} {y * s} {z * s}")
        for geom in default.findall("geom"):
            if default.get("class") in ("visual", "inertial") and geom.get("fromto") is not None:
                vals = [float(v) * s for v in geom.get("fromto").split()]
                geom.set("fromto", " ".join(map(str, vals)))
            if default.get("class") == "inertial" and geom.get("size") is not None:
                sx, sy, sz = (float(v) for v in geom.get("size").split())
                geom.set("size", f"{sx} {sy * s} {sz}")
    return etree.tostring(root, pretty_print=True)


def apply_medium(physics, body: BodySpec) -> None:
    """Set the fluid density / viscosity of ``body`` (None keeps the stock value)."""
    if body.density is not None:
        physics.model.opt.density = body.density
    if body.viscosity is not None:
        physics.model.opt.viscosity = body.viscosity


@functools.lru_cache(maxsize=None)
def _stock_link_length(n_joints: int) -> float:
    physics = swimmer_physics(BodySpec(n_joints=n_joints))
    return float(np.linalg.norm(physics.named.model.body_pos["segment_0"]))


def measured_body(physics) -> BodySpec:
    """The body a built swimmer ``physics`` simulates, read back from its model.

    ``n_joints`` = the actuator count (one motor per joint); ``length_scale`` = distance from the
    head to the first segment's origin over the stock model's (0.1 m), to 6 significant digits;
    ``density`` and ``viscosity`` = ``model.opt``, the medium the task set at the last reset
    (``SwimTask.initialize_episode``): read after a reset, as the episodes ran.
    """
    model = physics.model
    n = int(model.nu)
    link = float(np.linalg.norm(physics.named.model.body_pos["segment_0"]))
    return BodySpec(n_joints=n, length_scale=float(f"{link / _stock_link_length(n):.6g}"),
                    density=float(model.opt.density), viscosity=float(model.opt.viscosity))


def swimmer_physics(body: BodySpec) -> dm_swimmer.Physics:
    """The stock swimmer ``Physics`` for ``body`` (MJCF from ``swimmer_xml``)."""
    return dm_swimmer.Physics.from_xml_string(swimmer_xml(body), assets=dm_swimmer.common.ASSETS)


class SwimTask(dm_swimmer.Swimmer):
    """dm_control task: swim forward as fast as possible (reward ``clip(v / 0.1, 0, 1)``)."""

    def __init__(self, body: BodySpec, random=None):
        super().__init__(random=random)
        self.body = body

    def initialize_episode(self, physics):
        apply_medium(physics, self.body)
        # Stock randomisation (joint angles, root yaw, unused target draw) keeps the RNG stream
        # identical to the stock task; the target is then hidden.
        super().initialize_episode(physics)
        physics.named.model.mat_rgba["target", 3] = 0.0
        physics.named.model.mat_rgba["target_default", 3] = 0.0
        physics.named.model.mat_rgba["target_highlight", 3] = 0.0

    def get_observation(self, physics):
        obs = collections.OrderedDict()
        obs["joints"] = physics.joints()
        obs["body_velocities"] = physics.body_velocities()
        return obs

    def get_reward(self, physics):
        return rewards.tolerance(
            forward_speed(physics),
            bounds=(TARGET_SPEED, float("inf")),
            margin=TARGET_SPEED,
            sigmoid="linear",
            value_at_margin=0.0,
        )


def forward_speed(physics) -> float:
    """Head speed along its own heading: ``-y`` of the head velocimeter in the head frame."""
    return -float(physics.named.data.sensordata["head_vel"][1])


def make_swim_dm_env(body: BodySpec, seed: int | None = None) -> control.Environment:
    """A dm_control ``control.Environment`` running the swim task on ``body``."""
    physics = swimmer_physics(body)
    task = SwimTask(body, random=np.random.RandomState(seed))
    return control.Environment(
        physics, task, time_limit=TIME_LIMIT_SECONDS, control_timestep=CONTROL_TIMESTEP
    )


__all__ = ["BodySpec", "SwimTask", "apply_medium", "forward_speed", "make_swim_dm_env",
           "measured_body", "swimmer_physics", "swimmer_xml", "dm_mujoco"]
