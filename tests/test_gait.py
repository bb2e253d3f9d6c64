"""Gait measures against bodies whose gait is known by construction, and ``train.py gait``.

The synthetic swimmer is a travelling wave written into its joint angles,
``q_j(t) = A sin(2 pi (t / T - j / L))`` (T steps per cycle, L segments per wave), with its
centroid moving at a set speed along a set heading; the synthetic quadruped's feet are on the
ground for a set fraction of each stride, at set phases. Every expected value is worked out
by hand from those constructions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import assert_one_line_refusal, run_cli
from trainer.posthoc import gait_swim
from trainer.posthoc.gait_legs import leg_gait
from trainer.posthoc.gait_output import paper_viscosity, worm_reference
from trainer.posthoc.gait_swim import (GaitError, dominant_period, kymograph,
                                       kymograph_wavelength, phase_lag_wavelength, swim_gait,
                                       whole_cycles)

DT = 0.03
NCAP = "configs/ncap_swim_ppo.yaml"


def wave(T: float, L: float, A: float = 0.8, joints: int = 5, steps: int = 300) -> np.ndarray:
    t = np.arange(steps)[:, None]
    j = np.arange(joints)[None, :]
    return A * np.sin(2 * np.pi * (t / T - j / L))


@pytest.mark.parametrize("T, L", [(60.0, 3.6), (47.3, 5.0), (25.0, -4.0)])
def test_period_and_both_wavelengths_of_a_travelling_wave_are_its_own(T, L):
    q = wave(T, L)
    period = dominant_period(q)
    assert abs(period - T) < 0.05, f"period {period} for a wave of period {T} steps"
    w = whole_cycles(len(q), period)
    by_phase, by_kymograph = phase_lag_wavelength(q[w], period), kymograph_wavelength(q[w], period)
    assert abs(by_phase - L) < 0.01 * abs(L), f"phase-lag wavelength {by_phase}, wave has {L}"
    assert abs(by_kymograph - L) < 0.02 * abs(L), f"kymograph wavelength {by_kymograph} vs {L}"


def test_short_waves_read_the_same_when_one_joint_lags_past_half_a_period():
    """Neighbour lags of 26, 23, 23 and 31 steps at a 60-step period (a wave that shortens
    towards the tail): 31 > P / 2 reads as -29 in one pair's lag window, yet the wave lags 25.75
    steps per segment on average, lambda = 60 / 25.75 = 2.33 segments, by both readings."""
    starts = np.cumsum([0, 26, 23, 23, 31])
    q = 0.5 * np.sin(2 * np.pi * (np.arange(300)[:, None] - starts[None, :]) / 60)
    w = whole_cycles(300, 60.0)
    assert phase_lag_wavelength(q[w], 60.0) == pytest.approx(60 / 25.75, rel=0.02)
    assert kymograph_wavelength(q[w], 60.0) == pytest.approx(60 / 25.75, rel=0.02)


def test_swim_measures_of_a_synthetic_swimmer_match_the_hand_computation():
    T, L, A, N, link, U = 50.0, 4.0, 0.7, 5, 0.1, 0.06   # steps, segments, rad, joints, m, m/s
    q = wave(T, L, A, joints=N) + 0.001 * np.arange(300)[:, None]   # plus a slow drift
    heading = np.array([np.cos(0.5), np.sin(0.5)])
    t = np.arange(300) * DT
    side = np.array([-heading[1], heading[0]])
    centroid = U * t[:, None] * heading + 0.01 * np.sin(2 * np.pi * t / (T * DT))[:, None] * side
    wiggle = np.stack([np.cos(0.5 + 0.2 * np.sin(t)), np.sin(0.5 + 0.2 * np.sin(t))], axis=1)
    m = swim_gait(q, centroid, np.tile(heading, (300, 1)) * 0.5 + 0.5 * wiggle, DT, link)
    body_length = (N + 1) * link                                    # 0.6 m
    assert m["period_steps"] == pytest.approx(50.0, abs=0.05)
    assert m["period_s"] == pytest.approx(1.5, abs=0.002)
    assert m["frequency_hz"] == pytest.approx(1 / 1.5, rel=1e-3)
    assert m["wavelength_segments"] == pytest.approx(4.0, rel=0.01)
    assert m["wavelength_body"] == pytest.approx(4.0 / 6, rel=0.01)
    assert m["amplitude_rad"] == pytest.approx(0.7, rel=0.01)
    # the lateral wiggle is whole cycles over the window: the net motion is U along the heading
    # (the heading's own wiggle averages out), up to the window's one-sample edge
    assert m["speed_bl_s"] == pytest.approx(U / body_length, rel=0.03)
    wave_speed = (4.0 / 6) * (1 / 1.5)                               # body lengths per second
    assert m["slip"] == pytest.approx((U / body_length) / wave_speed, rel=0.03)


def test_kymograph_axes_are_time_in_seconds_and_position_from_the_head():
    q = wave(40.0, 3.0, joints=4, steps=10)
    k = kymograph(q, DT)
    assert np.allclose(k.time_s, [0.03 * (i + 1) for i in range(10)])
    assert np.allclose(k.position, [0.2, 0.4, 0.6, 0.8])              # joint j at (j+1)/(N+1)
    assert np.allclose(k.curvature, q * 5)                            # kappa L = q (N + 1)


def test_a_still_body_noise_and_too_few_steps_are_refused():
    with pytest.raises(GaitError, match="do not change"):
        dominant_period(np.zeros((300, 5)))
    noise = np.random.default_rng(0).normal(size=(300, 5))
    with pytest.raises(GaitError, match="no rhythmic body"):
        dominant_period(noise)
    with pytest.raises(GaitError, match="too few steps"):
        dominant_period(wave(60.0, 4.0, steps=150))                   # 2.5 cycles: one + 1.5


def feet_of(period: int, duty: float, phases, steps: int = 400) -> np.ndarray:
    """Foot i down for the first ``duty`` of each stride, strides starting ``phases[i]``
    cycles after foot 0's (integer step arithmetic: exact)."""
    t = np.arange(steps)[:, None]
    start = np.round(np.asarray(phases) * period).astype(int)[None, :]
    return (np.mod(t - start, period) < round(duty * period)).astype(float)


@pytest.mark.parametrize("duty, phases", [(0.6, [0.0, 0.5, 0.0, 0.5]),        # trot
                                          (0.75, [0.0, 0.5, 0.25, 0.75])])    # walk
def test_duty_factor_phase_offsets_and_speed_of_synthetic_footfalls(duty, phases):
    feet = ("fl", "fr", "br", "bl")
    contact = feet_of(40, duty, phases)
    x = 0.5 * np.arange(400) * DT                                      # 0.5 m/s
    m = leg_gait(contact, x, DT, feet)
    assert m["stride_period_steps"] == pytest.approx(40.0, abs=0.05)
    assert m["stride_frequency_hz"] == pytest.approx(1 / 1.2, rel=2e-3)
    assert m["speed_m_s"] == pytest.approx(0.5, rel=1e-9)
    for foot, phase in zip(feet, phases):
        assert m[f"duty_{foot}"] == pytest.approx(duty, abs=0.01), foot
        # a foot whose stance starts `phase` cycles after foot 0's lags it by `phase`
        assert m[f"phase_{foot}"] == pytest.approx(phase, abs=0.01), foot


def test_phase_offsets_average_on_the_circle():
    """Episodes reading 0.98 and 0.02 cycles agree on 0 (not 0.5), spread by 0.02 cycles."""
    from trainer.posthoc.gait_rollout import circular_stats

    mean, spread = circular_stats(np.array([0.98, 0.02]))
    assert min(mean, 1 - mean) < 1e-9, mean
    assert spread == pytest.approx(0.02, abs=1e-3)
    assert circular_stats(np.array([0.25, 0.25, 0.25])) == pytest.approx((0.25, 0.0))


def test_quadruped_contacts_match_the_toes_height_above_the_floor():
    """The contact reading (MuJoCo's contact list) against geometry: a toe sphere whose lowest
    point is 1 cm or more above the floor (z = 0) is up, one sunk 1 mm or more into it is down
    (between the two, MuJoCo's contact margin decides)."""
    from dm_control import suite

    from trainer.posthoc.gait_rollout import FEET, foot_contacts

    env = suite.load("quadruped", "walk", task_kwargs={"random": 0})
    env.reset()
    rng = np.random.default_rng(0)
    feet, ground = FEET["quadruped"]
    model = env.physics.model
    radius = np.array([model.geom_size[model.name2id(f, "geom")][0] for f in feet])
    up = down = 0
    for _ in range(200):
        env.step(rng.uniform(-1, 1, env.action_spec().shape))
        flags = foot_contacts(env.physics, feet, ground)
        gap = np.array([env.physics.named.data.geom_xpos[f][2] for f in feet]) - radius
        assert not flags[gap >= 0.01].any(), (flags, gap)
        assert flags[gap <= -0.001].all(), (flags, gap)
        up, down = up + (gap >= 0.01).sum(), down + (gap <= -0.001).sum()
    assert up > 0 and down > 0, "the rollout never showed a foot clearly up and clearly down"


def test_viscosity_mapping_and_the_worm_file_reads():
    assert paper_viscosity(0.0) == 1.0 and paper_viscosity(0.5) == 501.0
    rows = worm_reference()
    for r in rows:                                                    # only read values
        assert r["viscosity_mPa_s"] > 0 and r["source"], r
        assert r["read_how"] in ("text", "figure", "secondary"), r


def _typed_worm_table() -> list[tuple[float, float, float]]:
    """(log10 viscosity in mPa s, frequency Hz, wavelength body lengths) as typed in the
    note's section 7, parsed from its markdown table."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "reference"
            / "proprioceptive_rhythm.md").read_text()
    section = text.split("## 7. The worm's values")[1].split("\n## ")[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0][:1].isdigit():
            rows.append(tuple(float(c) for c in cells))
    return rows


def test_worm_file_holds_the_values_typed_in_the_note_and_both_fall_with_viscosity():
    """The data file against the note's table, typed separately from the same source (the
    note gives the viscosity as log10 mPa s, the file as mPa s to 4 significant figures); and
    frequency and wavelength both decrease at every step up in viscosity (Fang-Yen et al.
    2010: "as load increases, both wavelength and frequency of undulation decrease")."""
    typed = _typed_worm_table()
    rows = sorted(worm_reference(), key=lambda r: r["viscosity_mPa_s"])
    assert len(typed) == 8 and len(rows) == len(typed)
    for (log_eta, f, lam), r in zip(typed, rows):
        assert r["viscosity_mPa_s"] == pytest.approx(10.0 ** log_eta, rel=1e-3), (log_eta, r)
        assert r["frequency_hz"] == f and r["wavelength_body"] == lam, (log_eta, r)
    for a, b in zip(rows, rows[1:]):
        assert b["frequency_hz"] < a["frequency_hz"], (a, b)
        assert b["wavelength_body"] < a["wavelength_body"], (a, b)


def test_gait_refuses_a_task_with_no_gait_reading_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "g"
    code, _, err = run_cli(["gait", "configs/mlp_navigate_ppo.yaml", "--out", str(out)], capsys)
    assert_one_line_refusal(code, err, "navigate", "no gait reading")
    assert not out.exists()
    code, _, err = run_cli(["gait", "configs/offpolicy_cartpole_swingup.yaml", "--out",
                            str(out)], capsys)
    assert_one_line_refusal(code, err, "cartpole", "no gait reading")
    assert not out.exists()


def test_gait_refuses_bad_options_in_one_line(tmp_path, capsys):
    out = tmp_path / "g"
    for argv, words in ((["--steps", "5"], ("--steps",)), (["--episodes", "0"], ("--episodes",)),
                        (["--mass", "2"], ("--mass", "swim")),
                        (["--viscosity", "-1"], ("--viscosity",))):
        code, _, err = run_cli(["gait", NCAP, "--out", str(out), *argv], capsys)
        assert_one_line_refusal(code, err, *words)
    assert not out.exists()


def test_episodes_without_rhythm_are_counted_and_left_out(monkeypatch):
    """Episode seeds 0 and 2 of three read as no rhythm: the row holds seed 1's measures
    alone and counts 1 rhythmic episode; with every episode without rhythm, one line."""
    from envs.swim import BodySpec
    from trainer.posthoc import gait_rollout

    real = gait_rollout.measure_episode
    calls = []

    def every_other(signals, *args):
        calls.append(len(calls))
        if len(calls) % 2 == 1:
            raise GaitError("no rhythmic body: test")
        return real(signals, *args)

    monkeypatch.setattr(gait_rollout, "measure_episode", every_other)
    _, rows = gait_rollout.gait_rows(NCAP, [BodySpec(5)], episodes=3, steps=200, seed=0,
                                     progress=False)
    assert rows[0].rhythmic == 1 and rows[0].episodes == 3
    assert rows[0].std["period_steps"] == 0.0          # one episode: no spread
    monkeypatch.setattr(gait_rollout, "measure_episode",
                        lambda *a: (_ for _ in ()).throw(GaitError("still")))
    with pytest.raises(GaitError, match="no rhythmic body found: still"):
        gait_rollout.gait_rows(NCAP, [BodySpec(5)], episodes=1, steps=200, seed=0,
                               progress=False)


def test_each_row_returns_the_reward_of_every_episode_as_run_episode_sums_it():
    """Second route: ``trainer.evaluation.run_episode`` on the same policy, body and seeds for
    the same number of steps; the row's return counts every episode, rhythmic or not."""
    from envs.swim import BodySpec
    from trainer.api import load_policy
    from trainer.evaluation import run_episode
    from trainer.posthoc import gait_rollout

    _, rows = gait_rollout.gait_rows(NCAP, [BodySpec(5, viscosity=0.5)], episodes=2, steps=200,
                                     seed=7, progress=False)
    _, agent, env = load_policy(NCAP, ["env.viscosity=0.5"])
    sums = [run_episode(lambda o: agent.act(o, explore=False), env, s, max_steps=200)
            for s in (7, 8)]
    assert rows[0].mean["return"] == pytest.approx(np.mean(sums), rel=1e-12)
    assert rows[0].std["return"] == pytest.approx(np.std(sums), rel=1e-9, abs=1e-12)
    assert "return" in rows[0].as_dict() and "return_std" in rows[0].as_dict()


def test_gait_refuses_a_rollout_too_short_for_two_cycles(tmp_path, capsys):
    out = tmp_path / "g"   # the oscillator's period is 60 steps: 100 steps hold 1.7 cycles
    code, _, err = run_cli(["gait", NCAP, "--steps", "100", "--episodes", "1", "--out",
                            str(out)], capsys)
    assert_one_line_refusal(code, err, "no rhythmic body found", "too few steps")
    assert not out.exists()


@pytest.mark.slow
def test_untrained_ncap_undulates_at_its_oscillator_period_in_two_media(tmp_path, capsys):
    import csv

    period = yaml.safe_load(open(NCAP))["agent"]["actor"]["oscillator_period"]
    out = tmp_path / "g"
    code, stdout, err = run_cli(["gait", NCAP, "--viscosity", "0", "2", "--steps", "300",
                                 "--episodes", "1", "--out", str(out)], capsys)
    assert code == 0, err
    for name in ("gait.csv", "gait.md", "gait.png"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(out / "gait.csv")))
    assert [float(r["viscosity"]) for r in rows] == [0.0, 2.0]
    for r in rows:
        assert abs(float(r["period_steps"]) - period) < 0.5, r["period_steps"]
        # the two wavelength readings agree on the real body too
        assert float(r["wavelength_kymo_segments"]) == pytest.approx(
            float(r["wavelength_segments"]), rel=0.1)
    assert "wavelength" in stdout


def test_measures_are_numpy_only():
    import ast
    import inspect

    for module in (gait_swim, __import__("trainer.posthoc.gait_legs", fromlist=["x"])):
        tree = ast.parse(inspect.getsource(module))
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module}
        assert "torch" not in names and "dm_control" not in names, module.__name__
