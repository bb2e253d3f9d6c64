"""Auxiliary losses: values at hand-made fixed points, where their gradients go, exact EMA."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from agents.offpolicy.augment import RandomShift
from agents.auxiliary.objectives import AuxObjectives, mean_pairwise_cosine
from agents.auxiliary.base import AuxBatch
from agents.auxiliary.contrastive import TemporalContrastive
from agents.auxiliary.horizon import HorizonFaithful, HorizonStabilised
from agents.auxiliary.repulsion import NegativesOnly
from agents.auxiliary.reward import RewardPrediction
from agents.auxiliary.rollout import LatentRollout
from agents.common.networks import trunk
from agents.offpolicy.nets import Encoder
from configs.schema import AuxConfig

B, D, A = 8, 4, 2


def latent_batch(z, future, actions=None, rewards=None, mask=None):
    """An ``AuxBatch`` whose window 'observations' are latents and whose online and target
    maps are the identity: the losses see exactly the latents given."""
    k = future.shape[1]
    identity = lambda x: x  # noqa: E731
    return AuxBatch(z=z, window_obs=future, obs_offsets=list(range(1, k + 1)),
                    actions=torch.zeros(B, k, A) if actions is None else actions,
                    rewards=torch.zeros(B, k) if rewards is None else rewards,
                    mask=torch.ones(B, k) if mask is None else mask,
                    online=identity, target=identity)


def make_identity_dynamics(module):
    """``T(z, a) = z``: zero the residual MLP's output layer."""
    for dyn in (getattr(module, "dynamics", None), getattr(module, "dynamics_target", None)):
        if dyn is not None:
            nn.init.zeros_(dyn.mlp[-1].weight)
            nn.init.zeros_(dyn.mlp[-1].bias)


def identity_heads(module: LatentRollout) -> LatentRollout:
    make_identity_dynamics(module)
    module.projection = module.projection_target = module.predictor = nn.Identity()
    return module


def test_identical_online_and_target_latents_give_zero_cosine_loss():
    z = torch.randn(B, D)
    loss, metrics = identity_heads(LatentRollout("a", D, A, k=1))(latent_batch(z, z[:, None]), 0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert metrics["aux/a/cos_k1"].item() == pytest.approx(1.0, abs=1e-6)


def test_rollout_weights_steps_by_rho_and_drops_masked_steps():
    z = torch.randn(B, D)
    future = torch.stack([z, -z], dim=1)      # step 1: same direction (0), step 2: opposite (4)
    module = identity_heads(LatentRollout("b", D, A, k=2, rho=0.5))
    loss, _ = module(latent_batch(z, future), 0)
    assert loss.item() == pytest.approx((0.0 + 0.5 * 4.0) / 2, abs=1e-5)
    mask = torch.tensor([[1.0, 0.0]]).repeat(B, 1)  # every step 2 leaves the episode
    loss, _ = module(latent_batch(z, future, mask=mask), 0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6), "masked steps must not count"


def test_shuffled_action_control_changes_only_the_actions_the_predictor_sees():
    torch.manual_seed(0)
    z, future = torch.randn(B, D), torch.randn(B, 1, D)
    actions = torch.randn(B, 1, A)
    plain = LatentRollout("a", D, A, k=1)
    shuffled = LatentRollout("s", D, A, k=1, shuffle_actions=True)
    shuffled.load_state_dict(plain.state_dict())
    batch = latent_batch(z, future, actions=actions)
    assert not torch.isclose(plain(batch, 0)[0], shuffled(batch, 0)[0])
    same = latent_batch(z, future, actions=actions[:1].repeat(B, 1, 1))
    assert torch.isclose(plain(same, 0)[0], shuffled(same, 0)[0]), \
        "with one action for all, shuffling must change nothing"


def test_collapsed_batch_gives_the_repulsion_maximum():
    z = torch.ones(B, D)
    loss, _ = NegativesOnly("n", temperature=5.0)(latent_batch(z, z[:, None]), 0)
    assert loss.item() == pytest.approx(2.0, abs=1e-4), "1 per term at collapse"
    spread, _ = NegativesOnly("n", temperature=5.0)(
        latent_batch(torch.randn(B, D), torch.randn(B, 1, D)), 0)
    assert spread.item() < 2.0 - 1e-3
    z = torch.ones(B, D, requires_grad=True)
    loss, _ = NegativesOnly("n")(latent_batch(z, z.detach()[:, None]), 0)
    loss.backward()
    assert torch.isfinite(z.grad).all(), "the repulsion gradient must be finite at collapse"


def test_faithful_horizon_fixed_point_is_the_discounted_sum_of_future_latents():
    gamma = 0.5
    z_next = torch.randn(B, D)
    module = HorizonFaithful("c", D, A, gamma=gamma, pos_weight=1.0, neg_weight=0.0)
    make_identity_dynamics(module)
    # T = identity: the target is z_{t+1} + gamma T(z_{t+1}) = (1 + gamma) z_{t+1}
    future = torch.stack([z_next, torch.zeros(B, D)], dim=1)
    loss, metrics = module(latent_batch((1 + gamma) * z_next, future), 0)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    assert set(metrics) == {"aux/c/pos", "aux/c/neg", "aux/c/c_distance"}


@pytest.mark.parametrize("d", [4, 50])
def test_faithful_horizon_positive_term_is_a_mean_over_batch_and_dimensions(d):
    """auxrl: ``mean(mse_loss(T z, target, reduction='none'))``. By hand: with T = identity,
    z_{t+1} = 1 everywhere, z_t = (1 + gamma) 1 and an episode end after t+1 (no bootstrap),
    every element of the residual is gamma, so L_pos = gamma^2 whatever d is (a sum over
    dimensions would give d gamma^2)."""
    gamma = 0.5
    module = HorizonFaithful("c", d, A, gamma=gamma, pos_weight=1.0, neg_weight=0.0)
    make_identity_dynamics(module)
    z_next = torch.ones(B, d)
    future = torch.stack([z_next, torch.zeros(B, d)], dim=1)
    mask = torch.tensor([[1.0, 0.0]]).repeat(B, 1)
    loss, metrics = module(latent_batch((1 + gamma) * z_next, future, mask=mask), 0)
    assert loss.item() == pytest.approx(gamma ** 2, rel=1e-6)
    assert metrics["aux/c/pos"].item() == pytest.approx(gamma ** 2, rel=1e-6)


def test_stabilised_horizon_target_keeps_its_scale_and_is_zero_at_its_fixed_point():
    module = HorizonStabilised("cs", D, A, gamma=0.8)
    make_identity_dynamics(module)
    z_next = torch.randn(B, D)
    future = torch.stack([z_next, torch.zeros(B, D)], dim=1)
    # T = Tbar = identity: target = (1 - gamma) z + gamma z = z_{t+1}, any scale of z_t is 0
    loss, _ = module(latent_batch(3.0 * z_next, future), 0)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    loss, _ = module(latent_batch(-z_next, future), 0)
    assert loss.item() == pytest.approx(4.0, abs=1e-5)


def test_contrastive_loss_is_log_batch_when_every_future_looks_the_same():
    module = TemporalContrastive("d", D, A, k=2)
    keys = torch.ones(B, 2, D)
    loss, metrics = module(latent_batch(torch.randn(B, D), keys), 0)
    assert loss.item() == pytest.approx(math.log(B), rel=1e-5)
    assert set(metrics) == {"aux/d/accuracy"}


class FirstColumns(nn.Module):
    """The anchor ``z_t`` alone: drops the action code from ``[z_t, u]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :D]


def test_contrastive_accuracy_counts_rows_whose_own_future_scores_highest_among_valid_rows():
    module = TemporalContrastive("d", D, A, k=2)
    module.projection = FirstColumns()            # anchors = z_t, W = identity: logits z_t . key
    eye = torch.eye(D)
    keys = torch.cat([eye, -eye])                 # row i's future: +-e_(i mod 4)
    z = keys.clone()
    z[6], z[7] = keys[0], keys[1]                 # rows 6 and 7 point at rows 0 and 1's futures
    future = torch.stack([torch.zeros(B, D), keys], dim=1)
    _, metrics = module(latent_batch(z, future), 0)
    assert metrics["aux/d/accuracy"].item() == pytest.approx(6 / 8)
    mask = torch.ones(B, 2)
    mask[[5, 6], 1] = 0.0                         # windows of rows 5 and 6 left the episode
    _, metrics = module(latent_batch(z, future, mask=mask), 0)
    assert metrics["aux/d/accuracy"].item() == pytest.approx(5 / 6), "rows 0-4 of 0-4 and 7"


@pytest.mark.parametrize("discount", [1.0, 0.9])
def test_reward_loss_regresses_the_discounted_k_step_reward_sum_inside_the_episode(discount):
    module = RewardPrediction("e", D, A, k=2, discount=discount)
    nn.init.zeros_(module.head[-1].weight)
    nn.init.constant_(module.head[-1].bias, 1.0)   # predicts 1 everywhere
    rewards = torch.tensor([[0.5, 2.0]]).repeat(B, 1)
    mask = torch.tensor([[1.0, 1.0]] * (B // 2) + [[1.0, 0.0]] * (B // 2))
    loss, _ = module(latent_batch(torch.randn(B, D), torch.zeros(B, 2, D), rewards=rewards * mask,
                                  mask=mask), 0)
    # by hand: full windows sum 0.5 + discount * 2.0; cut windows keep 0.5 alone
    full = 0.5 + discount * 2.0
    assert loss.item() == pytest.approx(((1 - full) ** 2 + (1 - 0.5) ** 2) / 2, rel=1e-6)


def test_mean_pairwise_cosine_matches_brute_force():
    z = torch.randn(16, 5)
    zn = torch.nn.functional.normalize(z, dim=-1)
    cos = zn @ zn.t()
    brute = (cos.sum() - cos.diagonal().sum()) / (16 * 15)
    assert mean_pairwise_cosine(z).item() == pytest.approx(brute.item(), abs=1e-6)
    assert mean_pairwise_cosine(torch.ones(16, 5)).item() == pytest.approx(1.0, abs=1e-6)


# --- the collection: gradient routing and EMA on a real encoder ------------------------------
def objectives(losses, routing="critic", tau=0.25):
    torch.manual_seed(0)
    encoder = Encoder(3, 16, channels=4)
    g = trunk(encoder.repr_dim, D)
    cfg = AuxConfig(losses=losses, routing=routing, target_tau=tau)
    return AuxObjectives(cfg, encoder, g, RandomShift(1), D, A, lr=1e-3, own_latent=False), \
        encoder, g


def pixel_batch(aux, k=3):
    obs = torch.randint(0, 256, (B, 3, 16, 16)).float()
    n = len(aux.obs_offsets)
    return obs, {"window_obs": torch.randint(0, 256, (B, n, 3, 16, 16), dtype=torch.uint8),
                 "window_action": torch.rand(B, k, A) * 2 - 1, "window_reward": torch.rand(B, k),
                 "window_mask": torch.ones(B, k, dtype=torch.bool)}


def grads(module):
    return [p.grad for p in module.parameters() if p.grad is not None and p.grad.abs().sum() > 0]


@pytest.mark.parametrize("entry, through_next", [
    ({"type": "one_step"}, False), ({"type": "rollout", "k": 3}, False),
    ({"type": "horizon_stabilised"}, False), ({"type": "contrastive", "k": 2}, False),
    ({"type": "reward", "k": 2}, False), ({"type": "horizon_faithful"}, True),
    ({"type": "negatives"}, True)])
def test_gradient_reaches_the_encoder_only_where_the_docstring_says(entry, through_next):
    aux, encoder, g = objectives([entry])
    obs, batch = pixel_batch(aux)
    h = encoder(obs)
    total, _ = aux.loss(h, batch, 0)
    total.backward()
    assert grads(encoder) and grads(g), "the loss must shape f and g through z_t"
    if aux.needs_target:
        assert not grads(aux.encoder_target) and not grads(aux.latent_target), \
            "EMA targets must take no gradient"
    encoder.zero_grad(set_to_none=True)
    total, _ = aux.loss(h.detach(), batch, 0)    # cut the z_t path
    total.backward()
    assert bool(grads(encoder)) == through_next, (
        "only C-faithful and N reach the encoder through the online z_{t+1}")


def test_ema_update_is_exact_for_every_target_copy():
    aux, encoder, g = objectives([{"type": "one_step"}, {"type": "horizon_stabilised"}], tau=0.25)
    with torch.no_grad():
        for p in [*encoder.parameters(), *g.parameters(), *aux.losses.parameters()]:
            p.add_(torch.randn_like(p))
    pairs = [(aux.encoder_target, encoder), (aux.latent_target, g),
             (aux.losses[0].projection_target, aux.losses[0].projection),
             (aux.losses[1].dynamics_target, aux.losses[1].dynamics)]
    before = [[t.clone() for t in target.parameters()] for target, _ in pairs]
    aux.ema_update()
    for (target, online), old in zip(pairs, before):
        for t, o, t0 in zip(target.parameters(), online.parameters(), old):
            assert torch.equal(t, torch.lerp(t0, o, 0.25)), "EMA is not theta_bar + tau (theta - theta_bar)"
            expected = 0.75 * t0.double() + 0.25 * o.double()
            assert torch.allclose(t.double(), expected, atol=1e-6)


def test_separate_routing_steps_the_encoder_with_moments_of_its_own():
    aux, encoder, g = objectives([{"type": "one_step"}], routing="separate")
    obs, batch = pixel_batch(aux)
    before = [p.clone() for p in encoder.parameters()]
    metrics = aux.separate_update(obs, batch, 0)
    assert metrics["aux/separate_step"].item() == 1.0
    assert any(not torch.equal(a, b) for a, b in zip(before, encoder.parameters()))
    owned = {id(p) for group in aux.opt.param_groups for p in group["params"]}
    assert {id(p) for p in encoder.parameters()} <= owned
    assert {id(p) for p in g.parameters()} <= owned
