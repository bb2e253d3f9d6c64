"""Shrink & Perturb, plasticity injection, L2-init and the weight metrics, against their
equations written out by hand (issue 21)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from agents.plasticity.l2_init import L2Init
from agents.plasticity.injection import inject_
from agents.plasticity.shrink_perturb import shrink_perturb_
from agents.plasticity.weight_metrics import distance_from_init, grad_norm, initial_state, weight_magnitude


def fill_with(value: float):
    """An initialiser that sets every Linear weight and bias to ``value`` (a known theta_init')."""
    def init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, value)
            nn.init.constant_(m.bias, value)
    return init


def tiny_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_shrink_perturb_moves_every_weight_by_the_formula():
    net = tiny_net()
    before = [p.detach().numpy().copy() for p in net.parameters()]
    touched = shrink_perturb_([net], shrink=0.8, perturb=0.3, init=fill_with(2.0))
    for p, b in zip(net.parameters(), before):
        np.testing.assert_allclose(p.detach().numpy(), 0.8 * b + 0.3 * 2.0, rtol=1e-6)
    assert touched == 3 * 4 + 4 + 4 * 2 + 2


def test_shrink_perturb_default_perturb_is_one_minus_shrink_and_one_is_identity():
    net = tiny_net()
    before = [p.detach().numpy().copy() for p in net.parameters()]
    shrink_perturb_([net], shrink=0.9, perturb=None, init=fill_with(-1.0))
    for p, b in zip(net.parameters(), before):
        np.testing.assert_allclose(p.detach().numpy(), 0.9 * b + 0.1 * -1.0, rtol=1e-6,
                                   atol=1e-7)
    kept = [p.detach().clone() for p in net.parameters()]
    shrink_perturb_([net], shrink=1.0, perturb=None, init=fill_with(5.0))
    assert all(torch.equal(p, k) for p, k in zip(net.parameters(), kept))


@pytest.mark.parametrize("shrink", [0.0, -0.5, 1.5])
def test_shrink_outside_unit_interval_is_refused(shrink):
    with pytest.raises(ValueError, match="shrink must be in"):
        shrink_perturb_([tiny_net()], shrink=shrink, perturb=None, init=fill_with(0.0))


def test_injection_leaves_the_output_unchanged_and_trains_only_the_fresh_head():
    net = tiny_net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(16, 3)
    net(x).pow(2).mean().backward()
    opt.step()          # the head keeps this step's gradient, as an agent's modules do
    assert net[2].weight.grad is not None
    y_before = net(x).detach()
    old_head = [p.detach().clone() for p in net[2].parameters()]
    torch.manual_seed(1)
    injected = inject_(net, "2", init=lambda m: None, optimizer=opt)
    # no optimiser clears the frozen head's gradient any more: injection drops it
    assert all(p.grad is None for p in injected.frozen.parameters())
    torch.testing.assert_close(net(x).detach(), y_before, atol=1e-6, rtol=0)
    # the fresh head really is fresh: not the old weights
    assert not torch.equal(injected.fresh.weight, old_head[0])
    trainable = [p for g in opt.param_groups for p in g["params"]]
    assert sum(p.numel() for p in trainable) == sum(p.numel() for p in tiny_net().parameters())
    opt.zero_grad()     # clears the optimiser's parameters only
    net(x).pow(2).mean().backward()
    assert injected.frozen.weight.grad is None and injected.twin.weight.grad is None
    # the module's gradient norm is that of the parameters that train (brute force over the
    # optimiser's parameters, each of which has a gradient)
    assert all(p.grad is not None for p in trainable)
    by_hand = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in trainable))
    assert math.isclose(grad_norm(net).item(), by_hand, rel_tol=1e-5)
    opt.step()
    assert all(torch.equal(p, q) for p, q in zip(injected.frozen.parameters(), old_head))
    assert not torch.allclose(net(x), y_before)


def test_l2_init_gradient_is_two_lambda_times_the_distance_from_init():
    net = tiny_net()
    theta0 = [p.detach().clone() for p in net.parameters()]
    penalty = L2Init([net], coef=0.05)
    with torch.no_grad():
        for i, p in enumerate(net.parameters()):
            p.add_(0.1 * (i + 1))
    loss = penalty()
    loss.backward()
    expected_loss = 0.05 * sum(((0.1 * (i + 1)) ** 2) * p.numel()
                               for i, p in enumerate(net.parameters()))
    assert math.isclose(loss.item(), expected_loss, rel_tol=1e-5)
    for i, (p, p0) in enumerate(zip(net.parameters(), theta0)):
        np.testing.assert_allclose(p.grad.numpy(), 2 * 0.05 * (p - p0).detach().numpy(),
                                   rtol=1e-5)


def test_weight_metrics_match_a_brute_force_computation():
    net = tiny_net()
    init = initial_state(net)
    flat0 = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    net(torch.randn(8, 3)).sum().backward()
    grads = np.concatenate([p.grad.numpy().ravel() for p in net.parameters()])
    assert math.isclose(grad_norm(net).item(), math.sqrt(float((grads ** 2).sum())), rel_tol=1e-5)
    assert math.isclose(weight_magnitude(net).item(), math.sqrt(float((flat0 ** 2).mean())),
                        rel_tol=1e-5)
    assert distance_from_init(net, init).item() == 0.0
    with torch.no_grad():
        net[0].weight.add_(0.5)
    flat1 = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    assert math.isclose(distance_from_init(net, init).item(),
                        math.sqrt(float(((flat1 - flat0) ** 2).mean())), rel_tol=1e-5)
