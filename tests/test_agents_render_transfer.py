"""Every agent can be evaluated, rendered and transferred: the off-policy agent on states (MLP on
cartpole, NCAP on the swimmer) and ES (NCAP with its own clock), at tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import pytest

import train as cli
from configs.loader import load_config
from envs.bodies import body_grid, dmc_body_grid
from trainer.api import load_policy, train
from trainer.posthoc.transfer import RANDOM, UNTRAINED, transfer_rows

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow   # every test here trains or runs processes (pytest -m "not slow")
QUIET = ["trainer.eval_episodes=1", "trainer.progress=false", "trainer.tensorboard=false"]
TINY_OFFPOLICY = ["agent.batch_size=16", "agent.hidden_dim=32", "agent.replay_capacity=600",
                  "agent.explore_steps=100", "agent.seed_frames=100", "steps=300",
                  "trainer.eval_every=300", "trainer.checkpoint_every=300",
                  "trainer.log_every=100", *QUIET]
RUNS = {
    "offpolicy_mlp_cartpole": (ROOT / "configs/offpolicy_cartpole_swingup.yaml",
                               [*TINY_OFFPOLICY, "agent.feature_dim=16"]),
    "offpolicy_ncap_swim": (ROOT / "configs/ncap_swim_ddpg.yaml",
                            [*TINY_OFFPOLICY, "agent.rr_schedule.period=1"]),
    "es_ncap_swim": (ROOT / "configs/ncap_swim_es.yaml",
                     ["agent.population=2", "steps=2000", "trainer.eval_every=2000",
                      "trainer.checkpoint_every=2000", "trainer.log_every=2000", *QUIET]),
}


@pytest.fixture(scope="module", params=list(RUNS))
def run(request, tmp_path_factory) -> tuple[str, Path]:
    preset, overrides = RUNS[request.param]
    folder = tmp_path_factory.mktemp(request.param) / "run"
    train(load_config(preset, [*overrides, f"run_dir={folder}"]))
    return request.param, folder


def test_loading_a_policy_to_act_allocates_no_replay_or_optimiser(run):
    _, folder = run
    _, agent, _ = load_policy(folder)
    assert getattr(agent, "replay", None) is None, "an acting-only agent holds no replay buffer"
    assert not any(getattr(agent, name, None) is not None
                   for name in ("actor_opt", "critic_opt", "optimizer"))


def test_transfer_rows_match_evaluate_for_every_agent(run, capsys):
    name, folder = run
    swim = "swim" in name
    bodies = body_grid([5], [0.8, 1.2]) if swim else dmc_body_grid(mass=[0.5, 2.0])
    label, rows = transfer_rows(folder, bodies, episodes=1, seed=3, progress=False)
    assert [r.policy for r in rows] == [label, UNTRAINED, RANDOM] * 2
    override = "env.length_scale=1.2" if swim else "env.body.mass=2.0"
    code = cli.main(["evaluate", str(folder), "--episodes", "1", "--seed", "3", "--json",
                     override])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and rows[3].returns == f"{result['returns'][0]:.1f}", \
        f"{name}: transfer {rows[3].returns} vs evaluate {result['returns']}"


def test_render_writes_a_video_for_every_agent(run, tmp_path, capsys):
    name, folder = run
    out = tmp_path / f"{name}.mp4"
    extra = ["--activity"] if "ncap" in name else []
    code = cli.main(["render", str(folder), "--out", str(out), "--steps", "5", "--size",
                     "64x48", *extra])
    assert code == 0, capsys.readouterr().err
    frames = iio.imread(out)
    panel = 2 * (int(48 * 0.9) // 2) if extra else 0
    assert frames.shape == (5, 48, 64 + panel, 3)
