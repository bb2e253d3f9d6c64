"""Gait of a policy on a grid of bodies: deterministic rollouts read from the physics.

For every body (``envs.bodies``: the swimmer's N, link length and medium; a dm_control domain's
multipliers) the policy runs as ``transfer`` runs it (``trainer.api.load_policy`` with the body
overrides, episodes seeded ``seed, seed + 1, ...``), each for at most ``steps`` control steps
through ``trainer.rollout.rollout`` (the one episode runner: ``begin_episode`` after reset).
After every step the physics is read (never the observation):

* swimmer (``env.id: swim``): the joint angles ``physics.joints()`` (head first), the centroid
  of the ``N + 1`` links (``xpos`` of ``head`` and ``segment_*``, xy) and the head's heading
  (the nose points along the head's local ``-y``: minus the second column of its ``xmat``);
  the link length is read from the model (``|body_pos[segment_0]|``);
* legged dm_control domain (``FEET``): for each foot geom, 1 while MuJoCo's contact list holds a
  contact between it and the floor geom, and the torso's forward position: world ``x`` on the
  planar walker, cheetah and hopper; on the quadruped (which starts at a random yaw) the
  torso's xy position projected on its mean heading over the episode (the torso's local ``x``
  in the xy plane). A domain with no feet (the cart-pole) has no gait reading and is refused
  with one line.

Each episode is measured (``gait_swim.swim_gait`` / ``gait_legs.leg_gait``); a body's row holds
the mean and standard deviation over episodes (for a foot's phase offset, a value on a circle of
one cycle, the circular mean ``arg mean exp(2 pi i p) / 2 pi mod 1`` and circular standard
deviation ``sqrt(-2 ln R) / 2 pi``, ``R = |mean exp(2 pi i p)|``), its body read back from the env
(``envs.bodies.measured_columns``), and the first episode's kymograph (swim) or contacts
(legs) for the figure. An episode with no gait to read (``GaitError``: a body that holds still,
twitches at random, or shows fewer than two cycles after the first) is left out of its row's
statistics, which count the rhythmic episodes (``rhythmic``; none: every measure NaN); when no
episode of any body is rhythmic the command stops with one line giving the first episode's
reason, body and seed. Beside the measures each row holds ``return``: the mean and std of the
reward summed over the recorded steps of EVERY episode, rhythmic or not (what the gait costs; over
a whole episode when ``steps`` is at least its length, as ``evaluate`` counts it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from agents.common.base import begin_episode
from envs.bodies import Body, body_overrides, measured_columns
from envs.factory import parse_dmc_id
from trainer.api import load_policy, load_run_config
from trainer.posthoc.gait_legs import leg_gait, leg_measures
from trainer.posthoc.gait_swim import SWIM_MEASURES, GaitError, Kymograph, kymograph, swim_gait
from trainer.posthoc.transfer import check_bodies
from trainer.rollout import rollout

# foot geoms and the ground geom of each legged domain
RETURN = "return"
HEADING_DOMAINS = ("quadruped",)  # free to turn in the plane: speed along the torso's heading
FEET = {"quadruped": (("toe_front_left", "toe_front_right", "toe_back_right", "toe_back_left"),
                      "floor"),
        "walker": (("right_foot", "left_foot"), "floor"),
        "cheetah": (("bfoot", "ffoot"), "ground"),
        "hopper": (("foot",), "floor")}


@dataclass
class GaitRow:
    """One policy on one body: every measure's mean and std over ``episodes`` episodes."""

    policy: str
    env: str
    body: dict[str, float]
    mean: dict[str, float]
    std: dict[str, float]
    episodes: int
    seed: int
    rhythmic: int
    kymograph: Kymograph | None = None
    contacts: np.ndarray | None = field(default=None, repr=False)
    feet: tuple[str, ...] = ()
    dt: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The CSV row: policy, env, body columns, each measure then its ``_std``."""
        out: dict[str, Any] = {"policy": self.policy, "env": self.env, **self.body}
        for k, v in self.mean.items():
            out[k] = v
            out[f"{k}_std"] = self.std[k]
        return {**out, "episodes": self.episodes, "rhythmic": self.rhythmic, "seed": self.seed}


def gait_task(env_id: str) -> str:
    """``"swim"`` or ``"legs"``; ``GaitError`` for a task with no gait reading."""
    if env_id == "swim":
        return "swim"
    if env_id.startswith("dmc:") and parse_dmc_id(env_id)[0] in FEET:
        return "legs"
    raise GaitError(f"gait: env.id='{env_id}' has no gait reading (gait reads the swim task's "
                    f"undulation and the foot contacts of dm_control {', '.join(FEET)})")


def swim_signals(physics) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(joint angles [N], link centroid xy, head heading xy)`` of a swimmer's physics."""
    names = [physics.model.id2name(i, "body") for i in range(physics.model.nbody)]
    links = [i for i, n in enumerate(names) if n == "head" or n.startswith("segment_")]
    centroid = physics.data.xpos[links, :2].mean(axis=0)
    heading = -physics.named.data.xmat["head"].reshape(3, 3)[:2, 1]
    return np.array(physics.joints(), dtype=float), centroid, heading


def foot_contacts(physics, feet: Sequence[str], ground: str) -> np.ndarray:
    """1 for each foot geom in contact with the ground geom (MuJoCo's active contacts)."""
    model, data = physics.model, physics.data
    ids = [model.name2id(f, "geom") for f in feet]
    floor = model.name2id(ground, "geom")
    pairs = {(int(c.geom1), int(c.geom2)) for c in data.contact[:data.ncon]}
    touching = {a for a, b in pairs if b == floor} | {b for a, b in pairs if a == floor}
    return np.array([float(i in touching) for i in ids])


def record_episode(agent, env, seed: int, steps: int, task: str, domain: str = ""
                   ) -> dict[str, np.ndarray]:
    """Physics signals after each control step of one deterministic episode (module docstring)."""
    physics, rows, total = env.physics, [], 0.0
    policy = lambda obs: agent.act(obs, explore=False)  # noqa: E731
    with torch.inference_mode():
        for step in rollout(policy, env, seed, steps,
                            on_reset=lambda: begin_episode(agent, explore=False)):
            total = step.episode_return
            if task == "swim":
                rows.append(swim_signals(physics))
            else:
                feet, ground = FEET[domain]
                rows.append((foot_contacts(physics, feet, ground),
                             np.array(physics.named.data.xpos["torso"][:2]),
                             physics.named.data.xmat["torso"].reshape(3, 3)[:2, 0].copy()))
    if task == "swim":
        return {"q": np.stack([r[0] for r in rows]), "centroid": np.stack([r[1] for r in rows]),
                "heading": np.stack([r[2] for r in rows]), "return": np.array(total)}
    xy = np.stack([r[1] for r in rows])
    if domain in HEADING_DOMAINS:
        h = np.stack([r[2] for r in rows]).mean(axis=0)
        x = (xy - xy[0]) @ (h / np.linalg.norm(h))
    else:
        x = xy[:, 0]
    return {"contact": np.stack([r[0] for r in rows]), "x": x, "return": np.array(total)}


def circular_stats(phases: np.ndarray) -> tuple[float, float]:
    """Circular mean (in ``[0, 1)``) and standard deviation of phases in cycles (module
    docstring); NaN when a phase is NaN."""
    if np.isnan(phases).any():
        return float("nan"), float("nan")
    z = np.exp(2j * np.pi * phases).mean()
    mean = float(np.mod(np.angle(z) / (2 * np.pi), 1.0))
    return (0.0 if np.isclose(mean, 1.0) else mean,
            float(np.sqrt(abs(-2.0 * np.log(min(abs(z), 1.0)))) / (2 * np.pi)))


def measure_episode(signals: dict[str, np.ndarray], physics, task: str, domain: str,
                    dt: float) -> dict[str, float]:
    """The episode's gait measures from its recorded signals."""
    if task == "swim":
        link = float(np.linalg.norm(physics.named.model.body_pos["segment_0"]))
        return swim_gait(signals["q"], signals["centroid"], signals["heading"], dt, link)
    return leg_gait(signals["contact"], signals["x"], dt, FEET[domain][0])


def gait_rows(target: str | Path, bodies: Sequence[Body], episodes: int, steps: int,
              seed: int | None, overrides: list[str] | None = None, progress: bool = True,
              trust_plugins: bool = False) -> tuple[str, list[GaitRow]]:
    """Measure ``target``'s gait on every body; returns ``(policy label, rows)``.

    ``target``: a run folder, checkpoint or config (its untrained policy). ``seed=None`` uses
    the run's evaluation seeds (``seed + trainer.eval_seed_offset``), as ``evaluate`` does.
    """
    overrides = list(overrides or [])
    cfg, ckpt = load_run_config(target, overrides, trust_plugins)
    task = gait_task(cfg.env.id)
    check_bodies(cfg.env.id, bodies)
    domain = parse_dmc_id(cfg.env.id)[0] if task == "legs" else ""
    label = cfg.name if ckpt is not None else f"{cfg.name}_untrained"
    seed = cfg.seed + cfg.trainer.eval_seed_offset if seed is None else seed
    names = SWIM_MEASURES if task == "swim" else leg_measures(FEET[domain][0])
    rows: list[GaitRow] = []
    reason = ""
    bar = tqdm(total=len(bodies) * episodes, desc="gait", unit="episode",
               disable=None if progress else True, leave=False)
    for body in bodies:
        _, agent, env = load_policy(target, overrides + body_overrides(body),
                                    trust_plugins=trust_plugins)
        dt = float(env.dm_env.control_timestep())
        measures, returns, first = [], [], None
        for s in range(seed, seed + episodes):
            signals = record_episode(agent, env, s, steps, task, domain)
            returns.append(float(signals["return"]))
            try:
                measures.append(measure_episode(signals, env.physics, task, domain, dt))
            except GaitError as e:
                reason = reason or f"{e} ({label} on " \
                    f"{dict(measured_columns(env, cfg.env.id))}, episode seed {s})"
            first = signals if first is None else first
            bar.update()
        values = {k: np.array([m[k] for m in measures] or [np.nan]) for k in names}
        stats = {k: circular_stats(v) if k.startswith("phase_") else (float(v.mean()),
                                                                      float(v.std()))
                 for k, v in values.items()}
        stats[RETURN] = (float(np.mean(returns)), float(np.std(returns)))   # every episode
        rows.append(GaitRow(
            policy=label, env=cfg.env.id, body=measured_columns(env, cfg.env.id),
            mean={k: m for k, (m, _) in stats.items()},
            std={k: sd for k, (_, sd) in stats.items()}, episodes=episodes, seed=seed,
            rhythmic=len(measures),
            kymograph=kymograph(first["q"], dt) if task == "swim" else None,
            contacts=first.get("contact"), feet=FEET[domain][0] if task == "legs" else (),
            dt=dt))
        env.close()
    bar.close()
    if not any(r.rhythmic for r in rows):
        raise GaitError(f"no rhythmic body found: {reason}")
    return label, rows
