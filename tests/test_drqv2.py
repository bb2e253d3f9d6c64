"""DrQ-v2 pieces: random shift, FAU, schedules, acting phases and the update's gradient paths."""

from __future__ import annotations

import copy
import io

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.offpolicy.augment import RandomShift
from agents.common.base import Transition
from agents.offpolicy.agent import OffPolicyAgent
from agents.offpolicy.nets import Critic, Encoder
from agents.plasticity.metrics import fraction_active
from agents.plasticity.schedules import FixedReplayRatio, parse_std_schedule
from configs.loader import ConfigError, load_config
from agents.common.checkpoint_file import SAFE_GLOBALS
from configs.schema import OffPolicyConfig

SIZE, STACK = 24, 3


def integer_crop(x: np.ndarray, pad: int, dx: int, dy: int) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    return padded[:, dy:dy + x.shape[1], dx:dx + x.shape[2]]


def test_random_shift_equals_integer_crop_of_edge_padded_image():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (6, 9, 16, 16)).float()
    shift = torch.randint(0, 9, (6, 2))
    out = RandomShift(4)(x, shift).numpy()
    for i in range(6):
        dx, dy = shift[i].tolist()
        np.testing.assert_allclose(out[i], integer_crop(x[i].numpy(), 4, dx, dy), atol=1e-3,
                                   err_msg=f"sample {i}: grid-sample differs from the crop")


def test_random_shift_moves_by_at_most_pad_and_keeps_content():
    torch.manual_seed(1)
    x = torch.randint(0, 256, (32, 3, 12, 12)).float()
    out = RandomShift(2)(x).numpy()
    seen = set()
    for i in range(32):
        diffs = {(dx, dy): np.abs(out[i] - integer_crop(x[i].numpy(), 2, dx, dy)).max()
                 for dx in range(5) for dy in range(5)}
        best = min(diffs, key=diffs.get)
        assert diffs[best] < 1e-3, f"sample {i} is not an integer shift of at most 2 pixels"
        seen.add(best)
    assert len(seen) > 5, "shifts should vary across the batch"


def test_encoder_has_drqv2_size_at_84_pixels():
    assert Encoder(9, 84).repr_dim == 32 * 35 * 35 == 39200


def test_critic_fau_matches_bruteforce():
    torch.manual_seed(0)
    critic = Critic(40, 2, 8, 16)
    h, a = torch.randn(5, 40), torch.rand(5, 2) * 2 - 1
    _, _, hidden = critic(h, a)
    x = torch.cat([critic.trunk(h), a], -1)
    layers = []
    for head in (critic.q1, critic.q2):
        h1 = torch.relu(head.l1(x))
        layers += [h1, torch.relu(head.l2(h1))]
    expected = sum(int((m > 0).sum()) for m in layers) / (4 * 5 * 16)
    assert len(hidden) == 4
    assert fraction_active(hidden).item() == pytest.approx(expected)


@pytest.mark.parametrize("rr, pattern", [(0.5, [0, 1, 0, 1, 0, 1]), (2, [2, 2, 2]),
                                         (0.25, [0, 0, 0, 1, 0, 0, 0, 1]), (1.5, [1, 2, 1, 2])])
def test_fixed_replay_ratio_spreads_updates_evenly(rr, pattern):
    s = FixedReplayRatio(rr)
    assert [s.updates_due(t) for t in range(1, len(pattern) + 1)] == pattern


def test_fixed_replay_ratio_counts_each_step_once_and_resumes():
    s = FixedReplayRatio(1 / 3)
    assert [s.updates_due(1), s.updates_due(1), s.updates_due(2)] == [0, 0, 0]
    t = FixedReplayRatio(1 / 3)
    t.load_state_dict(s.state_dict())
    assert [t.updates_due(k) for k in range(3, 9)] == [1, 0, 0, 1, 0, 0]


def test_std_schedule_is_linear_in_agent_steps_and_rejects_garbage():
    f = parse_std_schedule("linear(1.0, 0.1, 500000)")
    assert (f(0), f(250_000), f(500_000), f(10**7)) == pytest.approx((1.0, 0.55, 0.1, 0.1))
    assert parse_std_schedule("0.2")(123) == 0.2
    with pytest.raises(ValueError, match="bad std schedule"):
        parse_std_schedule("cosine(1,0)")
    with pytest.raises(ConfigError, match="std_schedule"):
        load_config("configs/drqv2_tiny.yaml", ["agent.std_schedule=linear(1,0.1,0)"])


class FakePixelEnv:
    frames_per_step = 2


def tiny_agent(**overrides) -> OffPolicyAgent:
    cfg = OffPolicyConfig(**{"batch_size": 8, "feature_dim": 8, "hidden_dim": 16,
                             "conv_channels": 4, "replay_capacity": 200, "explore_steps": 4,
                             "seed_frames": 12, **overrides})
    obs_space = gym.spaces.Box(0, 255, (3 * STACK, SIZE, SIZE), np.uint8)
    act_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    return OffPolicyAgent(cfg, obs_space, act_space, env=FakePixelEnv(), seed=0)


def random_transition(rng, obs=None, end=False) -> Transition:
    obs = rng.integers(0, 256, (3 * STACK, SIZE, SIZE), dtype=np.uint8) if obs is None else obs
    nxt = np.concatenate([obs[3:], rng.integers(0, 256, (3, SIZE, SIZE), dtype=np.uint8)])
    return Transition(obs, rng.uniform(-1, 1, 2).astype(np.float32), float(rng.normal()), nxt,
                      False, end)


def test_agent_explores_uniformly_then_follows_the_policy_and_waits_for_seed_frames():
    torch.manual_seed(0)
    agent = tiny_agent(std_schedule="0.1")   # small noise: the policy's actions do not saturate
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 256, (3 * STACK, SIZE, SIZE), dtype=np.uint8)
    other = rng.integers(0, 256, (3 * STACK, SIZE, SIZE), dtype=np.uint8)
    draws = []
    for _ in range(4000):    # at agent step 0: uniform on [-1, 1]^2 (mean 0, variance 1/3)
        draws.append(agent.act(obs, explore=True))
    draws = np.array(draws)
    assert draws.shape == (4000, 2)
    np.testing.assert_allclose(draws.mean(0), 0.0, atol=0.05)
    np.testing.assert_allclose(draws.var(0), 1 / 3, atol=0.03)
    assert draws.min() >= -1 and draws.max() <= 1
    assert draws.min() < -0.99 and draws.max() > 0.99
    due = []
    for step in range(1, 11):
        # the same random numbers on two observations: the first explore_steps = 4 actions
        # read neither (uniform), the later ones are the policy's on each
        torch.manual_seed(step)
        a = agent.act(obs, explore=True)
        torch.manual_seed(step)
        b = agent.act(other, explore=True)
        assert np.array_equal(a, b) == (agent.step < 4), f"agent step {agent.step}: {a} {b}"
        tr = random_transition(rng, obs)
        agent.observe(tr)
        obs = tr.next_obs
        due.append(agent.updates_due(step))
    # seed_frames 12 at action repeat 2 = 6 agent steps; then RR 0.5 (as DrQ-v2: an update
    # before every other step from agent step 6 on, i.e. after steps 7, 9, ...)
    assert due == [0, 0, 0, 0, 0, 0, 1, 0, 1, 0]
    mu = agent.act(obs, explore=False)
    np.testing.assert_array_equal(mu, agent.act(obs, explore=False))  # evaluation: the mean
    assert not np.array_equal(agent.act(obs, explore=True), mu)


def test_update_trains_encoder_by_critic_only_and_moves_target_by_tau():
    torch.manual_seed(0)
    agent = tiny_agent()
    rng = np.random.default_rng(1)
    for _ in range(20):
        agent.observe(random_transition(rng))
    h = agent.encoder(torch.zeros(4, 3 * STACK, SIZE, SIZE))
    assert h.requires_grad, "features with a graph back to the encoder"
    agent.update_actor(h, std=0.2)
    assert all(p.grad is None for p in agent.encoder.parameters()), \
        "the actor loss must not reach the encoder"
    # the update's logged FAU and q, by hand: a pinned batch, no shift, pre-update weights
    batch = agent.replay.sample(8)
    agent.replay.sample = lambda *args: batch
    agent.aug = lambda x: x
    encoder_before, critic_before = copy.deepcopy(agent.encoder), copy.deepcopy(agent.critic)
    with torch.no_grad():
        q1, _, hidden = critic_before(encoder_before(torch.as_tensor(batch["obs"]).float()),
                                      torch.as_tensor(batch["action"]))
    encoder0 = [p.detach().clone() for p in agent.encoder.parameters()]
    critic0 = [p.detach().clone() for p in agent.critic.parameters()]
    target0 = [p.detach().clone() for p in agent.critic_target.parameters()]
    assert agent.update() == {}, "the metrics wait on the device for pending_metrics"
    metrics = {k: v[-1] for k, v in agent.pending_metrics().items()}
    assert {"loss/critic", "loss/actor", "fau/critic", "q", "target_q", "actor_std"} <= set(metrics)
    positive = sum(int((x > 0).sum()) for x in hidden)
    assert metrics["fau/critic"] == pytest.approx(positive / sum(x.numel() for x in hidden))
    assert metrics["q"] == pytest.approx(float(q1.mean()), rel=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(encoder0, agent.encoder.parameters()))
    for c0, t0, c1, t1 in zip(critic0, target0, agent.critic.parameters(),
                              agent.critic_target.parameters()):
        torch.testing.assert_close(t1, 0.99 * t0 + 0.01 * c1.detach())
    assert not any(torch.equal(c0, c1) for c0, c1 in zip(critic0, agent.critic.parameters()))


def test_state_dict_round_trip_continues_updates_identically():
    rng = np.random.default_rng(2)
    torch.manual_seed(0)
    a = tiny_agent()
    for _ in range(20):
        a.observe(random_transition(rng))
    a.update()
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)  # as a checkpoint does: no tensor shared with `a`
    buffer.seek(0)
    torch.manual_seed(0)
    b = tiny_agent()
    with torch.serialization.safe_globals(SAFE_GLOBALS):  # as load_checkpoint reads it
        b.load_state_dict(torch.load(buffer, weights_only=True))
    a.pending_metrics()
    torch.manual_seed(5)
    a.update()
    torch.manual_seed(5)
    b.update()
    ma, mb = a.pending_metrics(), b.pending_metrics()
    assert ma == mb and len(ma["loss/critic"]) == 1
    for pa, pb in zip(a.critic.parameters(), b.critic.parameters()):
        assert torch.equal(pa, pb)


def test_agent_refuses_state_observations_with_one_line():
    cfg = load_config("configs/drqv2_tiny.yaml").agent   # agent.name: drqv2
    with pytest.raises(ConfigError, match="drqv2 needs uint8 pixel observations"):
        OffPolicyAgent(cfg, gym.spaces.Box(-1, 1, (17,)), gym.spaces.Box(-1, 1, (2,)))
