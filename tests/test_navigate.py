"""The navigate task and the steering circuit (ncap.md section 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from dm_control.suite import swimmer as dm_swimmer

import envs
from agents.policies.circuit_actor import HardSteering, LinearSteering
from circuits.ncap_plus import NCAPPlusCircuit
from configs.loader import load_config
from envs.navigate import TargetBox, make_navigate_dm_env, reached
from envs.swim import BodySpec
from trainer.api import build, train
from trainer.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
NCAP_NAV = ROOT / "configs/ncap_navigate_ppo.yaml"


def test_navigate_reward_and_observation_equal_the_stock_swimmer_target_task():
    ours = make_navigate_dm_env(BodySpec(n_joints=5), seed=3)
    stock = dm_swimmer._make_swimmer(6, random=3)  # stock counts bodies: 6 links = 5 joints
    a, b = ours.reset(), stock.reset()
    rng = np.random.default_rng(0)
    for key in ("joints", "to_target", "body_velocities"):
        np.testing.assert_array_equal(a.observation[key], b.observation[key])
    for _ in range(200):
        action = rng.uniform(-1, 1, 5)
        a, b = ours.step(action), stock.step(action)
        assert a.reward == b.reward
        np.testing.assert_array_equal(a.observation["to_target"], b.observation["to_target"])
    assert list(a.observation) == ["joints", "to_target", "body_velocities"]


def test_target_box_bounds_the_target_and_the_target_stays_visible():
    env = envs.make_state_env("navigate", seed=0, target=TargetBox(box=0.5, near_probability=0.0))
    swim = envs.make_state_env("swim", seed=0)
    coords = []
    for seed in range(20):
        env.reset(seed=seed)
        x, y = env.physics.named.model.geom_pos["target", ["x", "y"]]
        assert abs(x) <= 0.5 and abs(y) <= 0.5
        coords += [x, y]
    # drawn over the whole box (U[-0.5, 0.5]: 40 draws all inside 0.3 has chance 0.6^40)
    assert max(np.abs(coords)) > 0.3 and len(set(coords)) == 40, coords
    near = envs.make_state_env("navigate", seed=0,
                               target=TargetBox(box=0.5, near_box=0.05, near_probability=1.0))
    for seed in range(10):
        near.reset(seed=seed)
        x, y = near.physics.named.model.geom_pos["target", ["x", "y"]]
        assert abs(x) <= 0.05 and abs(y) <= 0.05, "near_probability 1: always the near box"
    assert env.physics.named.model.mat_rgba["target", 3] > 0
    swim.reset(seed=0)
    assert swim.physics.named.model.mat_rgba["target", 3] == 0
    assert env.observation_space.shape == (4 * 5 + 5 + 1,)  # joints, to_target, velocities, time
    with pytest.raises(ValueError, match="box must be > 0"):
        TargetBox(box=0.0)


@pytest.mark.slow
def test_rendered_navigate_frame_shows_the_target():
    env = envs.make_state_env("navigate", seed=0, target=TargetBox(box=0.05, near_box=0.05))
    env.reset(seed=0)
    shown = env.physics.render(48, 48, camera_id="tracking1")
    for mat in ("target", "target_default", "target_highlight"):
        env.physics.named.model.mat_rgba[mat, 3] = 0.0
    hidden = env.physics.render(48, 48, camera_id="tracking1")
    assert np.abs(shown.astype(int) - hidden.astype(int)).sum() > 0


def test_hardcoded_steering_rule_and_the_learned_brain_init():
    x = torch.tensor([0.2, -0.2, 0.05, 0.0])
    y = torch.tensor([0.5, -0.05, -0.3, 0.1])
    torch.testing.assert_close(HardSteering()(x, y), torch.tensor(
        [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]))
    brain = LinearSteering("steering_rule")
    assert sum(p.numel() for p in brain.parameters()) == 9
    torch.testing.assert_close(brain(x, y), torch.tensor(
        [[1.0, 0.0, 1.0], [0.0, 1.0, 0.05 / 0.12], [0.5, 0.0, 1.0], [0.0, 0.0, 0.1 / 0.12]]))


def test_learned_brain_starts_like_the_authors_nn_linear_2_3_by_default():
    """The authors' ``task_module = nn.Linear(2, 3)``: PyTorch's default init, drawn from the
    same generator state, not the steering rule."""
    torch.manual_seed(3)
    brain = LinearSteering()
    torch.manual_seed(3)
    authors = torch.nn.Linear(2, 3)
    torch.testing.assert_close(brain.linear.weight, authors.weight, rtol=0, atol=0)
    torch.testing.assert_close(brain.linear.bias, authors.bias, rtol=0, atol=0)
    cfg = load_config(NCAP_NAV)
    assert cfg.agent.actor.brain_init == "default"
    _, agent, _ = build(load_config(NCAP_NAV, ["agent.actor.brain_init=steering_rule"]))
    torch.testing.assert_close(agent.actor.brain.linear.bias, torch.zeros(3))


def test_actor_steers_from_minus_to_target_x_and_to_target_y():
    cfg = load_config(NCAP_NAV, ["agent.actor.steering=hardcoded"])
    env, agent, _ = build(cfg)
    obs, _ = env.reset(seed=0)
    obs = torch.as_tensor(obs, dtype=torch.float32)
    obs[5:7] = torch.tensor([-0.3, 0.05])  # target at head-frame (-0.3, 0.05): x = 0.3, |y| small
    steer = agent.actor._inputs(obs)[3]
    torch.testing.assert_close(steer, torch.tensor([1.0, 0.0, 0.0]))


@pytest.mark.parametrize("name, neurons", [
    ("r", {("b_d", 0)}), ("l", {("b_v", 0)}),
    ("s", {(side, j) for side in ("b_d", "b_v") for j in range(4)})])
def test_steering_inputs_reach_exactly_the_neurons_section_3_names(name, neurons):
    """r -> dorsal B_1, l -> ventral B_1 (n_turn_joints = 1), the brake 1 - s -> every B-neuron.
    A leak keeps clamped neurons differentiable, so every path shows in the gradient."""
    circuit = NCAPPlusCircuit(steering=True, leak=0.1)
    q = torch.tensor([[0.3, -0.2, 0.1, 0.4]])
    steer = torch.tensor([[0.5, 0.5, 0.5]], requires_grad=True)
    act = circuit.activity(q, torch.tensor([10.0]), steer=steer)
    idx = "rls".index(name)
    reached_by = set()
    for side in ("b_d", "b_v"):
        for j in range(4):
            (grad,) = torch.autograd.grad(act[side][0, j], steer, retain_graph=True)
            if grad[0, idx] != 0:
                reached_by.add((side, j))
    assert reached_by == neurons


def test_navigation_circuit_has_15_parameters_hardcoded_6():
    for steering, count in (("learned", 15), ("hardcoded", 6)):
        _, agent, _ = build(load_config(NCAP_NAV, [f"agent.actor.steering={steering}"]))
        assert agent.trainable_parameters()["policy"] == count


@pytest.mark.slow
def test_ppo_updates_move_the_brain_circuit_and_mlp_weights_on_navigate(tmp_path, tiny_ppo):
    """Two PPO updates on navigate change every trained tensor of the steering circuit (its
    learned brain included) and of the MLP, from the weights the run started with."""
    for preset in (NCAP_NAV, ROOT / "configs/mlp_navigate_ppo.yaml"):
        cfg = load_config(preset, [*tiny_ppo, "steps=1024", f"run_dir={tmp_path / preset.stem}"])
        _, start, _ = build(cfg)   # seeded like the run: its initial weights
        initial = {k: v.clone() for k, v in start.actor.state_dict().items()}
        summary = train(cfg)
        assert summary["status"] == "complete"
        agent = load_checkpoint(tmp_path / preset.stem / "checkpoints" / "last.pt")["agent"]
        assert agent["updates"] == 2
        trained = {name for name, p in start.actor.named_parameters() if p.requires_grad}
        if preset == NCAP_NAV:
            assert {"brain.linear.weight", "brain.linear.bias"} <= trained
        for name in sorted(trained):
            assert not torch.equal(agent["actor"][name], initial[name]), \
                f"{preset.stem}: PPO left actor.{name} unchanged"


def test_reached_means_nose_within_the_target_radius():
    env = envs.make_state_env("navigate", seed=0)
    env.reset(seed=0)
    physics = env.physics
    nose = physics.named.data.geom_xpos["nose"][:2].copy()
    physics.named.model.geom_pos["target", ["x", "y"]] = nose + [0.05, 0.0]
    physics.forward()
    assert reached(physics)
    physics.named.model.geom_pos["target", ["x", "y"]] = nose + [0.5, 0.0]
    physics.forward()
    assert not reached(physics)
