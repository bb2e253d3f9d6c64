"""PPO's weight metrics (issue 21, ``agent.weight_metrics``): the logged weight, change and
gradient norms of actor and critic, and the rank and dormant metrics of the critic's hidden
layers on the segment, against brute-force numpy computations; a run writes them to
metrics.csv, and a resumed run logs the same values as an uninterrupted one."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import envs
from bench.random_replay import collect_segment
from agents.ppo.agent import PPOAgent
from configs.schema import PPOConfig


def flat(tensors) -> np.ndarray:
    return np.concatenate([t.detach().double().numpy().ravel() for t in tensors])


def loss_gradient_norms(agent) -> dict[str, list[float]]:
    """Spy on the agent's minibatch steps: for each step's loss, the norm of its gradient with
    respect to every parameter of actor and of critic (``torch.autograd.grad``, before any
    clipping), for each module the loss reaches (after a KL stop the actor is not in it)."""
    norms = {"actor": [], "critic": []}
    real_step = agent._step

    def step(loss, *args, **kwargs):
        for m, found in norms.items():
            grads = torch.autograd.grad(loss, list(getattr(agent, m).parameters()),
                                        retain_graph=True, allow_unused=True)
            reached = [g for g in grads if g is not None]
            if reached:
                found.append(float(np.sqrt(sum(float((g.double() ** 2).sum()) for g in reached))))
        return real_step(loss, *args, **kwargs)

    agent._step = step
    return norms


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_logged_metrics_equal_brute_force(activation):
    env = envs.make_state_env("swim", n_joints=5)
    cfg = PPOConfig(segment=128, iterations=3, critic_hidden=[16, 12], weight_metrics=True,
                    critic_activation=activation, actor={"type": "mlp", "hidden": [8, 8]})
    torch.manual_seed(0)
    agent = PPOAgent(cfg, env.observation_space, env.action_space, env=env)
    init = {m: flat(getattr(agent, m).parameters()) for m in ("actor", "critic")}
    collect_segment(agent, env)
    with torch.no_grad():   # the critic's input: normalised with the statistics before the update
        x = agent.normalizer(torch.as_tensor(agent.buffer.obs)).double().numpy()
    steps = loss_gradient_norms(agent)
    logged = agent.update()
    assert len(steps["critic"]) == 3 and len(steps["actor"]) == logged["actor_steps"]
    for m in ("actor", "critic"):
        now = flat(getattr(agent, m).parameters())
        assert np.isclose(logged[f"weight/{m}"], np.sqrt(np.mean(now ** 2)), rtol=1e-5)
        assert np.isclose(logged[f"weight_change/{m}"], np.sqrt(np.mean((now - init[m]) ** 2)),
                          rtol=1e-4)
        # the mean over the segment's minibatch steps, not the last step's gradient
        assert np.isclose(logged[f"grad_norm/{m}"], np.mean(steps[m]), rtol=1e-4)
    # the critic's hidden layers by hand: h1 = act(W1 x + b1), h2 = act(W2 h1 + b2)
    act = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    (w1, b1), (w2, b2), _ = [(layer.weight.detach().double().numpy(),
                              layer.bias.detach().double().numpy())
                             for layer in agent.critic if isinstance(layer, torch.nn.Linear)]
    h1 = act(x @ w1.T + b1)
    h2 = act(h1 @ w2.T + b2)
    s = np.linalg.svd(h2, compute_uv=False)
    # srank_0.01: the fewest singular values holding 99% of their sum, counted by a loop
    k, running = 0, 0.0
    while running < 0.99 * s.sum() - 1e-9:
        running += s[k]
        k += 1
    assert logged["srank/critic"] == k
    p = s / s.sum()
    p = p[p > 0]
    assert np.isclose(logged["erank/critic"], np.exp(-(p * np.log(p)).sum()), rtol=1e-4)
    scores = []   # ReDo: E|h_i| / mean_k E|h_k|, per layer, pooled over both layers
    for h in (h1, h2):
        mean_abs = np.abs(h).mean(axis=0)
        scores += list(mean_abs / mean_abs.mean())
    for tau in (0.0, 0.025):
        assert np.isclose(logged[f"dormant{tau:g}/critic"], np.mean(np.array(scores) <= tau),
                          atol=1e-6)
    if activation == "relu":
        positive = ((h1 > 0).sum() + (h2 > 0).sum()) / (h1.size + h2.size)
        assert np.isclose(logged["fau/critic"], positive, atol=1e-6)
    else:
        assert "fau/critic" not in logged, "FAU counts positive ReLU units; not for tanh"


def test_grad_norms_are_the_pre_clip_mean_over_minibatches_and_survive_a_kl_stop():
    """Minibatches of 32 over a segment of 128, two passes: a KL target so small that the actor
    stops after its first steps, and a clip far below the gradients' norm. The logged norms are
    the means of the unclipped norms of the steps each module took (the actor: its few), not
    the last minibatch's (0 for a stopped actor, the clip for the critic)."""
    env = envs.make_state_env("swim", n_joints=5)
    cfg = PPOConfig(segment=128, minibatch=32, iterations=2, critic_hidden=[16, 12],
                    weight_metrics=True, kl_target=1e-9, max_grad_norm=1e-3,
                    actor={"type": "mlp", "hidden": [8, 8]})
    torch.manual_seed(0)
    agent = PPOAgent(cfg, env.observation_space, env.action_space, env=env)
    collect_segment(agent, env)
    steps = loss_gradient_norms(agent)
    logged = agent.update()
    assert len(steps["critic"]) == 8 and len(steps["actor"]) == logged["actor_steps"]
    assert 1 <= logged["actor_steps"] < 8, "the actor must stop before the last minibatch"
    assert min(steps["critic"]) > 10 * cfg.max_grad_norm, "the clip would not bite"
    for m in ("actor", "critic"):
        assert np.isclose(logged[f"grad_norm/{m}"], np.mean(steps[m]), rtol=1e-4), m


@pytest.mark.slow
def test_a_run_logs_them_to_metrics_csv_and_resumes_with_its_init(tmp_path):
    from pathlib import Path

    from configs.loader import load_config
    from trainer.api import train

    preset = Path(__file__).resolve().parent.parent / "configs/mlp_swim_ppo.yaml"
    args = ["agent.segment=256", "agent.iterations=2", "agent.critic_hidden=[16,16]",
            "agent.weight_metrics=true", "trainer.eval_every=512", "trainer.eval_episodes=1",
            "trainer.log_every=256", "trainer.checkpoint_every=512", "trainer.progress=false",
            "trainer.tensorboard=false"]
    a = tmp_path / "a"
    train(load_config(preset, [*args, "steps=1024", f"run_dir={a}"]))
    b = tmp_path / "b"
    train(load_config(preset, [*args, "steps=512", f"run_dir={b}"]))
    train(load_config(preset, [*args, "steps=1024", f"run_dir={b}"]))
    keys = ("weight/critic", "weight_change/critic", "weight_change/actor", "grad_norm/critic",
            "srank/critic", "dormant0.025/critic")

    def logged(run):
        with (run / "metrics.csv").open(newline="") as f:
            return [tuple(r[k] for k in keys) for r in csv.DictReader(f) if r.get(keys[0])]

    rows = logged(a)
    assert len(rows) == 1024 // 256 and all(float(r[1]) > 0 for r in rows)
    assert logged(b) == rows, "the resumed run logs what the uninterrupted one did"
