"""Evolution strategies (Salimans et al. 2017, OpenAI-ES) as the NCAP paper ran them (ncap.md §5.4).

Parameters ``theta`` (all actor weights, flattened: 4 for the shared NCAP circuit). A generation
of ``P`` members (``P`` even) uses ``P / 2`` antithetic pairs of Gaussian perturbations
``eps_k ~ N(0, I)``: member ``2k`` acts with ``theta + sigma eps_k``, member ``2k + 1`` with
``theta - sigma eps_k``. Each member runs **one deterministic training episode**; its return is
its fitness ``F_i``. Once the generation is complete:

* centred ranks ``u_i = rank(F_i) / (P - 1) - 1/2`` in ``[-1/2, 1/2]`` (ties by member order:
  the earlier member ranks lower);
* ``g = sum_i u_i s_i eps_{k(i)} / P`` with ``s_i = +1`` (even ``i``) or ``-1`` (odd),
  clamped element-wise to ``[-grad_clip, grad_clip]``;
* Adam (lr 0.01, L2 weight decay 0.005) ascends ``g``: the gradient handed to Adam is ``-g``.

Scale of ``g``: the authors' vendored estorch draws the perturbation ``delta ~ N(0, sigma^2 I)``
(``Normal(0, sigma)``) and computes ``ranks . delta / (P sigma)``. With ``delta = sigma eps`` this
is ``sum_i u_i s_i eps_{k(i)} / P``: no ``1 / sigma`` is left (ncap.md §5.4). Before this was
fixed we divided the standard-normal ``eps`` by ``P sigma`` too, a gradient ``1 / sigma`` (50x at
sigma 0.02) too large, which the clamp turned into a sign-like step and against which the coupled
L2 of 0.005 was about 10x too weak. (estorch orders members ``[+delta_1..+delta_{P/2},
-delta_1..]``; we interleave the pairs. With **distinct** fitness values that is the same sum.
With ties it is not: tied members get distinct ranks by their position in the member order
(our stable sort), so the two orders give tied members different ranks and another gradient,
up to 0.16 per element in issue 40's side-by-side run; e.g. ``P = 4``, all four fitnesses equal,
``eps = ([1, 0], [0, 2])``: ours ``[-1/12, -1/6]``, estorch's order ``[-1/6, -1/3]``. Even a
flat fitness gives a nonzero gradient (ours; estorch's too where its sort keeps member order). We keep ours: deterministic, and equal to
estorch's whenever no two fitnesses tie.)

Through the trainer loop: every env step counts toward ``steps``; the member changes at each
training episode end (``on_episode_end``); ``updates_due`` is 1 once all ``P`` fitnesses are in,
and that ``update`` draws the next generation's noise. Evaluation acts with ``theta``. The
environment has no time feature: the circuit counts its own steps (one clock for training
episodes, reset at their end; one for rollouts outside the loop, reset by ``begin_episode``).
The noise comes from the agent's own ``torch.Generator`` and the whole generation (noise,
fitnesses so far, member, clocks) is in ``state_dict``, so a resume mid-generation is exact.
With one env (``trainer.num_envs: 1``) members are evaluated one after the other in the loop's
env. With ``N`` envs (``num_envs=N``, ``trainer/loop.py``) members run in parallel, one per env:
an env whose episode starts (at the run's start or after an episode end) takes the next member
of the generation not yet taken, in env order; its episode's return is that member's fitness
(kept by member index, so the gradient's antithetic pairs are those of one env). An env whose
episode starts when every member of the generation is taken runs a spare episode with
``theta`` (its return is no fitness); the next generation's members go to envs as their
episodes start. With episodes of one fixed length (swim) and ``N`` dividing ``P`` no episode is
spare. Each env has its own actor (member parameters and clock) and ``act`` runs all N in
one call; the parameters each env acts with are in ``state_dict`` (exact resume).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from agents.common.base import Transition
from agents.common.networks import mlp
from agents.policies.actors import build_ncap_actor
from configs import registry


def ncap_es_actor(actor_cfg, obs_dim: int, act_dim: int, env) -> nn.Module:
    """The NCAP circuit as an ES actor: it counts its own steps (no time feature needed)."""
    return build_ncap_actor(actor_cfg, env, own_clock=True)


def mlp_es_actor(actor_cfg, obs_dim: int, act_dim: int, env) -> nn.Module:
    """``ESMLPActor`` from ``ESMLPActorConfig``."""
    return ESMLPActor(obs_dim, act_dim, actor_cfg.hidden, actor_cfg.activation)


class ESMLPActor(nn.Module):
    """Raw observation -> ``tanh(MLP(obs))`` (deterministic; NCAP paper's ES baseline 64x64)."""

    body_independent = False

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], activation: str):
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, activation)

    def forward(self, obs: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.net(obs))


def centred_ranks(fitness: torch.Tensor) -> torch.Tensor:
    """``rank / (P - 1) - 1/2``: the lowest fitness gets -1/2, the highest +1/2."""
    n = fitness.numel()
    ranks = torch.empty(n, dtype=torch.float64)
    ranks[torch.argsort(fitness, stable=True)] = torch.arange(n, dtype=torch.float64)
    return ranks / (n - 1) - 0.5


def es_gradient(fitness: torch.Tensor, noise: torch.Tensor, clip: float | None) -> torch.Tensor:
    """``g = sum_i u_i s_i eps_{k(i)} / P`` for antithetic members (module docstring).

    ``fitness``: ``(P,)`` in member order; ``noise``: ``(P / 2, D)`` standard-normal ``eps_k``
    (member parameters ``theta +- sigma eps_k``). No ``1 / sigma``: estorch's ``/ (P sigma)``
    divides perturbations that already carry ``sigma``.
    """
    u = centred_ranks(fitness)
    pair_weight = (u[0::2] - u[1::2]).to(noise.dtype)  # u_{2k} eps_k + u_{2k+1} (-eps_k)
    g = pair_weight @ noise / fitness.numel()
    return g.clamp(-clip, clip) if clip is not None else g


class ESAgent:
    """ES behind the loop's agent interface (module docstring).

    Args:
        cfg: ``configs.schema.ESConfig``.
        observation_space: flat state ``Box``.
        action_space: ``Box`` (the env clips actions to it).
        env: the training env (the NCAP circuit reads ``env.body``).
        device: ignored beyond ``"cpu"``: ES acts one step at a time on tiny networks.
        seed: seed of the perturbation generator.
        acting_only: build only the actor (evaluation, rendering, transfer).
    """

    def __init__(self, cfg, observation_space, action_space, env: Any = None,
                 device: str = "cpu", seed: int = 0, acting_only: bool = False,
                 total_steps: int = 0, num_envs: int = 1):
        self.cfg = cfg
        self.num_envs = num_envs
        obs_dim = int(np.prod(observation_space.shape))
        act_dim = int(np.prod(action_space.shape))
        build = registry.build("es.actor", cfg.actor.type)   # agents/es/config.py
        self.actor: nn.Module = build(cfg.actor, obs_dim, act_dim, env)
        self.member_actor: nn.Module = build(cfg.actor, obs_dim, act_dim, env)
        self.actor.requires_grad_(False)
        self.member_actor.requires_grad_(False)
        self.theta = nn.Parameter(parameters_to_vector(self.actor.parameters()).clone())
        self.generator = torch.Generator().manual_seed(seed)
        self.train_t = 0     # control steps into the current training episode
        self.eval_t = 0      # control steps into the current rollout outside the loop
        self.updates = 0     # completed generations
        self.member = 0
        self.fitness: list[float] = []
        self.noise = torch.zeros(cfg.population // 2, self.theta.numel())
        if acting_only:
            return
        if num_envs > 1:  # one actor per env, each with its member's parameters and clock
            self.env_actors = [build(cfg.actor, obs_dim, act_dim, env).requires_grad_(False)
                               for _ in range(num_envs)]
            self.env_member = [self.PENDING] * num_envs
            self.env_t = [0] * num_envs
            self.member_fitness = [float("nan")] * cfg.population
        self.optimizer = torch.optim.Adam([self.theta], lr=cfg.lr, weight_decay=cfg.weight_decay)
        self._new_generation()

    PENDING, SPARE = -2, -1  # env_member values besides a member index (N envs)

    # --- generations ----------------------------------------------------------------------
    def _new_generation(self) -> None:
        self.noise = torch.randn(self.cfg.population // 2, self.theta.numel(),
                                 generator=self.generator)
        self.fitness, self.member = [], 0
        if self.num_envs > 1:  # member: the next one an env takes; fitness: members done
            self.member_fitness = [float("nan")] * self.cfg.population
        self._load_member()

    def _member_params(self, i: int) -> torch.Tensor:
        sign = 1.0 if i % 2 == 0 else -1.0
        return self.theta.detach() + sign * self.cfg.sigma * self.noise[i // 2]

    def _load_member(self) -> None:
        vector_to_parameters(self._member_params(self.member), self.member_actor.parameters())
        vector_to_parameters(self.theta.detach(), self.actor.parameters())

    # --- acting ---------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Training (``explore``): the current member's deterministic action; else ``theta``'s.
        With N envs (training): ``obs[N]`` -> each env's member's actions (module docstring)."""
        if explore and self.num_envs > 1:
            return self._act_envs(obs)
        x = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
        if explore:
            t, actor = self.train_t, self.member_actor
            self.train_t += 1
        else:
            t, actor = self.eval_t, self.actor
            self.eval_t += 1
        return actor(x, torch.tensor([float(t)]))[0].numpy()

    def _act_envs(self, obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(obs, dtype=torch.float32)
        out = []
        for i, actor in enumerate(self.env_actors):
            if self.env_member[i] == self.PENDING:  # its episode starts: take the next member
                m = self.member if self.member < self.cfg.population else self.SPARE
                self.member += m != self.SPARE
                params = self.theta.detach() if m == self.SPARE else self._member_params(m)
                vector_to_parameters(params, actor.parameters())
                self.env_member[i] = m
            out.append(actor(x[i:i + 1], torch.tensor([float(self.env_t[i])]))[0])
            self.env_t[i] += 1
        return torch.stack(out).numpy()

    def begin_episode(self, explore: bool) -> None:
        """A rollout outside the loop starts: its clock restarts at 0."""
        self.eval_t = 0

    def observe(self, transition: Transition) -> None:
        """ES learns from episode returns only (``on_episode_end``)."""

    def on_episode_end(self, info: dict[str, Any]) -> None:
        """The current member's episode is over: record its fitness, move to the next member."""
        if self.num_envs > 1:  # env i's member is done; it takes the next at its next act
            i = info["env"]
            if self.env_member[i] >= 0:
                self.member_fitness[self.env_member[i]] = float(info["return"])
                self.fitness.append(float(info["return"]))  # counts the members done
            self.env_member[i], self.env_t[i] = self.PENDING, 0
            return
        self.fitness.append(float(info["return"]))
        self.member += 1
        self.train_t = 0
        if self.member < self.cfg.population:
            self._load_member()

    def updates_due(self, step: int) -> int:
        return int(len(self.fitness) == self.cfg.population)

    def update(self) -> dict[str, float]:
        """One ES step on the complete generation (module docstring)."""
        fitness = torch.tensor(self.fitness if self.num_envs == 1 else self.member_fitness,
                               dtype=torch.float64)
        g = es_gradient(fitness, self.noise, self.cfg.grad_clip)
        self.optimizer.zero_grad(set_to_none=True)
        self.theta.grad = -g.to(self.theta.dtype)
        self.optimizer.step()
        self.updates += 1
        metrics = {"fitness_mean": float(fitness.mean()), "fitness_max": float(fitness.max()),
                   "fitness_min": float(fitness.min()), "grad_norm": float(g.norm()),
                   "generation": float(self.updates)}
        self._new_generation()
        return metrics

    # --- persistence ----------------------------------------------------------------------
    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        state = {"theta": self.theta.detach().clone(), "optimizer": self.optimizer.state_dict(),
                 "generator": self.generator.get_state(), "noise": self.noise.clone(),
                 "fitness": list(self.fitness), "member": self.member, "train_t": self.train_t,
                 "eval_t": self.eval_t, "updates": self.updates,
                 "actor": self.actor.state_dict()}
        if self.num_envs > 1:
            state["envs"] = {
                "member": list(self.env_member), "t": list(self.env_t),
                "member_fitness": list(self.member_fitness),
                "params": torch.stack([parameters_to_vector(a.parameters())
                                       for a in self.env_actors])}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            self.theta.copy_(state["theta"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.noise = state["noise"].clone()
        self.fitness, self.member = list(state["fitness"]), state["member"]
        self.train_t, self.eval_t, self.updates = state["train_t"], state["eval_t"], state["updates"]
        if self.member < self.cfg.population:
            self._load_member()
        else:
            vector_to_parameters(self.theta.detach(), self.actor.parameters())
        if self.num_envs > 1:
            envs = state["envs"]
            self.env_member, self.env_t = list(envs["member"]), list(envs["t"])
            self.member_fitness = list(envs["member_fitness"])
            for actor, params in zip(self.env_actors, envs["params"], strict=True):
                vector_to_parameters(params, actor.parameters())

    def load_policy(self, state: dict[str, Any]) -> None:
        """Load ``theta`` into the actor (possibly trained on another body: a shared circuit)."""
        self.actor.load_state_dict(state["actor"])

    @property
    def body_independent(self) -> bool:
        return bool(getattr(self.actor, "body_independent", False))

    def trainable_parameters(self) -> dict[str, int]:
        return {"policy": int(self.theta.numel())}
