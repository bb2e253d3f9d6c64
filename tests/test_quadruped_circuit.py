"""The quadruped's spinal circuit: its wiring against a plain scalar rewrite of the note's
equations (docs/reference/ncap_quadruped.md), signs, counts, mirroring, rhythm timing, the
commanded footfall pattern, one state dict on every body, bad input, the live panel, and (slow)
the untrained walk, its measured footfalls per drive, a PPO run that resumes and render --activity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from circuits.quadruped import QuadrupedCircuit
from configs.loader import load_config
from trainer.api import build

ROOT = Path(__file__).resolve().parent.parent
PRESET = ROOT / "configs/ncap_quadruped_walk_ppo.yaml"
# Initial weights as the note's table lists them.
NOTE_INIT = {"fu": 1.0, "lu": -0.5, "ru": 1.0, "ed": 0.3, "ld": 0.1, "af": 0.6, "ab": 0.6,
             "ee": 0.1, "ff": 0.1}


def clip01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def reference_actions(tau: float, yaw: list[float], load: list[float], w: dict[str, float],
                      drive: float, t_sw: float = 0.25, t_st: float = 0.35) -> list[float]:
    """The note's equations, one leg and one scalar at a time (legs FL, FR, BR, BL)."""
    period = t_sw + t_st / drive
    d_sw = t_sw / period
    psi_fh = math.pi / 2 + (math.pi / 2) * min(max(drive - 1, 0), 1)
    offsets = {"FL": 0.0, "FR": math.pi, "BR": math.pi + psi_fh, "BL": psi_fh}
    side = {"FL": -1.0, "FR": 1.0, "BR": 1.0, "BL": -1.0}
    out = []
    for i, leg in enumerate(("FL", "FR", "BR", "BL")):
        u = (tau / period + offsets[leg] / (2 * math.pi)) % 1.0
        if u < d_sw:
            phi = math.pi * u / d_sw
        else:
            phi = math.pi + math.pi * (u - d_sw) / (1 - d_sw)
        F, E = max(math.sin(phi), 0), max(-math.sin(phi), 0)
        A_f, A_b = max(-math.cos(phi), 0), max(math.cos(phi), 0)
        p = min(max(side[leg] * yaw[i] / math.radians(50), -1), 1)
        p_back = max(-p, 0)
        up = clip01(w["fu"] * F + w["lu"] * load[i] + w["ru"] * p_back)
        down = clip01(w["ed"] * E + w["ld"] * load[i])
        fwd, back = clip01(w["af"] * A_f), clip01(w["ab"] * A_b)
        ext, flx = clip01(w["ee"] * E), clip01(w["ff"] * F)
        out += [side[leg] * (fwd - back), down - up, ext - flx]
    return out


@pytest.mark.parametrize("drive", [0.5, 1.0, 1.7, 3.0])
def test_circuit_matches_the_notes_equations_written_plainly(drive):
    circuit = QuadrupedCircuit(drive=drive)
    rng = np.random.default_rng(int(drive * 10))
    weights = {k: float(v) for k, v in zip(NOTE_INIT, rng.uniform(0.2, 1.5, len(NOTE_INIT)))}
    weights["lu"] = -weights["lu"]
    with torch.no_grad():
        for k, v in weights.items():
            circuit.weights[k].fill_(v)
    tau = rng.uniform(0, 20, 64)
    yaw = rng.uniform(-1.2, 1.2, (64, 4))
    load = rng.uniform(0, 1, (64, 4))
    got = circuit(torch.tensor(tau), torch.tensor(yaw), torch.tensor(load)).detach().numpy()
    want = np.array([reference_actions(tau[b], list(yaw[b]), list(load[b]), weights, drive)
                     for b in range(64)])
    np.testing.assert_allclose(got, want, atol=1e-6, err_msg="circuit != note's equations")


def test_initial_weights_are_the_notes():
    circuit = QuadrupedCircuit()
    assert {k: round(float(circuit.weight(k).detach()), 6) for k in NOTE_INIT} == NOTE_INIT


def test_policy_has_nine_parameters_and_the_mlp_tens_of_thousands():
    """Hand count: 9 shared scalar weights (timing, offsets and sigma are fixed). MLP 2x256 on
    79 inputs (44 + 3 + 1 + 6 + 24 + time) to 12 means + 12 log stds:
    (79 + 1) 256 + (256 + 1) 256 + (256 + 1) 12 + 12 = 89368."""
    _, agent, _ = build(load_config(PRESET))
    assert agent.trainable_parameters()["policy"] == 9
    assert all(p.dim() == 0 for p in agent.actor.parameters()), "every parameter a scalar"
    _, mlp, _ = build(load_config(ROOT / "configs/mlp_quadruped_walk_ppo.yaml"))
    assert mlp.trainable_parameters()["policy"] == 89368


def test_sign_constraints_hold_after_an_optimiser_step():
    """A large SGD step pushes every raw weight across its sign; the effective weights stay
    excitatory >= 0 / inhibitory <= 0, and act as a zero weight does."""
    circuit = QuadrupedCircuit()
    optimiser = torch.optim.SGD(circuit.parameters(), lr=100.0)
    tau, yaw, load = torch.linspace(0, 3, 50), torch.zeros(50, 4), torch.full((50, 4), 0.5)
    loss = sum(circuit.weight(k) * (1.0 if k != "lu" else -1.0) for k in NOTE_INIT)
    loss = loss + circuit(tau, yaw, load).sum() * 0.0
    loss.backward()
    optimiser.step()
    for k in NOTE_INIT:
        raw, eff = float(circuit.weights[k].detach()), float(circuit.weight(k).detach())
        assert (raw > 0) if k == "lu" else (raw < 0), f"{k}: the step did not cross the sign"
        assert (eff <= 0) if k == "lu" else (eff >= 0), f"{k}: effective weight {eff} broke sign"
    zero = QuadrupedCircuit()
    with torch.no_grad():
        for p in zero.parameters():
            p.zero_()
    torch.testing.assert_close(circuit(tau, yaw, load), zero(tau, yaw, load))


def test_mirrored_legs_give_mirrored_outputs_for_mirrored_inputs():
    """Left and right legs at the same phase and load, yaw angles of opposite sign: the yaw
    actions are opposite, lift and extend equal."""
    circuit = QuadrupedCircuit()
    g = torch.Generator().manual_seed(0)
    phi = torch.rand(100, 2, generator=g) * 2 * math.pi
    q = (torch.rand(100, 2, generator=g) * 2 - 1) * 1.2
    load = torch.rand(100, 2, generator=g)
    # legs as (FL, FR, BR, BL): FL/FR share phi[:, 0], BL/BR share phi[:, 1]
    out = circuit.limbs(torch.stack([phi[:, 0], phi[:, 0], phi[:, 1], phi[:, 1]], -1),
                        torch.stack([q[:, 0], -q[:, 0], -q[:, 1], q[:, 1]], -1),
                        torch.stack([load[:, 0], load[:, 0], load[:, 1], load[:, 1]], -1))
    a = out["action"].detach().unflatten(-1, (4, 3))
    for left, right in ((0, 1), (3, 2)):
        torch.testing.assert_close(a[:, left, 0], -a[:, right, 0])
        torch.testing.assert_close(a[:, left, 1:], a[:, right, 1:])
    assert a[:, :, 0].abs().max() > 0.1, "yaw outputs are not all zero"


def onsets(active: np.ndarray, dt: float) -> np.ndarray:
    """Times at which a unit switches on (inactive at step k - 1, active at step k)."""
    return (np.flatnonzero(~active[:-1] & active[1:]) + 1) * dt


# drive -> (period T = 0.25 + 0.35 / d, by hand; hind-leads-fore lag as a fraction of T)
BY_HAND = {0.5: (0.95, 0.25), 1.0: (0.6, 0.25), 1.5: (0.48333333, 0.375), 2.0: (0.425, 0.5),
           3.0: (0.36666667, 0.5)}


@pytest.mark.parametrize("drive", sorted(BY_HAND))
def test_rhythm_period_swing_time_and_fore_hind_lag_match_the_hand_computed_values(drive):
    """Flexor bursts of FL recur every T(d) and last T_sw = 0.25 s; BL's start T lag earlier."""
    dt = 1e-4
    period, lag = BY_HAND[drive]
    circuit = QuadrupedCircuit(drive=drive)
    tau = torch.arange(0, 4.0, dt, dtype=torch.float64)
    flexor = circuit.activity(tau, torch.zeros(len(tau), 4), torch.zeros(len(tau), 4))["flexor"]
    active = flexor.detach().numpy() > 0
    fl, bl = onsets(active[:, 0], dt), onsets(active[:, 3], dt)
    assert np.allclose(np.diff(fl), period, atol=2 * dt), (np.diff(fl), period)
    ends = onsets(~active[:, 0], dt)
    swing = ends[ends > fl[0]][: len(fl) - 1] - fl[: len(fl) - 1]
    assert np.allclose(swing, 0.25, atol=2 * dt), swing
    lead = (fl[1] - bl[bl < fl[1]][-1])
    assert lead == pytest.approx(lag * period, abs=2 * dt)


def test_drive_raises_step_frequency_and_lowers_duty_factor():
    """As documented: f(d) = 1 / (0.25 + 0.35 / d) rises with drive, the stance fraction falls,
    the commanded gait goes from a walk (hind leads fore by T/4) to a trot (T/2)."""
    freq = [1 / QuadrupedCircuit(drive=d).period for d in sorted(BY_HAND)]
    assert freq == sorted(freq) and freq[0] < freq[-1]
    duty = [(0.35 / d) / (0.25 + 0.35 / d) for d in sorted(BY_HAND)]
    assert duty == sorted(duty, reverse=True)
    with pytest.raises(ValueError, match="drive"):
        QuadrupedCircuit(drive=0.0)


def circular_distance(a: float, b: float) -> float:
    """Distance between two phases in cycles, on the circle: in [0, 0.5]."""
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


# Commanded stance phases behind FL's (cycles), derived by hand from the note's offsets psi:
# FR pi (0.5 cycle), BR pi + psi_FH, BL psi_FH lead FL, so they lag it by 0.5, 0.5 - psi_FH,
# 1 - psi_FH cycles; psi_FH = 1/4 cycle at d <= 1 (lateral-sequence walk), 1/2 at d >= 2 (trot).
COMMANDED = {1.0: (0.5, 0.25, 0.75), 2.0: (0.5, 0.0, 0.5)}


@pytest.mark.parametrize("drive", sorted(COMMANDED))
def test_commanded_stance_phases_are_a_lateral_walk_at_drive_1_and_a_trot_at_drive_2(drive):
    """The circuit's own stance (extensor half, phi >= pi) read by the gait tool's phase rule
    (trainer.posthoc.gait_legs) as if it were foot contact: the note's commanded pattern."""
    from trainer.posthoc.gait_legs import leg_gait

    circuit = QuadrupedCircuit(drive=drive)
    tau = torch.arange(0, 1200, dtype=torch.float64) * 0.02
    stance = (circuit.phases(tau) >= math.pi).double().numpy()
    g = leg_gait(stance, np.zeros(len(tau)), 0.02, ("FL", "FR", "BR", "BL"))
    assert g["stride_period_s"] == pytest.approx(circuit.period, rel=0.02)
    for leg, want in zip(("FR", "BR", "BL"), COMMANDED[drive]):
        assert circular_distance(g[f"phase_{leg}"], want) < 0.03, (leg, g[f"phase_{leg}"], want)


@pytest.mark.slow
def test_measured_footfalls_are_a_trot_at_drive_1_and_a_diagonal_four_beat_at_drive_2():
    """The note's measured footfalls (section 7), through the gait tool's own rollout (MuJoCo's
    toe-floor contacts, not the circuit's signals), on seeds 10000-10001 (both start upright):
    at d = 1 the diagonal pairs land together (FL+BR, FR+BL, the pairs half a cycle apart); at
    d = 2 four distinct stance phases in the order FL, BL, FR, BR (each hind foot followed by
    the diagonal fore foot)."""
    from envs.dmc_bodies import BodyChanges
    from trainer.posthoc.gait_rollout import gait_rows

    feet = ("front_left", "front_right", "back_right", "back_left")
    phases = {}
    for drive in (1, 2):
        _, (row,) = gait_rows(PRESET, [BodyChanges()], episodes=2, steps=400, seed=10000,
                              overrides=[f"agent.actor.drive={drive}"], progress=False)
        assert row.rhythmic == 2, row
        phases[drive] = [row.mean[f"phase_toe_{f}"] for f in feet]
    fl, fr, br, bl = phases[1]
    assert circular_distance(br, fl) < 0.1 and circular_distance(bl, fr) < 0.1, phases[1]
    assert circular_distance(fr, fl) > 0.4, phases[1]
    fl, fr, br, bl = phases[2]
    four = [fl, fr, br, bl]
    assert min(circular_distance(a, b) for i, a in enumerate(four) for b in four[i + 1:]) > 0.15, \
        phases[2]
    assert fl == 0.0 and 0.0 < bl < fr < br < 1.0, phases[2]


@pytest.mark.parametrize("body", ["env.body.length=1", "env.body.length=1.2"])
def test_actor_reads_each_legs_yaw_angle_toe_load_and_clock_from_the_observation(body):
    """The actor's inputs against MuJoCo's named joint and sensor data after a few steps."""
    env, agent, _ = build(load_config(PRESET, [body]))
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(7):
        obs, *_ = env.step(rng.uniform(-1, 1, 12))
    tau, yaw, load = agent.actor._inputs(torch.as_tensor(obs), None)
    data = env.physics.named.data
    legs = ("front_left", "front_right", "back_right", "back_left")
    want_yaw = [data.qpos[f"yaw_{leg}"][0] for leg in legs]
    fz = [np.arcsinh(data.sensordata[f"force_toe_{leg}"][2]) for leg in legs]
    want_load = [clip01((-f - 3) / 3) for f in fz]
    assert float(tau) == pytest.approx(7 * 0.02)
    np.testing.assert_allclose(yaw.numpy(), want_yaw, atol=1e-9)
    np.testing.assert_allclose(load.numpy(), want_load, atol=1e-9)
    assert 0 < max(want_load), "no foot bears weight: the load check saw nothing"


@pytest.mark.parametrize("body", ["env.body.length=1.2", "env.body.mass=2"])
def test_one_state_dict_runs_on_every_body_variant(body):
    _, stock, _ = build(load_config(PRESET))
    env, other, _ = build(load_config(PRESET, [body]))
    a, b = stock.actor.state_dict(), other.actor.state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    other.actor.load_state_dict(a, strict=True)
    obs, _ = env.reset(seed=0)
    assert np.all(np.isfinite(other.act(obs, explore=False)))


@pytest.mark.parametrize("overrides, message", [
    (["env.id=dmc:cartpole-swingup"],
     "config error: agent.actor.type: the ncap_quadruped circuit drives dm_control's quadruped"),
    (["env.id=swim"], "config error: agent.actor.type: the ncap_quadruped circuit drives"),
    (["env.time_feature=false"], "config error: env.time_feature:"),
    (["agent.actor.drive=0"], "config error: agent.actor.drive: Input should be greater than 0"),
    (["agent.actor.drive=3.5"],
     "config error: agent.actor.drive: Input should be less than or equal to 3"),
])
def test_bad_circuit_or_task_options_are_one_line_exit_2_and_write_nothing(
        tmp_path, capsys, overrides, message):
    from conftest import assert_one_line_refusal, run_cli

    run_dir = tmp_path / "run"
    code, _, err = run_cli([str(PRESET), *overrides, f"run_dir={run_dir}"], capsys)
    assert_one_line_refusal(code, err, message)
    assert not run_dir.exists()


def forward_distance(policy, env, seed: int, steps: int) -> float:
    """Metres travelled along the torso's heading: sum of torso_velocity[0] x dt."""
    obs, _ = env.reset(seed=seed)
    dt, total = float(env.dm_env.control_timestep()), 0.0
    for _ in range(steps):
        obs, *_ = env.step(policy(obs))
        total += float(env.physics.torso_velocity()[0]) * dt
    return total


@pytest.mark.slow
def test_untrained_circuit_walks_forward_farther_than_random_actions():
    """Seed 10000 starts upright; 300 steps (6 s): the circuit covers > 2 m (it walks at about
    0.9 m/s), uniform random actions stay within 1 m of the start."""
    env, agent, _ = build(load_config(PRESET))
    rng = np.random.default_rng(0)
    circuit = forward_distance(lambda o: agent.act(o, explore=False), env, 10000, 300)
    random = forward_distance(lambda o: rng.uniform(env.action_space.low, env.action_space.high),
                              env, 10000, 300)
    assert circuit > 2.0 and abs(random) < 1.0, (circuit, random)


@pytest.mark.slow
def test_ppo_trains_the_circuit_and_resumes_to_the_same_run(tmp_path, tiny_ppo, capsys):
    """1024 steps straight vs 512 + resume to 1024: the same run; the weights moved; evaluate
    on the run folder takes the drive override (another gait, another return)."""
    from tests.test_trainer import assert_same_run
    from trainer.api import train

    args = [*tiny_ppo, "agent.segment=256", "trainer.eval_every=512", "trainer.log_every=256",
            "trainer.checkpoint_every=256"]
    train(load_config(PRESET, [*args, "steps=1024", f"run_dir={tmp_path / 'a'}"]))
    train(load_config(PRESET, [*args, "steps=512", f"run_dir={tmp_path / 'b'}"]))
    summary = train(load_config(PRESET, [*args, "steps=1024", f"run_dir={tmp_path / 'b'}"]))
    assert summary["resumed_from_step"] == 512
    assert_same_run(tmp_path / "a", tmp_path / "b")
    from trainer.checkpoint import load_checkpoint

    weights = load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["agent"]["actor"]
    moved = {k: float(v) for k, v in weights.items()}
    assert any(abs(moved[f"spinal.weights.{k}"] - v) > 1e-6 for k, v in NOTE_INIT.items())
    import train as cli

    returns = []
    for drive in ("1", "2"):
        assert cli.main(["evaluate", str(tmp_path / "a"), "--episodes", "1", "--json",
                         f"agent.actor.drive={drive}"]) == 0
        returns.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mean_return"])
    assert returns[0] != returns[1], "the drive override changed nothing"


def test_footfall_bars_are_the_runs_of_loaded_steps():
    from circuits.quadruped_plots import footfalls

    load = np.zeros((8, 4))
    load[1:3, 0] = 1.0          # FL loaded at steps 1, 2
    load[[0, 5, 6, 7], 2] = 0.9  # BR at 0 and 5..7 (to the end)
    load[4, 3] = 0.5            # BL at exactly the threshold: not loaded
    assert footfalls(load) == [[(1, 2)], [], [(0, 1), (5, 3)], []]


@pytest.mark.slow
def test_activity_command_draws_the_quadruped_circuit(tmp_path, capsys):
    import train as cli

    out = tmp_path / "q.png"
    assert cli.main(["activity", str(PRESET), "agent.actor.drive=2", "--out", str(out),
                     "--steps", "60"]) == 0
    assert out.stat().st_size > 10_000
    assert "wrote" in capsys.readouterr().out


def quiet_activity() -> dict[str, np.ndarray]:
    """Every neuron of every leg silent, every action zero (``QuadrupedActor.activity``'s keys
    that the panel draws)."""
    keys = ("flexor", "extensor", "load", "up", "down", "fwd", "back", "flx", "ext")
    return {**{k: np.zeros(4) for k in keys}, "action": np.zeros(12)}


@pytest.mark.parametrize("leg", [0, 3])
def test_quadruped_panel_lights_only_the_row_of_the_active_leg(leg):
    """Legs are drawn FL, FR, BR, BL top to bottom: a flexor burst in FL changes pixels only in
    the upper half of the panel, one in BL only in the lower half."""
    from circuits.quadruped_panel import quadruped_panel

    quiet = quadruped_panel(quiet_activity(), 240, 216)
    active = quiet_activity()
    active["flexor"][leg] = 1.0
    rows = np.flatnonzero((quadruped_panel(active, 240, 216) != quiet).any(axis=(1, 2)))
    assert len(rows) > 0, "a flexor burst changed nothing"
    assert (rows < 120).all() if leg == 0 else (rows >= 120).all(), (leg, rows.min(), rows.max())


@pytest.mark.slow
def test_render_activity_adds_the_quadruped_panel_beside_the_camera(tmp_path, capsys):
    """``render --activity`` on the quadruped circuit: each frame is the 160-wide camera view
    plus a panel 0.9 x 120 = 108 wide; without the flag the frames are the camera view only."""
    import imageio.v2 as imageio

    import train as cli

    widths = {}
    for name, extra in (("plain", []), ("panel", ["--activity"])):
        out = tmp_path / f"{name}.mp4"
        assert cli.main(["render", str(PRESET), "--out", str(out), "--steps", "4",
                         "--size", "160x120", *extra]) == 0
        with imageio.get_reader(out) as reader:
            widths[name] = reader.get_data(0).shape[:2]
    assert widths == {"plain": (120, 160), "panel": (120, 160 + 108)}, widths
    assert "wrote 4 frames" in capsys.readouterr().out
