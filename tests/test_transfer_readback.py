"""The body a built env simulates, read back from its physics: each swept parameter of each body
family equals the value it was built with (hand-given), whatever else changes beside it."""

from __future__ import annotations

import pytest

from envs.bodies import measured_columns
from envs.dmc_bodies import BodyChanges, changed_model, measured_changes
from envs.factory import make_state_env

ALL = {"length": 1.25, "mass": 0.7, "gear": 1.5, "damping": 2.0, "friction": 0.6}
TASKS = [("cheetah", "run"), ("walker", "walk"), ("hopper", "hop"), ("quadruped", "walk"),
         ("cartpole", "swingup"), ("cartpole", "two_poles")]


@pytest.mark.parametrize("domain, task", TASKS)
@pytest.mark.parametrize("given", [ALL, {"length": 1.3}, {"mass": 2.0}, {"friction": 0.5}],
                         ids=["all", "length", "mass", "friction"])
def test_dm_control_multipliers_read_back_from_the_compiled_model(domain, task, given):
    if domain == "cartpole":  # its model disables contacts: no friction
        given = {k: v for k, v in given.items() if k != "friction"}
    want = {k: 1.0 for k in ("length", "mass", "gear", "damping", "friction")} | given
    if domain == "cartpole":
        del want["friction"]
    model = changed_model(domain, task, BodyChanges(**given))
    if model is None:  # the stock body: nothing to change
        assert not given
        return
    assert measured_changes(model, domain, task) == want


def test_swimmer_body_and_medium_read_back_from_the_env_after_a_reset():
    env = make_state_env("swim", n_joints=4, length_scale=1.3, density=1500.0, viscosity=0.05)
    env.reset(seed=0)
    assert measured_columns(env, "swim") == {"n_joints": 4, "length_scale": 1.3,
                                             "density": 1500.0, "viscosity": 0.05}
    stock = make_state_env("swim", n_joints=7)
    stock.reset(seed=0)
    assert measured_columns(stock, "swim") == {"n_joints": 7, "length_scale": 1.0,
                                               "density": 3000.0, "viscosity": 0.0}


def test_dm_control_env_reads_back_the_multipliers_it_was_built_with():
    env = make_state_env("dmc:cartpole-swingup", body=BodyChanges(length=0.8, gear=1.5))
    assert measured_columns(env, "dmc:cartpole-swingup") == {
        "length": 0.8, "mass": 1.0, "gear": 1.5, "damping": 1.0}
    assert measured_columns(make_state_env("dmc:finger-spin"), "dmc:finger-spin") == {}
