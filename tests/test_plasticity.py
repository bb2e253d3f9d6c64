"""Plasticity metrics (FAU, tau-dormant ratio) against brute-force counts, the device-side metric
buffer, and the Reset / ReDo interventions touching exactly what they should."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from agents.plasticity.metrics import DeviceMetrics, dormant_mask, dormant_ratio, fraction_active
from agents.plasticity.surgery import redo_, reset_


def orthogonal(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.orthogonal_(m.weight)
        nn.init.zeros_(m.bias)


def known_maps() -> list[torch.Tensor]:
    """Post-ReLU maps with known zeros: a dense layer, a layer with 2 dead units, a conv map."""
    g = torch.Generator().manual_seed(0)
    dense = torch.relu(torch.randn(6, 5, generator=g))
    dead = torch.relu(torch.randn(6, 4, generator=g))
    dead[:, 1] = 0.0
    dead[:, 3] = 0.0
    conv = torch.relu(torch.randn(6, 3, 4, 4, generator=g))
    return [dense, dead, conv]


def test_fau_matches_bruteforce_count_pooled_over_batch_units_and_layers():
    maps = known_maps()
    active = total = 0
    for m in maps:
        for value in m.flatten().tolist():
            active += value > 0
            total += 1
    assert fraction_active(maps).item() == pytest.approx(active / total)
    per_sample = [sum(int((m[b] > 0).sum()) for m in maps) / sum(m[b].numel() for m in maps)
                  for b in range(6)]
    assert fraction_active(maps).item() == pytest.approx(sum(per_sample) / 6), \
        "pooled FAU should equal the batch mean of the per-sample fraction"


@pytest.mark.parametrize("tau", [0.0, 0.025, 0.5])
def test_dormant_ratio_matches_bruteforce_scores(tau):
    maps = known_maps()
    dormant = units = 0
    for m in maps:
        means = []
        for i in range(m.shape[1]):
            values = m[:, i].flatten().tolist()
            means.append(sum(abs(v) for v in values) / len(values))
        layer_mean = sum(means) / len(means)
        flags = [s / (layer_mean + 1e-9) <= tau for s in means]
        assert dormant_mask(m, tau).tolist() == flags
        dormant += sum(flags)
        units += len(flags)
    assert dormant_ratio(maps, tau).item() == pytest.approx(dormant / units)
    if tau == 0.0:
        assert dormant == 2, "at tau 0 exactly the two silent units are dormant"


def test_device_metrics_returns_every_update_value_in_order_and_forgets_them():
    buffer = DeviceMetrics()
    for i in range(3):
        buffer.add({"loss": torch.tensor(float(i)), "fau": torch.tensor(0.5 + i / 10),
                    "rr": 0.5})
    buffer.add({"loss": torch.tensor(9.0), "redo/units": torch.tensor(4.0)})
    out = buffer.read()
    assert out["loss"] == [0.0, 1.0, 2.0, 9.0]
    assert out["fau"] == pytest.approx([0.5, 0.6, 0.7]) and out["rr"] == [0.5] * 3
    assert out["redo/units"] == [4.0]
    assert len(buffer) == 0 and buffer.read() == {}


def trained_pair(seed: int = 0):
    """A 2-layer ReLU net with one Adam step taken (so every moment is non-zero)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    net.apply(orthogonal)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(32, 4)
    net(x).pow(2).mean().backward()
    opt.step()
    return net, opt, x


def test_reset_reinitialises_exactly_the_given_modules_and_drops_their_adam_state():
    net, opt, _ = trained_pair()
    other = nn.Linear(3, 3)
    other_opt = torch.optim.Adam(other.parameters())
    other(torch.randn(2, 3)).sum().backward()
    other_opt.step()
    kept = {k: v.clone() for k, v in net[4].state_dict().items()}
    fresh = [nn.Linear(4, 8), nn.Linear(8, 8)]
    torch.manual_seed(7)
    for layer in fresh:   # initialised as at construction, one after the other
        layer.reset_parameters()
        orthogonal(layer)
    torch.manual_seed(7)
    touched = reset_([net[0], net[2]], [opt, other_opt], orthogonal)
    assert touched == 4 * 8 + 8 + 8 * 8 + 8
    for got, ref in zip((net[0], net[2]), fresh):
        assert torch.equal(got.weight, ref.weight) and torch.equal(got.bias, ref.bias), \
            "a reset layer should equal a freshly initialised one"
    for k, v in net[4].state_dict().items():
        assert torch.equal(v, kept[k]), "the output layer was not named and must be kept"
    reset_params = {id(p) for m in (net[0], net[2]) for p in m.parameters()}
    assert all(id(p) not in reset_params for p in opt.state), "reset params keep Adam state"
    assert set(opt.state) == set(net[4].parameters())
    assert len(other_opt.state) == 2, "another module's optimiser state must survive"


def test_redo_touches_exactly_the_dormant_rows_columns_and_their_adam_moments():
    net, opt, x = trained_pair()
    with torch.no_grad():
        net[0].weight[[1, 5]] = 0.0  # units 1 and 5 of layer 1 never fire
        net[0].bias[[1, 5]] = -1.0
        net[2].weight[6] = 0.0       # unit 6 of layer 2 never fires
        net[2].bias[6] = -1.0
    h1 = net[1](net[0](x))
    h2 = net[3](net[2](h1))
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    moments = {n: {k: opt.state[p][k].clone() for k in ("exp_avg", "exp_avg_sq")}
               for n, p in net.named_parameters()}
    touched = redo_([(net[0], net[2]), (net[2], net[4])], [h1, h2], 0.025, [opt], orthogonal)
    assert touched == [int(dormant_mask(h1, 0.025).sum()), int(dormant_mask(h2, 0.025).sum())]
    dead1, dead2 = dormant_mask(h1, 0.025), dormant_mask(h2, 0.025)
    assert dead1[[1, 5]].all() and dead2[6]
    after = dict(net.named_parameters())
    # expected change masks per parameter: incoming rows of dormant units, outgoing columns
    rows1, cols1 = dead1[:, None].expand(8, 4), dead1[None, :].expand(8, 8)
    rows2, cols2 = dead2[:, None].expand(8, 8), dead2[None, :].expand(1, 8)
    changed = {"0.weight": rows1, "0.bias": dead1, "2.weight": rows2 | cols1, "2.bias": dead2,
               "4.weight": cols2, "4.bias": torch.zeros(1, dtype=torch.bool)}
    for name, mask in changed.items():
        same = after[name].detach() == before[name]
        assert same[~mask].all(), f"{name}: ReDo changed entries of active units"
        for k in ("exp_avg", "exp_avg_sq"):
            m = opt.state[after[name]][k]
            assert torch.equal(m[~mask], moments[name][k][~mask]), f"{name} {k}: wrong entries"
            assert (m[mask] == 0).all(), f"{name} {k}: dormant entries not reset"
    assert (after["2.weight"].detach()[:, dead1] == 0).all(), "outgoing weights must be zero"
    assert (after["4.weight"].detach()[:, dead2] == 0).all(), "outgoing weights must be zero"
    assert (after["0.weight"].detach()[dead1] != 0).any(), "incoming weights re-initialised"
    for i, j in itertools.combinations(range(8), 2):
        if dead1[i] and dead1[j]:
            assert not torch.equal(after["0.weight"][i], after["0.weight"][j])


def test_resets_are_spread_evenly_inside_the_run_and_redo_follows_its_update_period():
    from agents.plasticity.interventions import Interventions, ReDo, Reset, make_interventions
    from configs.schema import OffPolicyConfig, ReDoConfig, ResetConfig

    reset = Reset(ResetConfig(count=4), total_steps=1000)
    assert reset.steps == [200, 400, 600, 800]
    fired = []
    for step in range(1, 1001):
        if reset.due(step, updates=0):
            reset.done += 1
            fired.append(step)
    assert fired == [200, 400, 600, 800] and not reset.due(10_000, updates=0)
    redo = ReDo(ReDoConfig(every_updates=3))
    assert [u for u in range(1, 10) if redo.due(0, u)] == [3, 6, 9]

    class Agent:   # what the record reads: the agent's counters
        step, updates = 10, 3

    redo.apply = lambda agent: ([{"module": "critic", "units": 5, "layers": 4}], {})
    s = Interventions([redo], frames_per_step=2)
    s.apply("redo", Agent())
    assert s.pop_rows() == [{"step": 10, "frame": 20, "update": 3, "kind": "redo",
                             "module": "critic", "units": 5, "layers": 4}]
    assert not make_interventions(OffPolicyConfig(), total_steps=1000).items


def test_redo_every_steps_fires_once_per_multiple_of_agent_steps_whatever_the_rr():
    """Updates at agent steps 0.5 apart (RR 2) and 2 apart (RR 0.5): ReDo runs on the first
    update at or after each multiple of 100 agent steps, once; none before step 100."""
    from agents.plasticity.interventions import ReDo
    from configs.schema import ReDoConfig

    for update_steps in ([k // 2 for k in range(1, 801)], list(range(2, 401, 2))):
        s = ReDo(ReDoConfig(every_steps=100))
        fired = [step for u, step in enumerate(update_steps, 1) if s.due(step, u)]
        assert fired == [100, 200, 300, 400], fired
