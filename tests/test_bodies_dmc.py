"""Bodies as data for dm_control domains: each change scales its compiled field, the stock body
is the stock task bit for bit, and bad body input is one line that writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dm_control import suite

import train as cli
from configs.loader import load_config
from envs import make_env
from envs.dmc_bodies import BodyChanges, changed_model

MLP = Path(__file__).resolve().parent.parent / "configs" / "mlp_swim_ppo.yaml"
MODEL_FIELDS = ("body_pos", "body_mass", "body_inertia", "geom_size", "geom_friction",
                "actuator_gear", "actuator_gainprm", "actuator_biasprm", "dof_damping")


def models(domain: str, task: str, **changes):
    stock = suite.load(domain, task).physics.model
    return stock, changed_model(domain, task, BodyChanges(**changes))


def unchanged_except(stock, changed, fields: set[str]) -> list[str]:
    return [f for f in MODEL_FIELDS if f not in fields
            and not np.array_equal(getattr(stock, f), getattr(changed, f))]


def test_gear_scales_every_motor_gear_and_nothing_else():
    stock, changed = models("cheetah", "run", gear=1.5)
    np.testing.assert_array_equal(changed.actuator_gear[:, 0], stock.actuator_gear[:, 0] * 1.5)
    assert unchanged_except(stock, changed, {"actuator_gear"}) == []


def test_gear_scales_a_servos_gain_and_bias_on_the_quadruped():
    stock, changed = models("quadruped", "run", gear=2.0)
    np.testing.assert_allclose(changed.actuator_gainprm[:, 0], stock.actuator_gainprm[:, 0] * 2)
    np.testing.assert_allclose(changed.actuator_biasprm[:, 1:3], stock.actuator_biasprm[:, 1:3] * 2)
    np.testing.assert_array_equal(changed.actuator_gear, stock.actuator_gear)


def test_mass_scales_every_body_mass_and_inertia():
    stock, changed = models("hopper", "hop", mass=2.0)
    np.testing.assert_allclose(changed.body_mass, stock.body_mass * 2.0, rtol=1e-12)
    np.testing.assert_allclose(changed.body_inertia, stock.body_inertia * 2.0, rtol=1e-12)
    assert unchanged_except(stock, changed, {"body_mass", "body_inertia"}) == []


def test_mass_scales_the_cheetahs_fixed_total_mass():
    stock, changed = models("cheetah", "run", mass=0.5)
    assert stock.body_mass.sum() == pytest.approx(14.0)
    np.testing.assert_allclose(changed.body_mass, stock.body_mass * 0.5, rtol=1e-12)


def test_damping_scales_every_joint_damping():
    stock, changed = models("quadruped", "walk", damping=0.5)
    np.testing.assert_allclose(changed.dof_damping, stock.dof_damping * 0.5, rtol=1e-12)
    assert stock.dof_damping.max() > 0
    assert unchanged_except(stock, changed, {"dof_damping"}) == []


def test_friction_scales_every_geoms_friction():
    stock, changed = models("walker", "walk", friction=0.5)
    np.testing.assert_allclose(changed.geom_friction, stock.geom_friction * 0.5, rtol=1e-12)
    assert unchanged_except(stock, changed, {"geom_friction"}) == []


def test_length_scales_limbs_about_their_attachment_and_lifts_the_torso():
    stock, changed = models("walker", "walk", length=1.2)
    leg, thigh, torso = (stock.body(n).id for n in ("right_leg", "right_thigh", "torso"))
    shin = stock.geom("right_leg").id
    assert changed.geom_size[shin][1] == pytest.approx(stock.geom_size[shin][1] * 1.2)
    assert changed.geom_size[shin][0] == stock.geom_size[shin][0], "radii are kept"
    np.testing.assert_allclose(changed.body_pos[leg], stock.body_pos[leg] * 1.2)
    np.testing.assert_array_equal(changed.body_pos[thigh], stock.body_pos[thigh])
    # the foot's axis is 0.7 + 0.25 m below the hip at the stock pose: the torso rises by 0.2 of
    # that, so the feet start at their stock clearance
    lift = changed.body_pos[torso][2] - stock.body_pos[torso][2]
    assert lift == pytest.approx(0.2 * 0.95), f"torso lifted by {lift:.3f} m"
    torso_geom = stock.geom("torso").id
    assert changed.geom_size[torso_geom][1] == stock.geom_size[torso_geom][1], "not a limb"


def test_length_scales_the_cartpole_pole_but_keeps_its_explicit_mass():
    stock, changed = models("cartpole", "swingup", length=2.0)
    pole = stock.geom("pole_1").id
    assert changed.geom_size[pole][1] == pytest.approx(stock.geom_size[pole][1] * 2.0)
    np.testing.assert_array_equal(changed.body_mass, stock.body_mass)


def test_stock_body_is_the_suite_task_bit_for_bit():
    env = make_env(load_config(None, ["env.id=dmc:walker-walk"]).env, seed=3)
    ref = suite.load("walker", "walk", task_kwargs={"random": 3})
    compared = 0
    for field in dir(ref.physics.model.ptr):
        value = getattr(ref.physics.model.ptr, field)
        if isinstance(value, np.ndarray):
            assert np.array_equal(getattr(env.physics.model.ptr, field), value), field
            compared += 1
    assert compared > 50, f"only {compared} model arrays compared"
    obs, _ = env.reset(seed=3)
    ref.task._random = np.random.RandomState(3)
    ts = ref.reset()
    actions = np.random.default_rng(0).uniform(-1, 1, (20, 6))
    for a in actions:
        obs = env.step(a)[0]
        ts = ref.step(a)
    np.testing.assert_array_equal(obs[:-1], np.concatenate([np.ravel(v) for v in
                                                            ts.observation.values()]))


def test_training_on_a_variant_records_it_and_builds_the_changed_body():
    cfg = load_config(MLP, ["env.id=dmc:cheetah-run", "env.body.mass=1.5"])
    env = make_env(cfg.env, seed=0)
    assert env.physics.model.body_mass.sum() == pytest.approx(14.0 * 1.5)
    assert cfg.model_dump()["env"]["body"]["mass"] == 1.5


@pytest.mark.parametrize("overrides, message", [
    (["env.id=dmc:cartpole-swingup", "env.body.friction=0.5"],
     "config error: env.body.friction: does not apply to cartpole"),
    (["env.id=dmc:cheetah-run", "env.body.size=2"], "config error: unknown key 'env.body.size'"),
    (["env.id=dmc:cheetah-run", "env.body.mass=0"],
     "config error: env.body.mass: Input should be greater than 0"),
    (["env.id=dmc:cheetah-run", "env.body.gear=-1"],
     "config error: env.body.gear: Input should be greater than 0"),
    (["env.body.gear=2"], "config error: env.body.gear: applies to dm_control domains"),
    (["env.id=dmc:finger-spin", "env.body.mass=2"], "not for the finger domain"),
])
def test_bad_body_input_is_one_line_exit_2_and_writes_nothing(overrides, message, tmp_path,
                                                              capsys):
    run = tmp_path / "run"
    code = cli.main([str(MLP), *overrides, "steps=10", f"run_dir={run}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and message in err, err
    assert not run.exists()
