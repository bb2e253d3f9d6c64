"""The optimised off-policy update against a plainly written DrQ-v2 / TD3 update.

The agent (``agents/offpolicy/agent.py``: fused Adam, foreach Polyak, metrics kept on the device,
optionally ``torch.compile``) takes a few updates on fixed state batches; a reference written
here from the equations (explicit matrices, a hand-written Adam, a per-tensor Polyak average)
takes the same updates from the same initial weights and the same torch random numbers. The
weights must agree within float tolerance, and the logged losses and plasticity metrics must be
the reference's.

Reference rule (Yarats et al. 2021; Fujimoto et al. 2018 for ``actor_loss: td3``):
``a' = clamp(pibar(s') + clip(sigma eps, +-c), -1, 1)``, ``y = r + d min(Qbar_1, Qbar_2)(s', a')``,
``L_Q = sum_i MSE(Q_i(s, a), y)``; DrQ-v2 ``L_pi = -mean(min_i Q_i(s, pi(s) + clip(sigma eps)))``,
TD3 ``L_pi = -mean(Q_1(s, mu(s)))``; Adam (``beta = 0.9, 0.999``, ``eps = 1e-8``);
``theta_bar <- theta_bar + tau (theta - theta_bar)``.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.offpolicy.agent import OffPolicyAgent
from configs.schema import FixedRRConfig, OffPolicyConfig

OBS, ACT, BATCH, HIDDEN = 5, 2, 16, 32
STD, CLIP, TAU, LR = 0.3, 0.5, 0.5, 3e-3   # a large tau: a wrong Polyak rate shows
UPDATES = 4


# --- the reference, written from the equations ------------------------------------------------
def linear(p, name, x):
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def layer_norm(p, name, x):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * p[f"{name}.weight"] + p[f"{name}.bias"]


def features(p, x, trunk: bool):
    """``tanh(LayerNorm(W x + b))`` (DrQ-v2's trunk) or ``x`` itself (no trunk)."""
    return torch.tanh(layer_norm(p, "trunk.1", linear(p, "trunk.0", x))) if trunk else x


def actor_mu(p, s, trunk: bool):
    """``mu = tanh(MLP(trunk(s)))`` and the two post-ReLU maps."""
    h1 = torch.relu(linear(p, "policy.0", features(p, s, trunk)))
    h2 = torch.relu(linear(p, "policy.2", h1))
    return torch.tanh(linear(p, "policy.4", h2)), [h1, h2]


def q_values(p, s, a, trunk: bool):
    """``Q_1, Q_2`` on ``[trunk(s), a]`` and the 4 post-ReLU maps (Q1's, then Q2's)."""
    x = torch.cat([features(p, s, trunk), a], dim=-1)
    out, maps = [], []
    for head in ("q1", "q2"):
        h1 = torch.relu(linear(p, f"{head}.l1", x))
        h2 = torch.relu(linear(p, f"{head}.l2", h1))
        out.append(linear(p, f"{head}.out", h2))
        maps += [h1, h2]
    return out[0], out[1], maps


def noisy(mu, std, clip):
    """``clamp(mu + clip(std eps, +-c), -1 + 1e-6, 1 - 1e-6)``, gradient straight to ``mu``."""
    x = mu + (torch.randn(mu.shape) * std).clamp(-clip, clip)
    return x + (x.clamp(-1 + 1e-6, 1 - 1e-6) - x).detach()


class Adam:
    """``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``theta <- theta - lr m_hat / (sqrt(v_hat) + eps)`` with bias-corrected moments."""

    def __init__(self, params: dict, lr: float, b1=0.9, b2=0.999, eps=1e-8):
        self.p, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict) -> None:
        self.t += 1
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            m_hat = self.m[k] / (1 - self.b1 ** self.t)
            v_hat = self.v[k] / (1 - self.b2 ** self.t)
            with torch.no_grad():
                self.p[k] -= self.lr * m_hat / (torch.sqrt(v_hat) + self.eps)


def dormant_ratio_by_hand(maps, tau):
    """ReDo: unit ``i`` of a layer is dormant if ``E|h_i| / mean_k E|h_k| <= tau``."""
    dormant = total = 0
    for h in maps:
        score = h.abs().mean(0)
        dormant += int((score / (score.mean() + 1e-9) <= tau).sum())
        total += h.shape[1]
    return dormant / total


class Reference:
    """A plainly written update on copies of the agent's initial weights."""

    def __init__(self, agent: OffPolicyAgent, rule: str, trunk: bool, target_actor: bool):
        def copy(module):
            return {k: v.detach().clone().requires_grad_(True)
                    for k, v in module.state_dict().items()}

        self.rule, self.trunk = rule, trunk
        self.actor, self.critic = copy(agent.actor), copy(agent.critic)
        self.critic_target = copy(agent.critic_target)
        self.actor_target = copy(agent.actor_target) if target_actor else None
        self.actor_opt, self.critic_opt = Adam(self.actor, LR), Adam(self.critic, LR)
        self.logged: list[dict[str, float]] = []

    def update(self, b: dict[str, torch.Tensor]) -> None:
        s, a, r, d, s2 = b["obs"], b["action"], b["reward"], b["discount"], b["next_obs"]
        with torch.no_grad():
            mu2, _ = actor_mu(self.actor_target or self.actor, s2, self.trunk)
            tq1, tq2, _ = q_values(self.critic_target, s2, noisy(mu2, STD, CLIP), self.trunk)
            y = r + d * torch.min(tq1, tq2)
        q1, q2, critic_maps = q_values(self.critic, s, a, self.trunk)
        critic_loss = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
        grads = torch.autograd.grad(critic_loss, list(self.critic.values()))
        self.critic_opt.step(dict(zip(self.critic, grads)))

        mu, actor_maps = actor_mu(self.actor, s, self.trunk)
        if self.rule == "td3":
            actor_loss = -q_values(self.critic, s, mu, self.trunk)[0].mean()
        else:
            pq1, pq2, _ = q_values(self.critic, s, noisy(mu, STD, CLIP), self.trunk)
            actor_loss = -torch.min(pq1, pq2).mean()
        grads = torch.autograd.grad(actor_loss, list(self.actor.values()))
        self.actor_opt.step(dict(zip(self.actor, grads)))

        with torch.no_grad():
            pairs = [(self.critic_target, self.critic)]
            if self.actor_target is not None:
                pairs.append((self.actor_target, self.actor))
            for target, online in pairs:
                for k in target:
                    target[k] += TAU * (online[k] - target[k])
        maps = [m.detach() for m in critic_maps]
        self.logged.append({
            "loss/critic": float(critic_loss.detach()), "loss/actor": float(actor_loss.detach()),
            "q": float(q1.mean()), "target_q": float(y.mean()),
            "fau/critic": sum(int((m > 0).sum()) for m in maps) / sum(m.numel() for m in maps),
            "dormant0.025/critic": dormant_ratio_by_hand(maps, 0.025),
            "dormant0/actor": dormant_ratio_by_hand([m.detach() for m in actor_maps], 0.0)})


# --- the comparison ---------------------------------------------------------------------------
def fixed_batches(seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"obs": rng.normal(size=(BATCH, OBS)).astype(np.float32),
             "action": rng.uniform(-1, 1, (BATCH, ACT)).astype(np.float32),
             "reward": rng.normal(size=(BATCH, 1)).astype(np.float32),
             "discount": (0.99 * (rng.uniform(size=(BATCH, 1)) > 0.1)).astype(np.float32),
             "next_obs": rng.normal(size=(BATCH, OBS)).astype(np.float32)}
            for _ in range(UPDATES)]


def make_agent(**overrides) -> OffPolicyAgent:
    cfg = OffPolicyConfig(**{**dict(
        batch_size=BATCH, hidden_dim=HIDDEN, lr=LR, critic_tau=TAU, std_schedule=str(STD),
        std_clip=CLIP, explore_steps=0, seed_frames=0, replay_capacity=64, n_step=1,
        rr_schedule=FixedRRConfig(rr=1)), **overrides})
    obs = gym.spaces.Box(-np.inf, np.inf, (OBS,), np.float32)
    act = gym.spaces.Box(-1.0, 1.0, (ACT,), np.float32)
    torch.manual_seed(0)
    return OffPolicyAgent(cfg, obs, act, seed=0)


CASES = {
    # DrQ-v2's rule from states: LayerNorm trunk, online actor in the target, min(Q1, Q2)
    "drqv2": dict(feature_dim=8, target_actor=False),
    # TD3 at the bench's settings: no trunk, target actor, actor loss on Q1(s, mu(s))
    "td3": dict(feature_dim=None, target_actor=True, actor_loss="td3"),
}


def run_both(case: str, **extra):
    overrides = {**CASES[case], **extra}
    agent = make_agent(**overrides)
    ref = Reference(agent, overrides.get("actor_loss", "min_q"), overrides["feature_dim"]
                    is not None, overrides["target_actor"])
    batches = fixed_batches()
    queue = list(batches)
    agent.replay.sample = lambda batch_size, *args: queue.pop(0)
    torch.manual_seed(123)
    for _ in batches:
        agent.update()
    torch.manual_seed(123)
    for b in batches:
        ref.update({k: torch.as_tensor(v) for k, v in b.items()})
    return agent, ref


def assert_close_params(agent: OffPolicyAgent, ref: Reference) -> None:
    parts = {"actor": agent.actor, "critic": agent.critic, "critic_target": agent.critic_target}
    if ref.actor_target is not None:
        parts["actor_target"] = agent.actor_target
    for part, module in parts.items():
        for name, value in module.state_dict().items():
            torch.testing.assert_close(value, getattr(ref, part)[name].detach(), rtol=1e-4,
                                       atol=1e-5, msg=f"{part}.{name}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_optimised_update_matches_the_plain_reference(case):
    agent, ref = run_both(case)
    assert_close_params(agent, ref)
    logged = agent.pending_metrics()
    # the weights moved: the comparison is not between two untouched copies
    moved = max(float((agent.critic.state_dict()[k] - v).abs().max())
                for k, v in make_agent(**CASES[case]).critic.state_dict().items())
    assert moved > 1e-3
    for key in ref.logged[0]:
        ours = logged[key]
        want = [row[key] for row in ref.logged]
        assert len(ours) == UPDATES, key
        assert all(math.isclose(o, w, rel_tol=1e-4, abs_tol=1e-5) for o, w in
                   zip(ours, want)), f"{key}: {ours} vs {want}"


@pytest.mark.slow
def test_compiled_update_matches_the_plain_reference():
    """``agent.compile: true`` runs the same rule (and the same random numbers)."""
    agent, ref = run_both("drqv2", compile=True)
    assert_close_params(agent, ref)


def test_adam_step_is_bit_identical_to_torch_adam_step_across_a_state_drop():
    """``agents.offpolicy.fused_adam.adam_step`` vs ``torch.optim.Adam(fused=True).step()`` on twin
    copies: equal weights and moments after steps, after the state of some parameters is
    dropped (as Reset does) and after a parameter gets no gradient."""
    from agents.offpolicy.fused_adam import adam_step

    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
            for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [torch.optim.Adam(n.parameters(), lr=1e-2, fused=True) for n in nets]
    for step in range(6):
        x = torch.randn(8, 6)
        for net, opt, do_step in zip(nets, opts, (lambda o: o.step(), adam_step)):
            if step == 3:
                opt.state.pop(net[0].weight)   # a Reset drops this parameter's Adam state
            opt.zero_grad(set_to_none=True)
            net(x).pow(2).mean().backward(inputs=list(net[2].parameters()) if step == 4
                                          else None)
            do_step(opt)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        assert torch.equal(a, b)
    for pa, pb in zip(nets[0].parameters(), nets[1].parameters()):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opts[0].state[pa][key], opts[1].state[pb][key]), key
    assert not torch.equal(nets[0][0].weight, torch.zeros_like(nets[0][0].weight))
