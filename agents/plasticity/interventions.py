"""Plasticity interventions of the off-policy agent: Reset and ReDo (``../shared/reference/
drqv2_arr.md`` sec. 8.6 and 9), each a class under its config key.

* **Reset** (Nikishin et al. 2022; ``agent.reset``, ``configs.schema.ResetConfig``): ``count``
  resets at agent steps ``k * total_steps // (count + 1)``, ``k = 1..count``, each run before
  the first update at or after its step; ``total_steps`` is the ``steps`` the run started with
  (the schedule is saved with the checkpoint, so resuming with a larger ``steps`` does not move
  it). The named modules get fresh weights (the agent's orthogonal initialiser) and lose their
  Adam state; the target critic is set to the fresh critic, a target actor to the fresh actor
  (``surgery.reset_``); an L2-init anchor of a reset module moves to its fresh weights.
* **ReDo** (Sokar et al. 2023; ``agent.redo``, ``ReDoConfig``): after every
  ``every_updates``-th update, or after the first update at or after each multiple of
  ``every_steps`` agent steps (at most one per update; a skipped multiple is not made up
  twice), the tau-dormant hidden units of the named modules are re-initialised
  (``surgery.redo_``), read from that update's training passes (``agent.maps``); the
  encoder's conv maps from a fresh augmented replay batch. With ``hidden_norm: layernorm`` a
  recycled unit's LayerNorm gain and bias return to 1 and 0 (``renew_norms_``). The targets
  follow by Polyak averaging.

An intervention (``Intervention``) says when it is ``due`` and ``apply``-s itself to the agent;
``phase`` says whether it runs before the update draws its batch (``before``) or after the
update, on its activation maps (``after``). ``Interventions`` runs the configured ones, writes
one row per module touched to the run folder's ``interventions.csv`` (``step, frame, update,
kind, module`` and what was touched) and keeps their counters for exact resume. A new
intervention is one class decorated with ``@register("<config key>")``; ``make_interventions``
builds every registered one whose config section is set.
"""

from __future__ import annotations

from typing import Any

import torch

from agents.common.networks import orthogonal_init
from agents.plasticity.metrics import DORMANT_TAUS, dormant_mask
from agents.plasticity.surgery import _zero_moments, redo_, reset_
from agents.protocols import Intervention
from agents.plasticity.shrink_perturb import shrink_perturb_
from agents.plasticity.triggers import MetricTrigger
from configs.errors import ConfigError

Rows = list[dict[str, Any]]          # one dict per module touched: {"module": name, **touched}
Metrics = dict[str, float]


def register(key: str):
    """Class decorator of a built-in intervention: its config key (``agent.<key>``) as
    ``cls.key``. The class is found through ``configs.registry`` (kind ``intervention``),
    where its config section registers it with this module's path."""
    def add(cls):
        cls.key = key
        return cls
    return add


def registered() -> dict[str, type]:
    """``{config key: implementation class}`` of every registered intervention, in
    registration order (``configs.registry``: built-ins and plug-ins alike)."""
    from configs import registry

    return {c.name: c.implementation() for c in registry.components("intervention")}


def logged_per_update(cfg, pixels: bool) -> set[str]:
    """The metrics the off-policy agent logs at every update under ``cfg`` before the triggers
    read them (``Interventions.observe``): what a trigger may read; auxiliary losses add
    ``loss/aux*`` and ``aux/*`` (checked by prefix). What the post-update hooks log (``redo/*``,
    the weight and representation metrics) comes after the read and is refused."""
    names = {"loss/critic", "q", "target_q", "loss/actor", "batch_reward", "actor_std", "rr",
             *(["fau/critic"] if cfg.critic_fau else [])}
    taus = [f"{t:g}" for t in DORMANT_TAUS]
    if cfg.plasticity_metrics:
        names |= {f"dormant{t}/critic" for t in taus}
        if cfg.actor.type == "mlp":
            names |= {"fau/actor", *(f"dormant{t}/actor" for t in taus)}
        if pixels:
            names.add("fau/encoder")
    return names


def check_trigger(cfg, key: str, trigger, pixels: bool) -> None:
    """A trigger on a metric that is never logged is a one-line error."""
    logged = logged_per_update(cfg, pixels)
    aux = bool(cfg.aux.losses) and trigger.metric.startswith(("loss/aux", "aux/"))
    if trigger.metric not in logged and not aux:
        raise ConfigError(f"config error: agent.{key}.trigger.metric: {trigger.metric!r} is "
                          "never logged per update before the triggers read it (readable: "
                          f"{', '.join(sorted(logged))})")


def check_crelu(cfg) -> None:
    """CReLU outputs ``[relu(x), relu(-x)]``: exactly half the units of each hidden layer are
    active, so ReDo finds no dormant unit and the FAU of critic and actor is 0.5 whatever the
    network does; a rule reading it (the adaptive RR, a trigger on ``fau/critic`` or
    ``fau/actor``) would decide on a constant. Each is a one-line error."""
    if getattr(cfg, "redo", None) is not None:
        raise ConfigError("config error: agent.redo: ReDo treats ReLU units; with "
                          "agent.activation=crelu no unit can be dormant (use relu)")
    schedule = getattr(cfg, "rr_schedule", None)
    if getattr(schedule, "type", None) == "adaptive":
        raise ConfigError("config error: agent.rr_schedule: the adaptive replay ratio reads "
                          "fau/critic, which is always 0.5 with agent.activation=crelu (use "
                          "relu or a fixed replay ratio)")
    for key in registered():
        trigger = getattr(getattr(cfg, key, None), "trigger", None)
        if trigger is not None and trigger.metric in ("fau/critic", "fau/actor"):
            raise ConfigError(f"config error: agent.{key}.trigger.metric: {trigger.metric} is "
                              "always 0.5 with agent.activation=crelu (use relu or another "
                              "metric)")


def check_interventions(cfg, pixels: bool) -> None:
    """An intervention on a module this agent does not have is a one-line error (checked from
    the config before any env is made, and again by the agent)."""
    lacks = {}
    if not pixels:
        lacks["encoder"] = "state observations have no encoder (env.pixels is null)"
    if cfg.actor.type != "mlp":
        lacks["actor"] = (f"the {cfg.actor.type} actor has no MLP layers to re-initialise "
                          "(Reset and ReDo treat the MLP actor)")
    if getattr(cfg, "activation", "relu") == "crelu":
        check_crelu(cfg)
    l2 = getattr(cfg, "l2_init", None)
    for module in (l2.modules if l2 is not None else []):
        if module == "encoder" and not pixels:
            raise ConfigError(f"config error: agent.l2_init.modules: encoder: {lacks['encoder']}")
    for key, cls in registered().items():
        section = getattr(cfg, key, None)
        if section is None:
            continue
        for module in getattr(section, "modules", ()):
            if module in lacks:
                raise ConfigError(f"config error: agent.{key}.modules: {module}: {lacks[module]}")
        if getattr(section, "trigger", None) is not None:
            check_trigger(cfg, key, section.trigger, pixels)
        cls.check(cfg, section)


@torch.no_grad()
def renew_norms_(norms: list, maps: list[torch.Tensor], tau: float, optimizers: list) -> None:
    """ReDo with ``hidden_norm: layernorm``: a recycled unit (``s_i <= tau``, the rule of
    ``surgery.redo_``) also gets a fresh LayerNorm's gain ``1`` and bias ``0``, with their
    Adam moments zeroed; otherwise it would keep the gain and bias its dormant predecessor
    learned. ``norms``: the LayerNorm of each map's units, or None (``redo_norms``)."""
    for norm, act in zip(norms, maps, strict=True):
        if norm is None:
            continue
        mask = dormant_mask(act, tau)
        norm.weight[mask] = 1.0
        norm.bias[mask] = 0.0
        for param in (norm.weight, norm.bias):
            _zero_moments(optimizers, param, (mask,))


class Periodic:
    """``due`` every ``every_updates`` updates, or on the first update at or after each
    multiple of ``every_steps`` agent steps (ReDo's and Shrink & Perturb's period)."""

    def __init__(self, every_updates: int | None, every_steps: int | None):
        self.every_updates, self.every_steps = every_updates, every_steps
        self.periods_done = 0

    def due(self, step: int, updates: int) -> bool:
        if self.every_updates is not None:
            return updates % self.every_updates == 0
        periods = step // self.every_steps
        if periods > self.periods_done:
            self.periods_done = periods
            return True
        return False


@register("reset")
class Reset:
    """Reset of ``cfg.modules`` at ``count`` agent steps spread evenly inside the run
    (``steps``, fixed at the run's start: ``state_dict`` keeps them)."""

    phase = "before"

    def __init__(self, cfg, total_steps: int = 0):
        self.cfg = cfg
        count = cfg.count or 0   # None: a trigger decides (``Interventions``)
        self.steps = [k * total_steps // (count + 1) for k in range(1, count + 1)]
        self.done = 0

    @staticmethod
    def check(agent_cfg, cfg) -> None:
        pass

    def due(self, step: int, updates: int) -> bool:
        return self.done < len(self.steps) and step >= self.steps[self.done]

    def apply(self, agent) -> tuple[Rows, Metrics]:
        parts = {"encoder": (agent.encoder, agent.encoder_opt),
                 "actor": (agent.actor, agent.actor_opt),
                 "critic": (agent.critic, agent.critic_opt)}
        rows = []
        for name in self.cfg.modules:
            module, opt = parts[name]
            rows.append({"module": name,
                         "parameters": reset_([module], [opt], orthogonal_init)})
            anchor = getattr(agent, "l2_init", {}).get(name)
            if anchor is not None:                # L2-init pulls towards the fresh weights
                anchor.reanchor_()
        if "critic" in self.cfg.modules:
            agent.critic_target.load_state_dict(agent.critic.state_dict())
        if "actor" in self.cfg.modules and agent.actor_target is not None:
            agent.actor_target.load_state_dict(agent.actor.state_dict())
        self.done += 1
        return rows, {}

    def summary(self) -> dict[str, Any]:
        return {"resets": self.done}

    def state_dict(self) -> dict[str, Any]:
        return {"resets_done": self.done, "reset_steps": list(self.steps)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The counter and the schedule of the run's start (a checkpoint written before the
        schedule was saved keeps the one of the resumed ``steps``)."""
        self.done = state["resets_done"]
        self.steps = list(state.get("reset_steps", self.steps))


@register("redo")
class ReDo:
    """ReDo of the tau-dormant hidden units of ``cfg.modules`` every ``every_updates`` updates
    or ``every_steps`` agent steps; logs ``redo/<module>_units``."""

    phase = "after"

    def __init__(self, cfg, total_steps: int = 0):
        self.cfg = cfg
        self.period = Periodic(cfg.every_updates, cfg.every_steps)

    @property
    def periods_done(self) -> int:
        """Multiples of ``every_steps`` already served."""
        return self.period.periods_done

    @staticmethod
    def check(agent_cfg, cfg) -> None:
        if "encoder" in cfg.modules and agent_cfg.feature_dim is None:
            raise ConfigError("config error: agent.redo.modules: encoder: ReDo of the conv "
                              "layers needs the trunks that read them (set agent.feature_dim)")

    def due(self, step: int, updates: int) -> bool:
        """After update number ``updates`` (1-based) at agent step ``step``: ``every_updates``
        divides ``updates``, or a multiple of ``every_steps`` has been reached since the last
        ReDo (``Periodic``)."""
        return self.period.due(step, updates)

    def apply(self, agent) -> tuple[Rows, Metrics]:
        tau = self.cfg.tau
        rows, metrics = [], {}
        for name in self.cfg.modules:
            if name == "encoder":
                readers = [agent.critic.trunk[0]]
                if getattr(agent.actor, "uses_encoder", False):
                    readers.append(agent.actor.trunk[0])
                pairs = agent.encoder.redo_pairs(readers)
                opts = [agent.encoder_opt, agent.critic_opt, agent.actor_opt]
                with torch.no_grad():
                    obs = torch.as_tensor(agent.replay.sample(agent.cfg.batch_size)["obs"],
                                          device=agent.device).float()
                    _, maps = agent.encoder.forward_maps(agent.aug(obs))
            else:
                module = agent.critic if name == "critic" else agent.actor
                opts = [agent.critic_opt if name == "critic" else agent.actor_opt]
                pairs, maps = module.redo_pairs(), agent.maps[name]
                renew_norms_(module.redo_norms(), maps, tau, opts)
            units = redo_(pairs, maps, tau, opts, orthogonal_init)
            rows.append({"module": name, "units": sum(units), "layers": len(units), "tau": tau})
            metrics[f"redo/{name}_units"] = float(sum(units))
        return rows, metrics

    def summary(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"redo_periods_done": self.periods_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.period.periods_done = state.get("redo_periods_done", 0)


@register("shrink_perturb")
class ShrinkPerturb:
    """Shrink & Perturb of ``cfg.modules`` (``agents/plasticity/shrink_perturb.py``) on ``cfg``'s
    period,
    towards a fresh initialisation (``target: fresh``; the agent's own: ``reset_parameters``,
    then orthogonal, as Reset draws it) or towards the weights the run started with (``target:
    initial``; stored by ``start`` before the first update, kept by the checkpoint)."""

    phase = "after"

    def __init__(self, cfg, total_steps: int = 0):
        self.cfg = cfg
        self.period = Periodic(cfg.every_updates, cfg.every_steps)
        self.done = 0
        self.initial: dict[str, list[torch.Tensor]] | None = None   # theta(0) per module

    @staticmethod
    def check(agent_cfg, cfg) -> None:
        pass

    @staticmethod
    def _parts(agent) -> dict[str, torch.nn.Module]:
        return {"encoder": agent.encoder, "actor": agent.actor, "critic": agent.critic}

    def start(self, agent) -> None:
        """Before the first update (nothing has trained yet): ``theta(0)`` of ``target:
        initial``, unless a checkpoint brought it."""
        if getattr(self.cfg, "target", "fresh") == "initial" and self.initial is None:
            parts = self._parts(agent)
            self.initial = {name: [p.detach().clone() for p in parts[name].parameters()]
                            for name in self.cfg.modules}

    def due(self, step: int, updates: int) -> bool:
        return self.period.due(step, updates)

    def apply(self, agent) -> tuple[Rows, Metrics]:
        self.start(agent)
        parts = self._parts(agent)
        perturb = 1.0 - self.cfg.shrink if self.cfg.perturb is None else self.cfg.perturb
        rows = [{"module": name, "parameters": shrink_perturb_(
            [parts[name]], self.cfg.shrink, perturb, orthogonal_init,
            None if self.initial is None else [self.initial[name]]),
            "shrink": self.cfg.shrink, "perturb": perturb} for name in self.cfg.modules]
        self.done += 1
        return rows, {}

    def summary(self) -> dict[str, Any]:
        return {"shrink_perturbs": self.done}

    def state_dict(self) -> dict[str, Any]:
        state = {"shrink_perturbs_done": self.done,
                 "shrink_perturb_periods_done": self.period.periods_done}
        if self.initial is not None:
            state["shrink_perturb_initial"] = {k: list(v) for k, v in self.initial.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = state.get("shrink_perturbs_done", 0)
        self.period.periods_done = state.get("shrink_perturb_periods_done", 0)
        initial = state.get("shrink_perturb_initial")
        self.initial = None if initial is None else {k: list(v) for k, v in initial.items()}


class Interventions:
    """The configured interventions of one agent, their ``interventions.csv`` rows and their
    counters (one flat state dict: ``rows`` and each intervention's own keys).

    An intervention whose section has a ``trigger`` runs on what a metric says instead of its
    schedule: the trigger (``agents/plasticity/triggers.py``) reads every update's metrics
    (``observe``)
    and decides at episode ends (``on_episode_end``); a fire arms the intervention, which runs at
    the next update in its phase. The checks are rows of ``intervention_checks.csv``."""

    def __init__(self, items: list[Intervention], frames_per_step: int = 1):
        self.items = {item.key: item for item in items}
        self.frames_per_step = frames_per_step
        self.rows: Rows = []
        self.triggers = {key: MetricTrigger(t.metric, t.condition, t.threshold, t.every,
                                            t.window, t.cooldown, t.once)
                         for key, item in self.items.items()
                         if (t := getattr(item.cfg, "trigger", None)) is not None}
        self.armed: set[str] = set()
        self.check_rows: Rows = []
        self.started = False

    def apply(self, key: str, agent) -> Metrics:
        """Run intervention ``key`` on ``agent`` now and record what it touched."""
        rows, metrics = self.items[key].apply(agent)
        for row in rows:
            self.rows.append({"step": agent.step, "frame": agent.step * self.frames_per_step,
                              "update": agent.updates, "kind": key, **row})
        return metrics

    def _due(self, key: str, item: Intervention, agent) -> bool:
        if key in self.triggers:
            if key in self.armed:
                self.armed.discard(key)
                return True
            return False
        return item.due(agent.step, agent.updates)

    def _run(self, phase: str, agent) -> Metrics:
        metrics: Metrics = {}
        for key, item in self.items.items():
            if item.phase == phase and self._due(key, item, agent):
                metrics.update(self.apply(key, agent))
        return metrics

    def observe(self, metrics: dict[str, Any]) -> None:
        """One update's metrics, for the triggers."""
        for trigger in self.triggers.values():
            trigger.observe(metrics)

    def on_episode_end(self, info: dict[str, Any]) -> None:
        """Checks of the triggers; a fire arms its intervention for the next update."""
        episode, step = int(info["episode"]), int(info["step"])
        for key, trigger in self.triggers.items():
            if trigger.end_episode(episode, step):
                self.armed.add(key)
            self.check_rows += [{"kind": key, "metric": trigger.metric,
                                 "frame": r["step"] * self.frames_per_step, **r}
                                for r in trigger.pop_rows()]

    def before_update(self, agent) -> None:
        """Those due before the update draws its batch (Reset); before the first update of
        this session, each one's optional ``start(agent)`` (what it keeps of the start)."""
        if not self.started:
            self.started = True
            for item in self.items.values():
                start = getattr(item, "start", None)
                if start is not None:
                    start(agent)
        self._run("before", agent)

    def after_update(self, agent) -> Metrics:
        """Post-update hook: those due after this update (ReDo), on its maps."""
        return self._run("after", agent)

    def pop_rows(self) -> Rows:
        out, self.rows = self.rows, []
        return out

    def pop_check_rows(self) -> Rows:
        """``intervention_checks.csv`` rows since the last call."""
        out, self.check_rows = self.check_rows, []
        return out

    def summary(self) -> dict[str, Any]:
        out = {k: v for item in self.items.values() for k, v in item.summary().items()}
        out.update({f"{key}_fired_steps": list(t.fired_steps)
                    for key, t in self.triggers.items()})
        return out

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for item in self.items.values():
            state.update(item.state_dict())
        if self.triggers:
            state["triggers"] = {k: t.state_dict() for k, t in self.triggers.items()}
            state["armed"] = sorted(self.armed)
            state["check_rows"] = list(self.check_rows)
        return state | {"rows": list(self.rows)}

    def prepare_load(self, agent, state: dict[str, Any]) -> None:
        """Before the agent's weights load from a checkpoint: an intervention that changes
        the networks' structure (plasticity injection) rebuilds it (its optional
        ``prepare_load``)."""
        for item in self.items.values():
            prepare = getattr(item, "prepare_load", None)
            if prepare is not None:
                prepare(agent, state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = list(state["rows"])
        for item in self.items.values():
            item.load_state_dict(state)
        for key, saved in state.get("triggers", {}).items():
            if key in self.triggers:
                self.triggers[key].load_state_dict(saved)
        self.armed = set(state.get("armed", []))
        self.check_rows = list(state.get("check_rows", []))


def make_interventions(cfg, total_steps: int, frames_per_step: int = 1) -> Interventions:
    """Every registered intervention whose section ``cfg.<key>`` is set (``OffPolicyConfig``);
    ``total_steps``: the run's agent steps (Reset spreads its resets over them)."""
    items = []
    for key, cls in registered().items():
        if getattr(cfg, key, None) is not None:
            item = cls(getattr(cfg, key), total_steps)
            item.key = key
            items.append(item)
    return Interventions(items, frames_per_step)
