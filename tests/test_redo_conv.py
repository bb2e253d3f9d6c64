"""ReDo on conv layers (ReDo's reference scope): a channel is a unit; its filter is re-drawn,
the next conv's input channel and the trunks' columns that read its pixels are zeroed."""

from __future__ import annotations

import pytest

import csv
from pathlib import Path

import torch
from torch import nn

from agents.common.networks import orthogonal_init
from agents.offpolicy.nets import Encoder
from agents.plasticity.surgery import redo_
from configs.loader import load_config
from trainer.api import train

ROOT = Path(__file__).resolve().parent.parent


def test_conv_redo_touches_the_dormant_channel_its_readers_and_their_moments():
    torch.manual_seed(0)
    enc = Encoder(in_channels=3, size=19, channels=4)         # 19 -> 9 -> 7 -> 5 -> 3
    side = 3
    assert enc.repr_dim == 4 * side * side
    readers = [nn.Linear(enc.repr_dim, 5), nn.Linear(enc.repr_dim, 6)]
    params = [*enc.parameters(), *(p for r in readers for p in r.parameters())]
    opt = torch.optim.Adam(params, lr=1e-3)
    sum(p.sum() for p in params).backward()
    opt.step()                                                 # every Adam moment is non-zero
    before = {id(p): p.detach().clone() for p in params}
    maps = [torch.rand(2, 4, s, s) + 0.1 for s in (9, 7, 5, 3)]
    maps[1][:, 2] = 0.0                                        # conv 2, channel 2: dormant
    maps[3][:, 1] = 0.0                                        # conv 4, channel 1: dormant
    units = redo_(enc.redo_pairs(readers), maps, 0.025, [opt], orthogonal_init)
    assert units == [0, 1, 0, 1]
    convs = [m for m in enc.convnet if isinstance(m, nn.Conv2d)]
    # by hand: conv 2 row 2 re-drawn, conv 3 input channel 2 zeroed, nothing else moved there
    assert not torch.equal(convs[1].weight[2], before[id(convs[1].weight)][2])
    assert torch.equal(convs[1].weight[[0, 1, 3]], before[id(convs[1].weight)][[0, 1, 3]])
    assert (convs[2].weight[:, 2] == 0).all()
    assert torch.equal(convs[2].weight[:, [0, 1, 3]], before[id(convs[2].weight)][:, [0, 1, 3]])
    assert (opt.state[convs[2].weight]["exp_avg"][:, 2] == 0).all()
    assert (opt.state[convs[1].weight]["exp_avg"][2] == 0).all()
    # conv 4 channel 1 owns flattened columns 9..17 of both readers
    for r in readers:
        cols = list(range(1 * side * side, 2 * side * side))
        rest = [c for c in range(enc.repr_dim) if c not in cols]
        assert (r.weight[:, cols] == 0).all()
        assert torch.equal(r.weight[:, rest], before[id(r.weight)][:, rest])
        assert (opt.state[r.weight]["exp_avg"][:, cols] == 0).all()
        assert (opt.state[r.weight]["exp_avg"][:, rest] != 0).all()


@pytest.mark.slow
def test_pixel_agent_redo_with_encoder_logs_four_conv_layers(tmp_path):
    run = tmp_path / "px"
    train(load_config(ROOT / "configs/drqv2_tiny.yaml", [
        "env.pixels.size=32", "agent.batch_size=8", "agent.replay_capacity=1000",
        "agent.hidden_dim=32", "agent.feature_dim=16", "agent.conv_channels=8",
        "steps=120", "agent.seed_frames=40", "agent.redo.every_updates=20",
        "agent.redo.modules=[encoder,critic]", "agent.redo.tau=0.3", f"run_dir={run}",
        "trainer.progress=false", "trainer.tensorboard=false"]))
    with (run / "interventions.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "redo"]
    encoder_rows = [r for r in rows if r["module"] == "encoder"]
    assert encoder_rows and all(r["layers"] == "4" for r in encoder_rows)
    assert {r["module"] for r in rows} == {"encoder", "critic"}


def test_conv_redo_without_trunks_or_on_states_is_one_line_exit_2(tmp_path, capsys):
    import train as cli

    cases = [(ROOT / "configs/drqv2_tiny.yaml", ["agent.feature_dim=null"],
              "agent.redo.modules: encoder: ReDo of the conv layers needs the trunks"),
             (ROOT / "configs/offpolicy_cartpole_swingup.yaml", [],
              "agent.redo.modules: encoder: state observations have no encoder")]
    for preset, extra, message in cases:
        run = tmp_path / preset.stem
        code = cli.main([str(preset), *extra, "agent.redo.every_updates=10",
                         "agent.redo.modules=[encoder]", f"run_dir={run}"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, err
        assert not run.exists()
