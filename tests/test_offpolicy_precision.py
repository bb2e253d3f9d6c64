"""``agent.precision: bf16`` (autocast update, fp32 master weights) and its refusal."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import agents.offpolicy.precision as precision
from agents.offpolicy.agent import OffPolicyAgent
from configs.loader import ConfigError, load_config
from configs.schema import FixedRRConfig, OffPolicyConfig
from trainer.api import train
from trainer.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
NATIVE = precision.native_bf16(torch.device("cpu"))
needs_bf16 = pytest.mark.skipif(not NATIVE, reason="this CPU has no native bfloat16")


def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch):
    for flags, native in [({"avx2", "avx512f"}, False), ({"avx512_bf16"}, True),
                          ({"amx_bf16", "amx_tile"}, True), (set(), False)]:
        monkeypatch.setattr(precision, "cpu_flags", lambda flags=flags: flags)
        assert precision.native_bf16(torch.device("cpu")) is native, flags


def test_bf16_on_a_cpu_without_it_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    import train as cli

    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512f"})
    run = tmp_path / "run"
    code = cli.main([str(ROOT / "configs/offpolicy_cartpole_swingup.yaml"),
                     "agent.precision=bf16", f"run_dir={run}", "trainer.progress=false"])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 2
    assert len(lines) == 1 and "agent.precision" in lines[0] and "bf16" in lines[0], lines
    assert not run.exists(), "nothing may be written on bad input"


def agent_with(precision_name: str, seed: int = 0) -> OffPolicyAgent:
    cfg = OffPolicyConfig(batch_size=32, hidden_dim=64, feature_dim=16, explore_steps=0,
                          seed_frames=0, replay_capacity=64, n_step=1, std_schedule="0.2",
                          precision=precision_name, rr_schedule=FixedRRConfig(rr=1))
    obs = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
    act = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    torch.manual_seed(seed)
    agent = OffPolicyAgent(cfg, obs, act, seed=0)
    rng = np.random.default_rng(0)
    batch = {"obs": rng.normal(size=(32, 5)).astype(np.float32),
             "action": rng.uniform(-1, 1, (32, 2)).astype(np.float32),
             "reward": rng.normal(size=(32, 1)).astype(np.float32),
             "discount": np.full((32, 1), 0.99, np.float32),
             "next_obs": rng.normal(size=(32, 5)).astype(np.float32)}
    agent.replay.sample = lambda *args: batch
    return agent


@needs_bf16
def test_bf16_computes_in_bfloat16_and_keeps_fp32_weights_and_adam_state():
    fp32, bf16 = agent_with("fp32"), agent_with("bf16")
    critic0 = copy.deepcopy(fp32.critic)   # the pre-update critic, for the logged q and FAU
    seen = []
    hook = bf16.critic.q1.l2.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    for agent in (fp32, bf16):
        torch.manual_seed(1)
        agent.update()
    hook.remove()
    assert seen and all(d == torch.bfloat16 for d in seen), "the critic's matmuls ran in fp32"
    for module in (bf16.actor, bf16.critic, bf16.critic_target):
        assert all(p.dtype == torch.float32 for p in module.parameters())
    for opt in (bf16.actor_opt, bf16.critic_opt):
        for state in opt.state.values():
            assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == torch.float32
    # the same step in both precisions: close (bf16 keeps ~3 significant digits), not equal
    diffs = [float((a - b).abs().max()) for a, b in
             zip(fp32.critic.parameters(), bf16.critic.parameters())]
    assert 0 < max(diffs) < 1e-2
    # the logged metrics: fp32's q and FAU by hand on the pinned batch and pre-update critic;
    # bf16 logs the same quantities to bf16's precision
    logged = {k: v[-1] for k, v in fp32.pending_metrics().items()}
    logged16 = {k: v[-1] for k, v in bf16.pending_metrics().items()}
    batch = {k: torch.as_tensor(v) for k, v in fp32.replay.sample().items()}
    with torch.no_grad():
        q1, _, hidden = critic0(batch["obs"], batch["action"])
    assert logged["q"] == pytest.approx(float(q1.mean()), rel=1e-5)
    positive = sum(int((x > 0).sum()) for x in hidden)
    assert logged["fau/critic"] == pytest.approx(positive / sum(x.numel() for x in hidden))
    assert logged["batch_reward"] == pytest.approx(float(batch["reward"].mean()))
    assert logged16.keys() == logged.keys()
    for key, value in logged.items():
        assert logged16[key] == pytest.approx(value, rel=2e-2, abs=1e-2), key


@needs_bf16
@pytest.mark.slow
def test_bf16_run_logs_finite_metrics_and_resumes_bit_identically(tmp_path):
    """One run of 800 steps vs 400 + resume to 800, both in bf16: identical state and logs."""
    args = ["agent.precision=bf16", "agent.explore_steps=100", "agent.seed_frames=200",
            "agent.batch_size=16", "agent.hidden_dim=16", "agent.feature_dim=8",
            "trainer.progress=false", "trainer.tensorboard=false", "trainer.eval_episodes=1",
            "trainer.eval_every=400", "trainer.log_every=200", "trainer.checkpoint_every=400"]
    preset = ROOT / "configs/offpolicy_cartpole_swingup.yaml"
    a = train(load_config(preset, [*args, "steps=800", f"run_dir={tmp_path / 'a'}"]))
    train(load_config(preset, [*args, "steps=400", f"run_dir={tmp_path / 'b'}"]))
    b = train(load_config(preset, [*args, "steps=800", f"run_dir={tmp_path / 'b'}"]))
    assert b["resumed_from_step"] == 400 and a["final_eval_return"] == b["final_eval_return"]
    sa = load_checkpoint(tmp_path / "a/checkpoints/last.pt")["agent"]
    sb = load_checkpoint(tmp_path / "b/checkpoints/last.pt")["agent"]
    assert sa["updates"] == sb["updates"] > 500
    for part in ("actor", "critic", "critic_target"):
        for k, v in sa[part].items():
            assert torch.equal(v, sb[part][k]), f"{part}.{k} differs after resume"
    rows = {name: list(csv.DictReader((tmp_path / name / "metrics.csv").open()))
            for name in ("a", "b")}
    logged = [r for r in rows["a"] if r.get("loss/critic")]
    assert len(logged) >= 3
    for row in logged:
        for key in ("loss/critic", "loss/actor", "q", "fau/critic", "dormant0/critic"):
            assert math.isfinite(float(row[key])), (key, row)
    timing = {"steps_per_second", "train_seconds"}
    strip = [[{k: v for k, v in r.items() if k not in timing} for r in rows[n]] for n in "ab"]
    assert strip[0] == strip[1], "metrics.csv differs after resume"


def test_bf16_refusal_names_the_key_in_one_line(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    with pytest.raises(ConfigError, match=r"^config error: agent\.precision: bf16") as e:
        agent_with("bf16")
    assert "\n" not in str(e.value)
