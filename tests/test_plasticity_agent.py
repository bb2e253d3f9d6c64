"""The plasticity metrics, the Adaptive RR and Reset/ReDo inside the off-policy agent and the loop:
logged at the log interval from device-side buffers, not changing training, surviving resume,
stopping on a NaN before any checkpoint, and refusing interventions an agent cannot take."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import train as cli
from bench.random_replay import fill_from_env
from configs.loader import load_config
from trainer.api import build, train
from trainer.checkpoint import load_checkpoint
from trainer.loop import DivergenceError
from conftest import STATE_PRESET, tiny_state

ROOT = Path(__file__).resolve().parent.parent
STATE = STATE_PRESET
PIXELS = ROOT / "configs/drqv2_tiny.yaml"
# cartpole from states: 1000 agent steps per episode; updates from step 200
TINY_STATE = tiny_state()
TINY_PIXELS = ["env.pixels.size=32", "agent.batch_size=8", "agent.replay_capacity=1000",
               "agent.hidden_dim=32", "agent.feature_dim=16", "agent.conv_channels=8"]
# switch at the first check that sees a change <= 0.5: at the end of episode 1 (step 1000)
ADAPTIVE = ["agent.rr_schedule.type=adaptive", "agent.rr_schedule.interval=1",
            "agent.rr_schedule.threshold=0.5"]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def state_fingerprint(agent) -> dict[str, torch.Tensor]:
    return {f"{part}.{k}": v.detach().clone() for part in ("encoder", "actor", "critic",
                                                          "critic_target")
            for k, v in getattr(agent, part).state_dict().items()}


def filled_agent(overrides: list[str], transitions: int = 60):
    """A tiny pixel agent whose replay holds real cartpole transitions (random actions)."""
    cfg = load_config(PIXELS, [*TINY_PIXELS, "agent.seed_frames=0", *overrides])
    env, agent, _ = build(cfg)
    fill_from_env(agent, env, transitions)
    return agent


@pytest.mark.slow
def test_metric_collection_does_not_change_training():
    fingerprints, metrics = [], []
    for on in ("true", "false"):
        agent = filled_agent([f"agent.plasticity_metrics={on}"])
        torch.manual_seed(3)
        for _ in range(4):
            assert agent.update() == {}, "metrics stay on the device until pending_metrics"
        fingerprints.append(state_fingerprint(agent))
        metrics.append(agent.pending_metrics())
    on, off = fingerprints
    assert on.keys() == off.keys()
    for k in on:
        assert torch.equal(on[k], off[k]), f"{k} differs with metrics on vs off"
    with_metrics, without = metrics
    assert {"fau/encoder", "fau/actor", "dormant0/critic", "dormant0.025/critic",
            "dormant0/actor", "dormant0.025/actor"} <= set(with_metrics)
    assert not any(k.startswith(("dormant", "fau/encoder", "fau/actor")) for k in without)
    assert with_metrics["fau/critic"] == without["fau/critic"] and len(without["q"]) == 4


def test_pixel_agent_metrics_match_a_brute_force_count_on_its_own_maps():
    agent = filled_agent([])
    obs = torch.as_tensor(agent.replay.sample(8)["obs"]).float()
    h, maps = agent.encoder.forward_maps(obs)
    assert len(maps) == 4 and torch.equal(h, agent.encoder(obs))
    positive = sum(int((m > 0).sum()) for m in maps)
    from agents.plasticity.metrics import fraction_active
    assert fraction_active(maps).item() == pytest.approx(positive / sum(m.numel() for m in maps))
    mu, hidden = agent.actor.forward_maps(h)
    assert torch.equal(mu, agent.actor(h)) and [m.shape[1] for m in hidden] == [32, 32]


def brute_force_fau_and_dormant(maps: list[np.ndarray], taus=(0.0, 0.025)) -> dict[str, float]:
    """FAU: positive entries over all entries of all maps (Ma et al. 2024). ReDo (Sokar et
    al. 2023): unit i of a layer is tau-dormant when E_x|a_i(x)| <= tau * mean_k E_x|a_k(x)|;
    the ratio counts dormant units over the units of all layers."""
    out = {"fau": sum(int((m > 0).sum()) for m in maps) / sum(m.size for m in maps)}
    for tau in taus:
        dormant = units = 0
        for m in maps:
            scores = [float(np.abs(m[:, i]).mean()) for i in range(m.shape[1])]
            layer_mean = sum(scores) / len(scores)
            dormant += sum(score <= tau * layer_mean for score in scores)
            units += len(scores)
        out[f"dormant{tau:g}"] = dormant / units
    return out


def test_logged_fau_and_dormant_ratios_equal_a_brute_force_count_of_the_update_activations():
    """One update's ``fau/*`` and ``dormant*/*`` against counts over the post-ReLU activations
    of that update's own passes, read with forward hooks: the critic's loss pass (its first
    forward), the actor's loss pass (its second: the first picks the target's next action)
    and the encoder's pass on the augmented observations (its first)."""
    agent = filled_agent([])
    with torch.no_grad():   # dead units (dormant at tau 0) and near-silent ones (at 0.025 only)
        agent.critic.q1.l1.bias[:4] = -1e3
        agent.critic.q2.l2.weight[:3] *= 1e-3
        agent.actor.policy[0].bias[:5] = -1e3
        agent.actor.policy[2].weight[:2] *= 1e-3
    layers = {"critic": [agent.critic.q1.l1, agent.critic.q1.l2, agent.critic.q2.l1,
                         agent.critic.q2.l2],
              "actor": [agent.actor.policy[0], agent.actor.policy[2]],
              "encoder": [agent.encoder.convnet[i] for i in (0, 2, 4, 6)]}
    calls: dict[tuple[str, int], list[np.ndarray]] = {}
    for part, modules in layers.items():
        for i, layer in enumerate(modules):
            layer.register_forward_hook(
                lambda _m, _x, out, key=(part, i): calls.setdefault(key, []).append(
                    torch.relu(out.detach()).numpy().copy()))
    agent.update()
    logged = {k: v[-1] for k, v in agent.pending_metrics().items()}
    which = {"critic": 0, "actor": 1, "encoder": 0}
    for part, modules in layers.items():
        maps = [calls[(part, i)][which[part]] for i in range(len(modules))]
        expected = brute_force_fau_and_dormant(maps)
        assert logged[f"fau/{part}"] == pytest.approx(expected["fau"], rel=1e-6), part
        if part == "encoder":
            continue
        for tau in ("0", "0.025"):
            assert logged[f"dormant{tau}/{part}"] == pytest.approx(expected[f"dormant{tau}"]), \
                f"dormant{tau}/{part}"
        assert 0 < expected["dormant0"] < expected["dormant0.025"], \
            f"{part}: the planted dead and near-silent units must show"


@pytest.mark.slow
def test_adaptive_run_logs_checks_metrics_switch_and_plots_it(tmp_path, capsys):
    run = tmp_path / "arr"
    summary = train(load_config(STATE, [*TINY_STATE, *ADAPTIVE, "steps=3000",
                                        f"run_dir={run}"]))
    checks = rows(run / "rr_checks.csv")
    assert [(c["episode"], c["decision"]) for c in checks] == [
        ("1", "switch"), ("2", "already switched"), ("3", "already switched")]
    assert (summary["rr_switch_step"], summary["rr_switch_frame"]) == (1000, 1000)
    assert json.loads((run / "summary.json").read_text())["rr_switch_episode"] == 1
    episodes = rows(run / "fau_episodes.csv")
    assert [int(e["updates"]) for e in episodes] == [400, 2000, 2000], \
        "RR 0.5 from step 200 to 1000, then RR 2 for 1000 steps an episode"
    metrics = rows(run / "metrics.csv")
    assert [float(r["rr"]) for r in metrics if r.get("rr")][0] == 0.5
    assert float(metrics[-1]["rr"]) == 2.0
    for key in ("fau/critic", "fau/actor", "dormant0/critic", "dormant0.025/actor"):
        assert [r[key] for r in metrics if r.get(key)], f"{key} is not logged"
    assert "fau/encoder" not in metrics[-1], "states have no encoder"
    out = tmp_path / "arr.png"
    assert cli.main(["plot", str(run), "--metric", "return", "--metric", "fau/critic",
                     "--metric", "rr", "--x", "frames", "--out", str(out)]) == 0
    assert "RR switch (frames) of offpolicy_cartpole_swingup: 1,000" in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## Adaptive replay ratio: switch frame" in report and "| 1,000 |" in report


@pytest.mark.slow
def test_adaptive_schedule_and_switch_survive_resume_bit_identically(tmp_path):
    args = [*TINY_STATE, *ADAPTIVE, "trainer.eval_every=1500", "trainer.checkpoint_every=1500"]
    a = train(load_config(STATE, [*args, "steps=3000", f"run_dir={tmp_path / 'a'}"]))
    train(load_config(STATE, [*args, "steps=1500", f"run_dir={tmp_path / 'b'}"]))
    b = train(load_config(STATE, [*args, "steps=3000", f"run_dir={tmp_path / 'b'}"]))
    assert b["resumed_from_step"] == 1500 and a["rr_switch_step"] == b["rr_switch_step"] == 1000
    sa = load_checkpoint(tmp_path / "a/checkpoints/last.pt")["agent"]
    sb = load_checkpoint(tmp_path / "b/checkpoints/last.pt")["agent"]
    # RR 0.5 on steps 200-999, RR 2 from the switch at step 1000 (its updates follow the
    # episode-end hook) to step 3000
    assert sa["updates"] == sb["updates"] == 400 + 2 * 2001
    assert sa["rr_schedule"] == sb["rr_schedule"]
    for part in ("actor", "critic", "critic_target", "critic_opt"):
        for (k, x), (_, y) in zip(sorted(sa[part].items()), sorted(sb[part].items())):
            if torch.is_tensor(x):
                assert torch.equal(x, y), f"{part}.{k} differs after resume"
    for table in ("rr_checks.csv", "fau_episodes.csv", "metrics.csv"):
        strip = [{k: v for k, v in r.items() if k not in ("steps_per_second", "train_seconds")}
                 for r in rows(tmp_path / "a" / table)]
        again = [{k: v for k, v in r.items() if k not in ("steps_per_second", "train_seconds")}
                 for r in rows(tmp_path / "b" / table)]
        assert strip == again, f"{table} differs after resume"


def test_nan_loss_stops_the_run_before_any_checkpoint_is_written(tmp_path):
    run = tmp_path / "nan"
    cfg = load_config(STATE, [*TINY_STATE, "agent.lr=1e30", "trainer.log_every=100000",
                              "trainer.eval_every=100000", "trainer.eval_at_start=false",
                              "trainer.checkpoint_every=900", "steps=2000", f"run_dir={run}"])
    # caught by the agent when it next acts (the flag rides on the action's transfer), or by the
    # loop at its first drain: either way before the checkpoint at step 900
    diverged = (r"(a loss became NaN or Inf in an update before agent step"
                r"|loss/\w+ became \S+ at step)")
    with pytest.raises(DivergenceError, match=diverged):
        train(cfg)
    assert not (run / "checkpoints/last.pt").exists(), "no checkpoint from a diverged state"
    assert not list((run / "checkpoints").glob("*.pt"))


@pytest.mark.slow
def test_reset_and_redo_touch_and_log_what_they_should(tmp_path):
    run = tmp_path / "rr"
    train(load_config(STATE, [*TINY_STATE, "steps=1500", "agent.reset.count=2",
                              "agent.redo.every_updates=300", "agent.redo.tau=0.1", f"run_dir={run}"]))
    touched = rows(run / "interventions.csv")
    resets = [(r["step"], r["module"]) for r in touched if r["kind"] == "reset"]
    assert resets == [("500", "actor"), ("500", "critic"), ("1000", "actor"), ("1000", "critic")]
    redo = [(r["update"], r["module"], int(r["layers"])) for r in touched if r["kind"] == "redo"]
    updates = 1300  # RR 1 from step 201
    assert redo == [(str(u), m, 2 if m == "actor" else 4) for u in range(300, updates + 1, 300)
                    for m in ("actor", "critic")]
    assert json.loads((run / "summary.json").read_text())["resets"] == 2


@pytest.mark.slow
def test_redo_every_steps_counts_agent_steps_not_updates(tmp_path):
    """RR 2 from step 201 (two updates per agent step): ``every_steps=400`` fires at agent steps
    400, 800, 1200, once each, although 800 updates pass between them."""
    run = tmp_path / "rs"
    train(load_config(STATE, [*TINY_STATE, "steps=1300", "agent.rr_schedule.rr=2",
                              "agent.redo.every_steps=400", "agent.redo.modules=[critic]",
                              f"run_dir={run}"]))
    redo = [int(r["step"]) for r in rows(run / "interventions.csv") if r["kind"] == "redo"]
    assert redo == [400, 800, 1200], redo


@pytest.mark.parametrize("redo, message", [
    ({"every": 1000, "tau": 0.025}, "'every' was renamed: use every_updates"),
    ({"tau": 0.025}, "set exactly one of every_steps (agent steps) and every_updates"),
    ({"every_steps": 10, "every_updates": 10}, "set exactly one of every_steps"),
])
def test_redo_period_needs_exactly_one_explicit_unit(tmp_path, capsys, redo, message):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE), "agent": {"redo": redo}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "agent.redo" in err and message in err, err
    assert not run.exists()


@pytest.mark.slow
def test_old_run_folder_with_redo_every_resumes_under_every_updates(tmp_path, capsys):
    """A run folder written before the rename (``redo: {every: 50}``) resumes when the command
    says ``every_updates=50`` (the old meaning), and is refused with ``every_steps=50``."""
    run = tmp_path / "old"
    train(load_config(STATE, [*TINY_STATE, "steps=300", "agent.redo.every_updates=50",
                              f"run_dir={run}"]))
    config = yaml.safe_load((run / "config.yaml").read_text())
    redo = config["agent"]["redo"]
    config["agent"]["redo"] = {"every": 50, "tau": redo["tau"], "modules": redo["modules"]}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    code = cli.main([str(STATE), *TINY_STATE, "steps=300", "agent.redo.every_steps=50",
                     f"run_dir={run}"])
    err = capsys.readouterr().err
    assert code == 2 and "different config" in err and "every" in err, err
    code = cli.main([str(STATE), *TINY_STATE, "steps=400", "agent.redo.every_updates=50",
                     f"run_dir={run}"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((run / "summary.json").read_text())
    assert (summary["resumed_from_step"], summary["env_steps"]) == (300, 400), summary


@pytest.mark.slow
def test_reset_keeps_encoder_and_its_optimiser_and_syncs_the_target_critic():
    agent = filled_agent(["agent.reset.count=1", "agent.reset.modules=[actor,critic]"])
    for _ in range(2):
        agent.update()
    encoder = {k: v.clone() for k, v in agent.encoder.state_dict().items()}
    encoder_moments = {id(p): agent.encoder_opt.state[p]["exp_avg"].clone()
                       for p in agent.encoder.parameters()}
    agent.interventions.apply("reset", agent)
    assert all(torch.equal(v, agent.encoder.state_dict()[k]) for k, v in encoder.items())
    assert all(torch.equal(agent.encoder_opt.state[p]["exp_avg"], encoder_moments[id(p)])
               for p in agent.encoder.parameters())
    assert not agent.actor_opt.state and not agent.critic_opt.state
    for p, q in zip(agent.critic.parameters(), agent.critic_target.parameters()):
        assert torch.equal(p, q), "the target critic restarts from the fresh critic"
    assert [r["module"] for r in agent.records()["interventions"]] == ["actor", "critic"]


@pytest.mark.parametrize("config, overrides, message", [
    (STATE, ["agent.reset.modules=[encoder]"],
     "config error: agent.reset.modules: encoder: state observations have no encoder"),
    (ROOT / "configs/ncap_swim_ddpg.yaml", ["agent.redo.every_updates=10"],
     "config error: agent.redo.modules: actor: the ncap actor has no MLP layers"),
    (STATE, ["agent.rr_schedule.type=fixed", "agent.rr_schedule.rr=0"],
     "config error: agent.rr_schedule.rr: Input should be greater than 0"),
    (None, ["agent.reset.count=3"], "config error: unknown key 'agent.reset'"),
])
def test_interventions_an_agent_cannot_take_exit_2_with_one_line(tmp_path, capsys, config,
                                                                  overrides, message):
    run = tmp_path / "run"
    code = cli.main([*([str(config)] if config else []), *overrides, f"run_dir={run}",
                     "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not run.exists()


@pytest.mark.parametrize("variant, key", [("rr2_snp", "shrink_perturb"), ("rr2_l2init", "l2_init"),
                                          ("rr2_layernorm", "hidden_norm"),
                                          ("rr2_triggered_reset", "reset"),
                                          ("rr2_injection", "plasticity_injection")])
def test_plasticity_toolbox_arms_are_overrides_of_the_rr2_presets(variant, key):
    for task in ("cheetah_run", "walker_run", "quadruped_run"):
        path = ROOT / f"configs/arr/{task}_{variant}.yaml"
        assert len(yaml.safe_load(path.read_text())) <= 4, f"{path.name} is not an override"
        cfg = load_config(path)
        rr2 = load_config(ROOT / f"configs/arr/{task}_rr2.yaml")
        assert cfg.name == f"arr_{task}_{variant}" and cfg.agent.rr_schedule == rr2.agent.rr_schedule
        assert getattr(cfg.agent, key) not in (None, "none")
        assert cfg.agent.model_dump(exclude={key}) == rr2.agent.model_dump(exclude={key})


def test_paper_comparison_presets_are_a_few_lines_over_their_task_preset():
    for task in ("cheetah_run", "walker_run", "quadruped_run"):
        for variant in ("rr0.5", "rr2", "rr2_reset", "rr2_redo", "arr"):
            path = ROOT / f"configs/arr/{task}_{variant}.yaml"
            assert len(yaml.safe_load(path.read_text())) <= 4, f"{path.name} is not an override"
            cfg = load_config(path)
            schedule = cfg.agent.rr_schedule
            assert cfg.name == f"arr_{task}_{variant}" and cfg.steps * 2 == 2_000_000
            assert (schedule.type == "adaptive") == (variant == "arr")
            if variant != "arr":
                assert schedule.rr == (0.5 if variant == "rr0.5" else 2.0)
            assert (cfg.agent.reset is not None) == variant.endswith("reset")
            assert (cfg.agent.redo is not None) == variant.endswith("redo")
            if task == "walker_run":
                assert (cfg.agent.n_step, cfg.agent.batch_size) == (1, 512)
            if task == "quadruped_run":
                assert cfg.agent.replay_capacity == 100_000
                assert cfg.agent.reset is None or cfg.agent.reset.count == 5


def test_critic_fau_off_logs_no_plasticity_metric_and_trains_the_same():
    """``critic_fau: false`` with ``plasticity_metrics: false`` drops ``fau/critic`` (the only
    per-update plasticity metric left) and changes nothing else: same weights after the same
    updates as with it on."""
    states = []
    for on in ("true", "false"):
        cfg = load_config(STATE, [*TINY_STATE, "agent.seed_frames=0", "agent.explore_steps=0",
                                  "agent.plasticity_metrics=false", f"agent.critic_fau={on}"])
        env, agent, _ = build(cfg)
        fill_from_env(agent, env, 64)
        torch.manual_seed(3)
        for _ in range(3):
            agent.update()
        logged = agent.pending_metrics()
        assert ("fau/critic" in logged) == (on == "true")
        assert not any(k.startswith(("dormant", "fau/actor")) for k in logged)
        states.append([p.detach().clone() for p in agent.critic.parameters()])
        env.close()
    assert all(torch.equal(a, b) for a, b in zip(*states))


@pytest.mark.parametrize("overrides, message", [
    (["agent.critic_fau=false", "agent.rr_schedule={type: adaptive}"], "agent: critic_fau"),
    (["agent.critic_fau=false", "agent.reset={count: null, trigger: {metric: fau/critic, "
      "condition: levelled, threshold: 0.001}}"], "agent.reset.trigger.metric"),
])
def test_critic_fau_off_where_it_is_read_is_one_line(tmp_path, capsys, overrides, message):
    run = tmp_path / "run"
    code = cli.main([str(STATE), *overrides, f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not run.exists()
