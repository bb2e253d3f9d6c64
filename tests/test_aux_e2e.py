"""Every auxiliary loss through the trainer loop on a tiny pixel run: logged, representation
metrics on the saved probe set, exact resume, the ``represent`` command, frozen-encoder
transfer and the bad-input errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import train as cli
from agents.plasticity.representation import ProbeSet
from configs.loader import load_config
from drqv2_reference import encode, reference_names, trunk
from trainer.api import train
from trainer.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
PRESET = ROOT / "configs" / "drqv2_tiny.yaml"
TIMING_COLUMNS = {"steps_per_second", "train_seconds", "seconds"}
# 240 agent steps: updates after odd steps from 41 on (RR 0.5); representation metrics in the
# first updates at or past steps 100 and 200 (logged in the rows of steps 120 and 240)
TINY = ["env.pixels.size=32", "agent.batch_size=16", "agent.replay_capacity=2000",
        "agent.explore_steps=40", "agent.seed_frames=80", "trainer.eval_every=1000",
        "trainer.eval_at_start=false", "trainer.eval_episodes=1", "trainer.log_every=40",
        "trainer.checkpoint_every=120", "trainer.progress=false", "trainer.tensorboard=false",
        "agent.representation.every=100", "agent.representation.probe_episodes=2",
        "agent.representation.probe_stride=25"]
ALL_LOSSES = ("agent.aux.losses=[{type: one_step, hidden: 32}, "
              "{type: rollout, k: 3, rho: 0.5, hidden: 32}, {type: horizon_faithful, hidden: 32}, "
              "{type: horizon_stabilised, hidden: 32}, {type: contrastive, k: 2, hidden: 32}, "
              "{type: reward, k: 2, hidden: 32}, {type: negatives}, "
              "{type: one_step, label: shuffled, shuffle_actions: true, hidden: 32}]")
LABELS = ["one_step", "rollout", "horizon_faithful", "horizon_stabilised", "contrastive",
          "reward", "negatives", "shuffled"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
                for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run of 240 steps with every loss, and the same run as 120 + resume to 240."""
    root = tmp_path_factory.mktemp("aux")
    train(load_config(PRESET, [*TINY, ALL_LOSSES, "steps=240", f"run_dir={root / 'a'}"]))
    train(load_config(PRESET, [*TINY, ALL_LOSSES, "steps=120", f"run_dir={root / 'b'}"]))
    train(load_config(PRESET, [*TINY, ALL_LOSSES, "steps=240", f"run_dir={root / 'b'}"]))
    return root


@pytest.mark.slow
def test_every_aux_loss_is_logged_with_representation_metrics(runs):
    rows = read_csv(runs / "a" / "metrics.csv")
    last = rows[-1]
    for label in LABELS:
        assert np.isfinite(float(last[f"loss/aux_{label}"])), f"loss/aux_{label} not logged"
    # every weight is 1: the logged total is the sum of the eight logged parts (a row's values
    # are means over the same updates, and the mean is linear)
    parts = sum(float(last[f"loss/aux_{label}"]) for label in LABELS)
    assert float(last["loss/aux"]) == pytest.approx(parts, rel=1e-4), (last["loss/aux"], parts)
    assert float(last["aux/separate_step"]) == 0.0, "default routing adds to the critic loss"
    measured = [r for r in rows if r.get("repr/srank")]
    assert [int(r["step"]) for r in measured] == [120, 240], "metrics at steps 101 and 201"
    first, second = measured
    assert first["repr/feature_var"] != second["repr/feature_var"], "measured on new weights"
    assert (runs / "a" / "probe.npz").exists()


@pytest.mark.slow
def test_aux_run_resumes_bitwise_identically(runs):
    a = load_checkpoint(runs / "a" / "checkpoints" / "last.pt")["agent"]
    b = load_checkpoint(runs / "b" / "checkpoints" / "last.pt")["agent"]
    assert a["updates"] == b["updates"] == 100
    for part in ("encoder", "actor", "critic", "critic_target"):
        for name, value in a[part].items():
            assert torch.equal(value, b[part][name]), f"{part}.{name} differs after resume"
    for name, value in a["aux"]["modules"].items():
        assert torch.equal(value, b["aux"]["modules"][name]), f"aux {name} differs after resume"
    assert read_csv(runs / "a" / "metrics.csv") == read_csv(runs / "b" / "metrics.csv")


def brute_force_representation(z: np.ndarray, probe: ProbeSet, ridge: float) -> dict[str, float]:
    """srank (Kumar et al. 2021: fewest singular values holding 99% of their sum), mean
    pairwise cosine over pairs i != j, mean per-unit variance, and the ridge probe's R^2 on the
    second half of the probe episodes (inputs standardised with the first half's statistics,
    intercept unpenalised, solved as least squares on ``[X; sqrt(alpha) I] w = [y; 0]``)."""
    sigma = sorted(np.linalg.svd(z, compute_uv=False), reverse=True)
    k, held = 0, 0.0
    while held < 0.99 * sum(sigma) - 1e-12:
        held += sigma[k]
        k += 1
    unit = [row / np.linalg.norm(row) for row in z]
    cos = [float(unit[i] @ unit[j]) for i in range(len(z)) for j in range(len(z)) if i != j]
    fit = probe.episode < (probe.episode.max() + 1) // 2
    y = np.concatenate([probe.qpos, probe.qvel], axis=1)
    mu, sd = z[fit].mean(0), z[fit].std(0) + 1e-8
    x_fit, x_test = (z[fit] - mu) / sd, (z[~fit] - mu) / sd
    y_mean = y[fit].mean(0)
    lhs = np.vstack([x_fit, np.sqrt(ridge) * np.eye(z.shape[1])])
    rhs = np.vstack([y[fit] - y_mean, np.zeros((z.shape[1], y.shape[1]))])
    pred = x_test @ np.linalg.lstsq(lhs, rhs, rcond=None)[0] + y_mean
    r2 = [1 - ((y[~fit][:, d] - pred[:, d]) ** 2).sum()
          / ((y[~fit][:, d] - y[~fit][:, d].mean()) ** 2).sum()
          for d in range(y.shape[1]) if y[~fit][:, d].std() > 1e-5]
    return {"repr/srank": k, "repr/pairwise_cos": float(np.mean(cos)),
            "repr/feature_var": float(np.mean([z[:, i].var() for i in range(z.shape[1])])),
            "repr/probe_r2": float(np.mean(r2))}


@pytest.mark.slow
def test_represent_command_measures_every_checkpoint_on_the_saved_probe(runs, capsys):
    probe_time = (runs / "a" / "probe.npz").stat().st_mtime_ns
    assert cli.main(["represent", str(runs / "a")]) == 0
    rows = read_csv(runs / "a" / "representation.csv")
    assert [r["checkpoint"] for r in rows] == ["step_0000000120", "step_0000000240", "best"]
    assert [int(r["step"]) for r in rows] == [120, 240, 240]
    # the step-240 row against a brute-force computation on that checkpoint's latents
    # z = tanh(LayerNorm(W f(o))) of the saved probe observations (plain reference network)
    agent = load_checkpoint(runs / "a" / "checkpoints" / "step_0000000240.pt")["agent"]
    probe = ProbeSet.load(runs / "a" / "probe.npz")
    with torch.no_grad():
        h = encode(reference_names("encoder", agent["encoder"].items()),
                   torch.as_tensor(probe.obs).float())
        z = trunk(reference_names("critic", agent["critic"].items()), h).double().numpy()
    expected = brute_force_representation(z, probe, ridge=1.0)
    assert expected["repr/srank"] > 1, "a collapsed latent would test little"
    for key, value in expected.items():
        assert float(rows[1][key]) == pytest.approx(value, rel=1e-4, abs=1e-6), key
    assert rows[0]["repr/feature_var"] != rows[1]["repr/feature_var"], "the encoder trained"
    assert (runs / "a" / "probe.npz").stat().st_mtime_ns == probe_time, "probe set reused"
    assert "| step_0000000240 | 240 |" in capsys.readouterr().out
    assert cli.main(["represent", str(runs / "a"), "--checkpoint", "last"]) == 0
    (again,) = read_csv(runs / "a" / "representation.csv")
    assert {k: v for k, v in again.items() if k != "checkpoint"} == \
        {k: v for k, v in rows[1].items() if k != "checkpoint"}, "same weights, same metrics"


@pytest.mark.slow
def test_frozen_encoder_transfer_keeps_the_source_encoder_and_records_it(runs, tmp_path):
    source = runs / "a"
    run = tmp_path / "t"
    summary = train(load_config(PRESET, [
        *TINY, "steps=100", "env.id=dmc:cartpole-balance", "agent.representation.every=null",
        f"agent.encoder_init.run={source}", "agent.aux.routing=separate",
        "agent.aux.losses=[{type: one_step, hidden: 32}]", f"run_dir={run}"]))
    assert summary["parameters"]["encoder"] == 0, "a frozen encoder has no trainable parameters"
    src = load_checkpoint(source / "checkpoints" / "last.pt")["agent"]
    new = load_checkpoint(run / "checkpoints" / "last.pt")["agent"]
    for name, value in src["encoder"].items():
        assert torch.equal(value, new["encoder"][name]), f"frozen encoder {name} moved"
    trunk = {k: v for k, v in src["critic"].items() if k.startswith("trunk.")}
    for name, value in trunk.items():
        assert torch.equal(value, new["critic"][name]), f"frozen projection {name} moved"
    assert not torch.equal(src["actor"]["policy.0.weight"], new["actor"]["policy.0.weight"])
    record = json.loads((run / "encoder_init.json").read_text())
    assert record["source"] == str((source / "checkpoints" / "last.pt").resolve())
    assert record["step"] == 240 and record["source_env"] == "dmc:cartpole-swingup"
    assert float(read_csv(run / "metrics.csv")[-1]["aux/separate_step"]) == 1.0
    assert cli.main(["represent", str(run), "--checkpoint", "last"]) == 0, \
        "a transferred run is measured with its own weights"


@pytest.mark.parametrize("override, message", [
    ("agent.aux.losses=[{type: predict_pixels}]", "agent.aux.losses.0: Input tag"),
    ("agent.aux.losses=[{type: one_step, weight: -0.1}]", "agent.aux.losses.0.weight"),
    ("agent.aux.losses=[{type: rollout, k: 5000}]", "agent.aux.losses.0: a 5000-step window"),
    pytest.param("env.pixels.size=40", "agent.encoder_init.run: the encoder of",
                 marks=pytest.mark.slow),   # needs the trained runs
])
def test_bad_aux_and_transfer_input_is_one_line_exit_2_and_writes_nothing(
        request, tmp_path, capsys, override, message):
    run = tmp_path / "bad"
    args = [str(PRESET), *TINY, "steps=10", f"run_dir={run}", override]
    if override.startswith("env."):
        args.append(f"agent.encoder_init.run={request.getfixturevalue('runs') / 'a'}")
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not run.exists(), "nothing may be written on bad input"
