"""LayerNorm and CReLU as options of the off-policy networks (issue 21), against the layer
equations written out by hand; a tiny run with both, its LayerNorm checked by hand; ReDo of a
LayerNorm unit; ReDo and FAU-reading rules with CReLU refused (issue 40)."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml

import train as cli
from agents.plasticity.interventions import ReDo
from agents.offpolicy.nets import Actor, Critic
from configs.schema import ReDoConfig
from configs.loader import load_config
from trainer.api import build, train
from trainer.checkpoint import load_checkpoint

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


@pytest.mark.slow
def test_a_tiny_run_with_layernorm_and_crelu_trains_layernormed_units(tmp_path):
    """The run's networks carry LayerNorm in the path the losses train (its gains leave 1),
    and in the trained critic each LayerNorm output, un-scaled by its gain and bias, has mean
    0 and variance 1 across the units of every row (by hand); CReLU's FAU is 0.5."""
    run = tmp_path / "r"
    overrides = [
        "agent.hidden_dim=16", "agent.feature_dim=8", "agent.batch_size=16",
        "agent.explore_steps=100", "agent.seed_frames=100", "steps=400",
        "agent.hidden_norm=layernorm", "agent.activation=crelu", "trainer.log_every=100",
        "trainer.eval_every=400", "trainer.eval_episodes=1", "trainer.progress=false",
        "trainer.tensorboard=false", f"run_dir={run}"]
    train(load_config(STATE, overrides))
    with (run / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("fau/critic")]
    assert rows and all(float(r["fau/critic"]) == pytest.approx(0.5, abs=0.01) for r in rows)
    assert all(torch.isfinite(torch.tensor(float(r["loss/critic"]))) for r in rows)
    saved = load_checkpoint(run / "checkpoints/last.pt")["agent"]
    gains = [saved["critic"][f"{h}.{n}.weight"] for h in ("q1", "q2") for n in ("norm1", "norm2")]
    gains += [saved["actor"][k] for k in ("policy.1.weight", "policy.4.weight")]
    assert all(g.shape == (16,) and not torch.all(g == 1.0) for g in gains), \
        "every LayerNorm of the run trained (gains moved from 1)"
    _, agent, _ = build(load_config(STATE, overrides))
    agent.load_state_dict({**saved, "replay": None})
    outputs = []
    for norm in (agent.critic.q1.norm1, agent.critic.q2.norm2):
        norm.register_forward_hook(lambda m, i, o: outputs.append((o - m.bias) / m.weight))
    torch.manual_seed(1)
    with torch.no_grad():
        agent.critic(torch.randn(7, agent.critic.trunk[0].in_features), torch.randn(7, 1))
    assert len(outputs) == 2
    for z in outputs:
        torch.testing.assert_close(z.mean(-1), torch.zeros(7), atol=1e-5, rtol=0)
        torch.testing.assert_close(z.var(-1, unbiased=False), torch.ones(7), atol=1e-3, rtol=0)


def test_redo_with_crelu_exits_2_with_one_line(tmp_path, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": {
        "activation": "crelu", "redo": {"every_updates": 100}}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "agent.redo" in err and "crelu" in err, err
    assert not run.exists()


@pytest.mark.parametrize("agent, key", [
    ({"rr_schedule": {"type": "adaptive"}}, "agent.rr_schedule"),
    ({"reset": {"trigger": {"metric": "fau/critic", "condition": "levelled",
                            "threshold": 0.001}}}, "agent.reset.trigger.metric"),
    ({"shrink_perturb": {"shrink": 0.9, "trigger": {"metric": "fau/actor", "condition": "below",
                                                    "threshold": 0.4}}},
     "agent.shrink_perturb.trigger.metric"),
])
def test_a_rule_reading_fau_with_crelu_exits_2_with_one_line(tmp_path, capsys, agent, key):
    """With CReLU exactly half the units are active, FAU is 0.5 whatever the network does: a
    switch or trigger on it would decide on a constant."""
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": {"activation": "crelu",
                                                                    **agent}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "steps=10", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert key in err and "crelu" in err and "0.5" in err, err
    assert not run.exists()


def test_redo_gives_a_recycled_unit_a_fresh_layernorm_gain_and_bias():
    """Critic of width 4 with LayerNorm; in q1's first layer unit 1 is dormant (its map is 0,
    score 0 <= tau 0), every other unit active. ReDo sets that unit's LayerNorm gain to 1 and
    bias to 0 (a fresh LayerNorm's), zeroes their Adam moments, and leaves every other unit's
    gain and bias as they were."""
    torch.manual_seed(0)
    critic = Critic(6, 2, None, 4, norm="layernorm")
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    critic(torch.randn(5, 6), torch.randn(5, 2))[0].sum().backward()
    opt.step()                                   # Adam moments everywhere
    with torch.no_grad():
        for head in (critic.q1, critic.q2):
            for norm in (head.norm1, head.norm2):
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
    norms = [critic.q1.norm1, critic.q1.norm2, critic.q2.norm1, critic.q2.norm2]
    before = [(n.weight.detach().clone(), n.bias.detach().clone()) for n in norms]
    maps = [torch.ones(5, 4) for _ in range(4)]
    maps[0][:, 1] = 0.0
    agent = SimpleNamespace(critic=critic, critic_opt=opt, maps={"critic": maps})
    redo = ReDo(ReDoConfig(every_updates=1, tau=0.0, modules=["critic"]))
    _, metrics = redo.apply(agent)
    assert metrics["redo/critic_units"] == 1.0
    gain, bias = critic.q1.norm1.weight.detach(), critic.q1.norm1.bias.detach()
    assert gain[1].item() == 1.0 and bias[1].item() == 0.0
    for i in (0, 2, 3):
        assert gain[i] == before[0][0][i] and bias[i] == before[0][1][i]
    for norm, (w, b) in zip(norms[1:], before[1:]):
        assert torch.equal(norm.weight, w) and torch.equal(norm.bias, b)
    for p in (critic.q1.norm1.weight, critic.q1.norm1.bias):
        state = opt.state[p]
        assert state["exp_avg"][1] == 0 and state["exp_avg_sq"][1] == 0
        assert (state["exp_avg_sq"][[0, 2, 3]] != 0).all()
