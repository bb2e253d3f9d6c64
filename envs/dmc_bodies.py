"""Body variants of dm_control domains: named physical changes applied to the MJCF before compiling.

A variant is a domain plus five multipliers (``BodyChanges``; 1.0 = the stock body). Each is
applied to the domain's MJCF, parsed into a ``mujoco.MjSpec`` (every default class already
resolved into the elements), and the edited spec is compiled into the env's physics:

* ``length`` - limb length. Every limb subtree (``DomainBody.limbs``: e.g. the cheetah's
  ``bthigh`` and ``fthigh`` with their shins and feet) is scaled about its attachment point:
  the positions of its child bodies, geoms, joints and sites, capsule/cylinder ``fromto`` ends
  and half-lengths are multiplied by ``s``; radii are not, nor the attachment itself. Geoms
  whose mass comes from a density get heavier with their volume; explicit masses stay (the
  cheetah's compiler fixes its total mass at 14 kg, so there longer limbs take a larger share
  of the same total). On a
  domain with a floor the root body is moved up by ``(s - 1) d`` (``d``: depth of the lowest
  limb point below its attachment at the stock pose), so the feet start at their stock
  clearance instead of inside the floor;
* ``mass`` - every density, explicit geom and body mass and inertia, and the compiler's
  ``settotalmass`` are multiplied by ``m``: ``body_mass`` and ``body_inertia`` scale by ``m``;
* ``gear`` - actuator strength: a motor's ``gear`` (joint torque ``= gear * ctrl``), a servo's
  gain and bias (``kp``, ``kv``: force at every control and state) are multiplied by ``g``;
* ``damping`` - every joint's damping is multiplied by ``d`` (``dof_damping`` scales by ``d``);
* ``friction`` - every geom's friction coefficients are multiplied by ``f``; MuJoCo uses the
  larger coefficients of the two geoms in contact, so the friction of every contact, the
  floor's included, scales by ``f``.

A change that has no meaning for a domain (friction for the cart-pole, whose model disables
contacts) is refused with one line, as is any change on a domain without a body table. The
stock variant (all 1.0) does not touch the model: it is the stock task bit for bit.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Callable

import mujoco
import numpy as np
from dm_control.mujoco import wrapper
from dm_control.suite import cartpole, cheetah, common, hopper, quadruped, walker

from configs.errors import ConfigError

PARAMETERS = ("length", "mass", "gear", "damping", "friction")


@dataclass(frozen=True)
class BodyChanges:
    """Multipliers of a dm_control body (module docstring); 1.0 keeps the stock value."""

    length: float = 1.0
    mass: float = 1.0
    gear: float = 1.0
    damping: float = 1.0
    friction: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ConfigError(f"config error: env.body.{f.name}: must be > 0 (got {value})")

    @property
    def changed(self) -> dict[str, float]:
        """The parameters that differ from the stock body."""
        return {k: v for k, v in asdict(self).items() if v != 1.0}


@dataclass(frozen=True)
class DomainBody:
    """What body changes mean on one domain.

    Attributes:
        mjcf: task name -> ``(xml, assets)``, the MJCF the suite compiles for that task.
        limbs: root bodies of the limb subtrees that ``length`` scales.
        contacts: False when the model disables contacts (``friction`` then does not apply).
        root: the body raised to keep the feet's clearance (None: no floor to stand on).
    """

    mjcf: Callable[[str], tuple[str, dict]]
    limbs: tuple[str, ...]
    contacts: bool = True
    root: str | None = None

    def applicable(self) -> tuple[str, ...]:
        return tuple(p for p in PARAMETERS if p != "friction" or self.contacts)


def _quadruped_mjcf(task: str) -> tuple[str, dict]:
    speeds = {"walk": quadruped._WALK_SPEED, "run": quadruped._RUN_SPEED}
    if task not in speeds:
        raise ConfigError(f"config error: env.body: body changes are defined for quadruped-walk "
                          f"and quadruped-run, not quadruped-{task} (its terrain is generated)")
    return quadruped.make_model(floor_size=quadruped._DEFAULT_TIME_LIMIT * speeds[task]), \
        common.ASSETS


def _cartpole_mjcf(task: str) -> tuple[str, dict]:
    poles = {"two_poles": 2, "three_poles": 3}.get(task, 1)
    return cartpole.get_model_and_assets(num_poles=poles)


DOMAINS: dict[str, DomainBody] = {
    "cheetah": DomainBody(lambda task: cheetah.get_model_and_assets(), ("bthigh", "fthigh"),
                          root="torso"),
    "walker": DomainBody(lambda task: walker.get_model_and_assets(),
                         ("right_thigh", "left_thigh"), root="torso"),
    "hopper": DomainBody(lambda task: hopper.get_model_and_assets(), ("thigh",), root="torso"),
    "quadruped": DomainBody(_quadruped_mjcf, ("hip_front_left", "hip_front_right",
                                              "hip_back_right", "hip_back_left"), root="torso"),
    "cartpole": DomainBody(_cartpole_mjcf, ("pole_1",), contacts=False),
}


def check_changes(domain: str, changes: BodyChanges) -> DomainBody | None:
    """The domain's body table, or None for the stock body; ``ConfigError`` (one line) for a
    change that the domain does not define."""
    changed = changes.changed
    if not changed:
        return None
    table = DOMAINS.get(domain)
    if table is None:
        raise ConfigError(f"config error: env.body.{next(iter(changed))}: body changes are "
                          f"defined for {', '.join(DOMAINS)}; not for the {domain} domain")
    for name in changed:
        if name not in table.applicable():
            raise ConfigError(f"config error: env.body.{name}: does not apply to {domain} (its "
                              f"model disables contacts); {domain} takes "
                              f"{', '.join(table.applicable())}")
    return table


# --- editing the spec ----------------------------------------------------------------------
def _subtree(body) -> list:
    out, stack = [], [body]
    while stack:
        b = stack.pop()
        out.append(b)
        stack.extend(b.bodies)
    return out


def _scale_limb(limb, s: float) -> None:
    """Scale a limb subtree about its own origin (radii kept; see module docstring)."""
    for body in _subtree(limb):
        if body is not limb:
            body.pos = body.pos * s
        for joint in body.joints:
            joint.pos = joint.pos * s
        for site in body.sites:
            site.pos = site.pos * s
        for geom in body.geoms:
            geom.pos = geom.pos * s
            if not np.isnan(geom.fromto[0]):
                geom.fromto = geom.fromto * s
            elif geom.type in (mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER):
                size = geom.size.copy()
                size[1] *= s
                geom.size = size


def _scale_mass(spec, m: float) -> None:
    for geom in spec.geoms:
        geom.density = geom.density * m
        if not np.isnan(geom.mass):
            geom.mass = geom.mass * m
    for body in spec.bodies:
        if body.explicitinertial:
            body.mass = body.mass * m
            body.inertia = body.inertia * m
            body.fullinertia = body.fullinertia * m
    if spec.compiler.settotalmass > 0:
        spec.compiler.settotalmass = spec.compiler.settotalmass * m


def _scale_gear(spec, g: float) -> None:
    for act in spec.actuators:
        if act.biastype == mujoco.mjtBias.mjBIAS_NONE:
            act.gear = act.gear * np.array([g, 1, 1, 1, 1, 1])
        else:  # a servo: force = kp (ctrl - q) - kv qdot; scale its gain and bias terms
            gain, bias = act.gainprm.copy(), act.biasprm.copy()
            gain[0] *= g
            bias[1:3] *= g
            act.gainprm, act.biasprm = gain, bias


def _lowest_limb_depth(model, data, limbs: tuple[str, ...]) -> float:
    """Largest depth below its attachment of any limb geom point (capsule ends, centres)."""
    depth = 0.0
    for name in limbs:
        root = model.body(name).id
        top = data.xpos[root][2]
        for g in range(model.ngeom):
            b = model.geom_bodyid[g]
            while b not in (0, root):
                b = model.body_parentid[b]
            if b != root:
                continue
            centre, axis = data.geom_xpos[g], data.geom_xmat[g].reshape(3, 3)[:, 2]
            half = model.geom_size[g][1] if model.geom_type[g] in (
                mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_CYLINDER) else 0.0
            low = centre[2] - abs(axis[2]) * half
            depth = max(depth, top - low)
    return depth


def _compile(spec) -> mujoco.MjModel:
    with warnings.catch_warnings():  # cheetah's settotalmass is deprecated in MuJoCo 3.x
        warnings.simplefilter("ignore")
        return spec.compile()


def _stock_spec(table: DomainBody, task: str) -> mujoco.MjSpec:
    xml, assets = table.mjcf(task)
    include = {k[2:] if k.startswith("./") else k: v for k, v in assets.items()}
    return mujoco.MjSpec.from_string(xml, include=include)


def changed_model(domain: str, task: str, changes: BodyChanges) -> mujoco.MjModel | None:
    """The compiled model of ``domain-task`` with ``changes``; None for the stock body."""
    table = check_changes(domain, changes)
    if table is None:
        return None
    spec = _stock_spec(table, task)
    if changes.length != 1.0:
        s = changes.length
        for name in table.limbs:
            _scale_limb(spec.body(name), s)
        if table.root is not None:
            stock = _compile(_stock_spec(table, task))
            data = mujoco.MjData(stock)
            mujoco.mj_forward(stock, data)
            root = spec.body(table.root)
            root.pos = root.pos + np.array([0.0, 0.0, (s - 1.0) * _lowest_limb_depth(
                stock, data, table.limbs)])
    if changes.mass != 1.0:
        _scale_mass(spec, changes.mass)
    if changes.gear != 1.0:
        _scale_gear(spec, changes.gear)
    if changes.damping != 1.0:
        for joint in spec.joints:
            joint.damping = joint.damping * changes.damping
    if changes.friction != 1.0:
        for geom in spec.geoms:
            geom.friction = geom.friction * changes.friction
    return _compile(spec)


def apply_changes(dm_env, domain: str, task: str, changes: BodyChanges) -> None:
    """Put a suite env (``suite.load(domain, task)``) on the changed body, in place.

    The env's physics is reloaded from the changed model (the task, time limit and control
    step stay the suite's); the stock body leaves the env untouched.
    """
    model = changed_model(domain, task, changes)
    if model is not None:
        # what Physics.reload_from_xml_string does, from the compiled spec (exact floats)
        dm_env.physics._reload_from_model(wrapper.MjModel(model))


# --- reading a built model back --------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _stock_model(domain: str, task: str) -> tuple[mujoco.MjModel, bool]:
    """The stock compiled model and whether its compiler fixes the total mass."""
    spec = _stock_spec(DOMAINS[domain], task)
    return _compile(spec), spec.compiler.settotalmass > 0


def _in_limb(model, limbs: tuple[str, ...]) -> list[bool]:
    """Per body id: whether the body lies in one of the limb subtrees."""
    roots = {model.body(name).id for name in limbs}
    out = []
    for b in range(model.nbody):
        while b not in roots and b != 0:
            b = model.body_parentid[b]
        out.append(b in roots)
    return out


def measured_changes(model, domain: str, task: str) -> dict[str, float]:
    """The multipliers a compiled model of ``domain-task`` carries, read back against the
    stock model (each a ratio ``changed / stock``, to 6 significant digits), for the parameters
    the domain defines (``DomainBody.applicable``; none on a domain without a body table):

    * ``length``: half-length of the first capsule or cylinder geom of the limbs;
    * ``mass``: the total mass where the compiler fixes it (cheetah), else the mass of the first
      body outside the limbs (torso, cart), which a length change leaves alone;
    * ``gear``: the first actuator's ``gear * gain`` (a motor's gear, a servo's kp);
    * ``damping``: the first joint damping that is not zero;
    * ``friction``: the first geom friction (sliding) that is not zero.

    ``model`` is a ``mujoco.MjModel`` or dm_control's wrapper of one (``physics.model``).
    """
    table = DOMAINS.get(domain)
    if table is None:
        return {}
    model = getattr(model, "ptr", model)
    stock, fixed_total = _stock_model(domain, task)
    in_limb = _in_limb(model, table.limbs)
    limb = next(g for g in range(model.ngeom) if in_limb[model.geom_bodyid[g]]
                and model.geom_type[g] in (int(mujoco.mjtGeom.mjGEOM_CAPSULE),
                                           int(mujoco.mjtGeom.mjGEOM_CYLINDER)))
    if fixed_total:
        mass = model.body_mass.sum() / stock.body_mass.sum()
    else:
        body = next(b for b in range(1, model.nbody) if not in_limb[b] and stock.body_mass[b] > 0)
        mass = model.body_mass[body] / stock.body_mass[body]
    dof = next(d for d in range(stock.nv) if stock.dof_damping[d] > 0)
    geom = next(g for g in range(stock.ngeom) if stock.geom_friction[g, 0] > 0)
    strength = lambda m: m.actuator_gear[0, 0] * m.actuator_gainprm[0, 0]  # noqa: E731
    ratios = {"length": model.geom_size[limb, 1] / stock.geom_size[limb, 1], "mass": mass,
              "gear": strength(model) / strength(stock),
              "damping": model.dof_damping[dof] / stock.dof_damping[dof],
              "friction": model.geom_friction[geom, 0] / stock.geom_friction[geom, 0]}
    return {k: float(f"{ratios[k]:.6g}") for k in table.applicable()}
