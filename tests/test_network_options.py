"""LayerNorm and CReLU as options of the off-policy networks (issue 21), against the layer
equations written out by hand; a tiny run with both; ReDo with CReLU refused."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

import train as cli
from agents.offpolicy_nets import Actor, Critic
from configs.loader import load_config
from trainer.api import train

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "configs/offpolicy_cartpole_swingup.yaml"


def by_hand_layernorm(z: torch.Tensor, ln: torch.nn.LayerNorm) -> torch.Tensor:
    mean = z.mean(-1, keepdim=True)
    var = ((z - mean) ** 2).mean(-1, keepdim=True)
    return (z - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def test_layernorm_critic_maps_are_relu_of_the_normalised_preactivation():
    torch.manual_seed(0)
    critic = Critic(6, 2, None, 8, norm="layernorm")
    with torch.no_grad():
        critic.q1.norm1.weight.uniform_(0.5, 1.5)
        critic.q1.norm1.bias.uniform_(-0.2, 0.2)
    h, a = torch.randn(5, 6), torch.randn(5, 2)
    _, _, maps = critic(h, a)
    x = torch.cat([h, a], -1)
    expected = F.relu(by_hand_layernorm(x @ critic.q1.l1.weight.T + critic.q1.l1.bias,
                                        critic.q1.norm1))
    torch.testing.assert_close(maps[0], expected, atol=1e-5, rtol=1e-5)


def test_crelu_doubles_the_width_and_keeps_exactly_half_of_the_units_active():
    torch.manual_seed(0)
    critic = Critic(6, 2, None, 8, activation="crelu")
    h, a = torch.randn(5, 6), torch.randn(5, 2)
    q1, _, maps = critic(h, a)
    z = torch.cat([h, a], -1) @ critic.q1.l1.weight.T + critic.q1.l1.bias
    torch.testing.assert_close(maps[0], torch.cat([z.clamp(min=0), (-z).clamp(min=0)], -1))
    assert maps[0].shape == (5, 16) and maps[1].shape == (5, 16) and q1.shape == (5, 1)
    assert (maps[0] > 0).float().mean().item() == 0.5
    actor = Actor(6, 2, None, 8, norm="layernorm", activation="crelu")
    mu, amaps = actor.forward_maps(h)
    assert mu.shape == (5, 2) and [m.shape[-1] for m in amaps] == [16, 16]
    assert [p[0].out_features for p in actor.redo_pairs()] == [8, 8]


def test_default_networks_keep_their_parameter_names():
    """Old checkpoints load: without the options nothing is added or renamed."""
    names = set(Critic(6, 2, 4, 8).state_dict()) | {f"a.{k}" for k in Actor(6, 2, 4, 8).state_dict()}
    assert not any("norm" in n for n in names)
    assert "a.policy.4.weight" in names and "q1.l2.weight" in names


def test_a_tiny_run_with_layernorm_and_crelu_logs_finite_metrics(tmp_path):
    run = tmp_path / "r"
    train(load_config(STATE, [
        "agent.hidden_dim=16", "agent.feature_dim=8", "agent.batch_size=16",
        "agent.explore_steps=100", "agent.seed_frames=100", "steps=400",
        "agent.hidden_norm=layernorm", "agent.activation=crelu", "trainer.log_every=100",
        "trainer.eval_every=400", "trainer.eval_episodes=1", "trainer.progress=false",
        "trainer.tensorboard=false", f"run_dir={run}"]))
    with (run / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("fau/critic")]
    assert rows and all(float(r["fau/critic"]) == pytest.approx(0.5, abs=0.01) for r in rows)
    assert all(torch.isfinite(torch.tensor(float(r["loss/critic"]))) for r in rows)


def test_redo_with_crelu_exits_2_with_one_line(tmp_path, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": {
        "activation": "crelu", "redo": {"every_updates": 100}}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "agent.redo" in err and "crelu" in err, err
    assert not run.exists()
