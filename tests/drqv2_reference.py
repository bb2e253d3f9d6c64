"""A plainly written DrQ-v2 update (Yarats et al. 2021), the reference for equivalence tests.

Written from the paper's equations (``shared/reference/drqv2_arr.md`` sections 1, 3 and 4) and
independent of ``agents/``: parameters are plain tensors in dicts, layers are
``torch.nn.functional`` calls, Adam is written out, and each replay transition is rebuilt from
the raw episode steps by the definitions below. It draws no random numbers: the random shifts
and the standard-normal exploration draws are arguments.

* observation ``o_k``: images ``f_{max(k-m+1, 0)} ... f_k`` (the reset image repeated at the
  start of an episode); states: ``f_k`` (``m = 1``);
* n-step transition leaving ``o_k`` of an episode with ``T`` stored steps:
  ``j = min(n, T - k)``, ``R_n = sum_{i<j} gamma^i r_{k+i}``,
  ``gamma_n = gamma^j`` (0 if ``o_{k+j}`` is terminal), next observation ``o_{k+j}``;
* random shift: replicate-pad by ``pad`` pixels, cut the ``H x H`` window at ``(dx, dy)``;
* encoder ``f``: ``x = o / 255 - 0.5``, 4 x (conv 3x3, ReLU), first stride 2, flattened
  (states: the identity);
* trunk ``g(h) = tanh(LayerNorm(W h + b))``; ``mu(h) = tanh(MLP(g_pi(h)))``;
  ``Q_i(h, a) = MLP_i([g_Q(h), a])``, MLP = Linear, ReLU, Linear, ReLU, Linear;
* policy sample ``a = clamp(mu + clip(sigma eps, -c, c), -1 + 1e-6, 1 - 1e-6)`` with the
  gradient passed straight through the clamp;
* ``y = R_n + gamma_n min(Qbar_1, Qbar_2)(f(o'), a')``, ``a' ~ pi(f(o'))``, no gradient;
  ``L_Q = mean (Q_1(f(o), a) - y)^2 + mean (Q_2(f(o), a) - y)^2``, one Adam step of the
  critic and one of the encoder;
* ``L_pi = -mean min(Q_1, Q_2)(sg(f(o)), a~pi(sg(f(o))))`` with the updated critic, one Adam
  step of the actor;
* ``theta_bar <- tau theta + (1 - tau) theta_bar`` over the critic's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

Params = dict[str, torch.Tensor]


# --- replay transitions by definition ----------------------------------------------------------
@dataclass
class Episode:
    """Raw steps: images (or state vectors) ``f_0 ... f_T``, actions and rewards ``0 ... T-1``;
    ``terminal``: ``f_T`` is a terminal state."""

    frames: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminal: bool = False


def observation(ep: Episode, k: int, stack: int) -> np.ndarray:
    """``o_k``: the last ``stack`` images up to ``f_k``, oldest first, ``f_0`` repeated."""
    return np.concatenate([ep.frames[max(k - i, 0)] for i in range(stack - 1, -1, -1)])


def n_step_transition(ep: Episode, k: int, stored: int, n: int, gamma: float, stack: int
                      ) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray]:
    """``(o_k, a_k, R_n, gamma_n, o_{k+j})`` with ``stored`` steps of ``ep`` in the buffer."""
    j = min(n, stored - k)
    ret = sum(gamma ** i * ep.rewards[k + i] for i in range(j))
    terminal = ep.terminal and k + j == len(ep.actions)
    return (observation(ep, k, stack), ep.actions[k], ret, 0.0 if terminal else gamma ** j,
            observation(ep, k + j, stack))


def random_shift(x: torch.Tensor, shift: torch.Tensor, pad: int) -> torch.Tensor:
    """Window ``(dx, dy) = shift[b]`` of each replicate-padded image ``x[b]`` ``(C, H, H)``."""
    side = x.shape[-1]
    padded = F.pad(x, (pad,) * 4, mode="replicate")
    return torch.stack([padded[b, :, dy:dy + side, dx:dx + side]
                        for b, (dx, dy) in enumerate(shift.tolist())])


# our module layout (agents/offpolicy/nets.py) -> the names used here
RENAME = {"encoder": {f"convnet.{2 * i}.": f"conv{i}." for i in range(4)},
          "actor": {"trunk.0.": "trunk.linear.", "trunk.1.": "trunk.norm.",
                    "policy.0.": "pi.l1.", "policy.2.": "pi.l2.", "policy.4.": "pi.l3."},
          "critic": {"trunk.0.": "trunk.linear.", "trunk.1.": "trunk.norm.",
                     **{f"q{i}.{ours}.": f"q{i}.{theirs}." for i in (1, 2)
                        for ours, theirs in (("l1", "l1"), ("l2", "l2"), ("out", "l3"))}}}


def reference_names(part: str, named: Iterable[tuple[str, torch.Tensor]]) -> Params:
    """Our ``part``'s tensors (``named_parameters()`` or ``state_dict().items()``) under the
    names used here; every one must have a counterpart."""
    rename = RENAME["critic" if part == "critic_target" else part]
    out = {}
    for name, value in named:
        prefix = next((p for p in rename if name.startswith(p)), None)
        assert prefix is not None, f"{part}.{name} has no counterpart in the reference"
        out[rename[prefix] + name[len(prefix):]] = value.detach()
    return out


# --- networks ------------------------------------------------------------------------------------
def encode(p: Params | None, obs: torch.Tensor) -> torch.Tensor:
    """``f(o)``; ``p`` None: state vectors, the identity."""
    if p is None:
        return obs
    x = obs / 255.0 - 0.5
    for i in range(4):
        x = F.relu(F.conv2d(x, p[f"conv{i}.weight"], p[f"conv{i}.bias"], stride=2 if i == 0 else 1))
    return x.flatten(1)


def mlp(p: Params, prefix: str, x: torch.Tensor) -> torch.Tensor:
    x = F.relu(F.linear(x, p[f"{prefix}.l1.weight"], p[f"{prefix}.l1.bias"]))
    x = F.relu(F.linear(x, p[f"{prefix}.l2.weight"], p[f"{prefix}.l2.bias"]))
    return F.linear(x, p[f"{prefix}.l3.weight"], p[f"{prefix}.l3.bias"])


def trunk(p: Params, h: torch.Tensor) -> torch.Tensor:
    z = F.linear(h, p["trunk.linear.weight"], p["trunk.linear.bias"])
    z = F.layer_norm(z, z.shape[-1:], p["trunk.norm.weight"], p["trunk.norm.bias"])
    return torch.tanh(z)


def actor_mean(p: Params, h: torch.Tensor) -> torch.Tensor:
    return torch.tanh(mlp(p, "pi", trunk(p, h)))


def q_values(p: Params, h: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([trunk(p, h), a], dim=-1)
    return mlp(p, "q1", x), mlp(p, "q2", x)


def policy_sample(mu: torch.Tensor, sigma: float, eps: torch.Tensor, clip: float) -> torch.Tensor:
    a = mu + (sigma * eps).clamp(-clip, clip)
    return a + (a.clamp(-1.0 + 1e-6, 1.0 - 1e-6) - a).detach()


# --- optimiser -----------------------------------------------------------------------------------
class Adam:
    """Kingma & Ba: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``."""

    def __init__(self, params: Params, lr: float, b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, b1, b2, eps
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        self.t = 0

    @torch.no_grad()
    def step(self, grads: Params) -> None:
        self.t += 1
        for k, theta in self.params.items():
            g = grads[k]
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            m_hat = self.m[k] / (1 - self.b1 ** self.t)
            v_hat = self.v[k] / (1 - self.b2 ** self.t)
            theta -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


def _grads(loss: torch.Tensor, params: Params) -> Params:
    names = list(params)
    return dict(zip(names, torch.autograd.grad(loss, [params[k] for k in names])))


# --- the agent -----------------------------------------------------------------------------------
class ReferenceDrQV2:
    """DrQ-v2's update (module docstring) on given parameters (copied, made leaves)."""

    def __init__(self, encoder: Params | None, actor: Params, critic: Params, lr: float,
                 tau: float, clip: float, pad: int):
        def leaves(p: Params) -> Params:
            return {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}

        self.encoder = leaves(encoder) if encoder is not None else None
        self.actor, self.critic = leaves(actor), leaves(critic)
        self.critic_target = {k: v.detach().clone() for k, v in critic.items()}
        self.encoder_opt = Adam(self.encoder, lr) if self.encoder is not None else None
        self.actor_opt, self.critic_opt = Adam(self.actor, lr), Adam(self.critic, lr)
        self.tau, self.clip, self.pad = tau, clip, pad
        # how often min(Q1, Q2) took each head: (Q1 < Q2, Q2 < Q1) in targets and actor loss
        self.min_picks = {"target": [0, 0], "actor": [0, 0]}

    def _count(self, where: str, q1: torch.Tensor, q2: torch.Tensor) -> None:
        self.min_picks[where][0] += int((q1 < q2).sum())
        self.min_picks[where][1] += int((q2 < q1).sum())

    def update(self, obs: torch.Tensor, action: torch.Tensor, ret: torch.Tensor,
               discount: torch.Tensor, next_obs: torch.Tensor, sigma: float,
               eps_target: torch.Tensor, eps_actor: torch.Tensor,
               shift_obs: torch.Tensor | None = None, shift_next: torch.Tensor | None = None
               ) -> dict[str, float]:
        """One update; ``ret`` and ``discount`` are ``(B, 1)``; returns both losses."""
        if self.encoder is not None:
            obs = random_shift(obs, shift_obs, self.pad)
            next_obs = random_shift(next_obs, shift_next, self.pad)
        h = encode(self.encoder, obs)
        with torch.no_grad():
            h_next = encode(self.encoder, next_obs)
            a_next = policy_sample(actor_mean(self.actor, h_next), sigma, eps_target, self.clip)
            tq1, tq2 = q_values(self.critic_target, h_next, a_next)
            self._count("target", tq1, tq2)
            y = ret + discount * torch.min(tq1, tq2)
        q1, q2 = q_values(self.critic, h, action)
        critic_loss = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
        both = {**{f"critic.{k}": v for k, v in self.critic.items()},
                **{f"encoder.{k}": v for k, v in (self.encoder or {}).items()}}
        grads = _grads(critic_loss, both)
        self.critic_opt.step({k: grads[f"critic.{k}"] for k in self.critic})
        if self.encoder_opt is not None:
            self.encoder_opt.step({k: grads[f"encoder.{k}"] for k in self.encoder})

        h = h.detach()
        a = policy_sample(actor_mean(self.actor, h), sigma, eps_actor, self.clip)
        q1, q2 = q_values(self.critic, h, a)
        self._count("actor", q1.detach(), q2.detach())
        actor_loss = -torch.min(q1, q2).mean()
        self.actor_opt.step(_grads(actor_loss, self.actor))

        with torch.no_grad():
            for k, theta in self.critic.items():
                self.critic_target[k] = self.tau * theta + (1 - self.tau) * self.critic_target[k]
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item()}
