"""Transfer rows checked by a second path, fast: every row carries the body it ran on (the
swimmer's medium included), its returns equal ``evaluate``'s on that body, the ``random`` row is
uniform actions seeded by each episode's own seed, and table and plot keep the media apart.

The swim episodes are cut to 50 control steps (the task's time limit patched to 1.5 s) so the
whole command runs in seconds; everything else is the code a user runs.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

import envs.swim
import train as cli
from envs.factory import make_state_env

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "configs/ncap_swim_ppo.yaml"
POLICY = "ncap_swim_ppo_untrained"  # a config's policy: its untrained circuit (no training here)
SHORT_EPISODE_S = 1.5  # 50 control steps of 0.03 s
SEED, EPISODES = 3, 2
MEDIA = [(1000.0, 0.0), (1000.0, 0.1), (3000.0, 0.0), (3000.0, 0.1)]  # the grid below, by hand


@pytest.fixture(scope="module")
def short_swim():
    """The swim task with 50-step episodes for every env built while the fixture is alive."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(envs.swim, "TIME_LIMIT_SECONDS", SHORT_EPISODE_S)
        yield


@pytest.fixture(scope="module")
def media(short_swim, tmp_path_factory):
    """``transfer`` of the untrained circuit over two densities x two viscosities: the CSV rows,
    the printed text and the figure it drew."""
    import matplotlib.pyplot as plt

    out = tmp_path_factory.mktemp("media")
    figures, stdout = [], io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.setattr(plt, "close", lambda fig: figures.append(fig))
        code = cli.main(["transfer", str(DEFAULT), "--joints", "5", "--density", "1000", "3000",
                         "--viscosity", "0", "0.1", "--episodes", str(EPISODES), "--seed",
                         str(SEED), "--out", str(out)])
    assert code == 0
    with (out / "transfer.csv").open() as f:
        rows = list(csv.DictReader(f))
    return {"rows": rows, "out": stdout.getvalue(), "figure": figures[-1]}


def medium(row) -> tuple[float, float]:
    return float(row["density"]), float(row["viscosity"])


def test_every_transfer_row_is_labelled_with_the_medium_it_ran_on(media):
    rows = media["rows"]
    assert len(rows) == 4 * 2, "4 media x (policy, random)"
    for policy in (POLICY, "random"):
        got = [medium(r) for r in rows if r["policy"] == policy]
        assert got == MEDIA, f"{policy} rows labelled {got}, the grid was {MEDIA}"
    assert {(r["n_joints"], float(r["length_scale"])) for r in rows} == {("5", 1.0)}
    assert "4 bodies x 2 policy rows x 2 episodes" in media["out"]


def test_each_policy_row_equals_evaluate_on_the_same_medium(media, capsys):
    rows = [r for r in media["rows"] if r["policy"] == POLICY]
    for row in rows:
        density, viscosity = medium(row)
        code = cli.main(["evaluate", str(DEFAULT), "--episodes", str(EPISODES), "--seed",
                         str(SEED), "--json", f"env.density={density}",
                         f"env.viscosity={viscosity}"])
        result = json.loads(capsys.readouterr().out)
        assert code == 0
        assert (result["body"]["density"], result["body"]["viscosity"]) == (density, viscosity)
        assert row["returns"] == " ".join(f"{r:.1f}" for r in result["returns"]), \
            f"medium {density, viscosity}: transfer {row['returns']}, evaluate {result['returns']}"
        assert float(row["mean_return"]) == pytest.approx(result["mean_return"], rel=1e-12)
    by = {medium(r): float(r["mean_return"]) for r in rows}
    assert by[3000.0, 0.0] != by[3000.0, 0.1] and by[1000.0, 0.0] != by[3000.0, 0.0], \
        "the media differ in return (else this test could not tell them apart)"


def uniform_random_returns(density: float, viscosity: float, seeds) -> list[float]:
    """Episode ``s``: ``env.reset(seed=s)``, then actions ~ U[low, high] from a generator seeded
    ``s`` until the time limit (the ``random`` row's rule, by hand)."""
    env = make_state_env("swim", n_joints=5, density=density, viscosity=viscosity)
    low, high = env.action_space.low, env.action_space.high
    returns = []
    for s in seeds:
        rng = np.random.default_rng(s)
        env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(rng.uniform(low, high))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    env.close()
    return returns


def test_random_rows_are_uniform_actions_seeded_by_each_episode_seed(media):
    for row in (r for r in media["rows"] if r["policy"] == "random"):
        want = uniform_random_returns(*medium(row), range(SEED, SEED + EPISODES))
        assert row["returns"] == " ".join(f"{r:.1f}" for r in want), \
            f"medium {medium(row)}: random row {row['returns']}, by hand {want}"
        assert float(row["mean_return"]) == pytest.approx(np.mean(want), rel=1e-12)
        assert int(row["episodes"]) == EPISODES and row["seed"] == str(SEED)


def test_transfer_table_has_one_line_per_medium(media):
    lines = [line for line in media["out"].splitlines() if line.startswith("| 5 |")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert [(float(c[2]), float(c[3])) for c in cells] == MEDIA, lines


def test_transfer_plot_puts_each_medium_at_its_own_x(media):
    axes = {ax.get_xlabel(): ax for ax in media["figure"].axes if ax.get_xlabel()}
    for key, xs in (("density", [1000.0, 3000.0]), ("viscosity", [0.0, 0.1])):
        assert key in axes, f"no panel against {key}: {list(axes)}"
        for line in axes[key].get_lines():
            assert list(line.get_xdata()) == xs, \
                f"{line.get_label()} drawn at {key} {list(line.get_xdata())}, grid {xs}"


def test_cartpole_table_shows_only_the_multipliers_cartpole_defines_and_counts_one_episode(
        tmp_path):
    from envs.bodies import dmc_body_grid
    from trainer.posthoc.transfer import markdown_table, transfer_rows, write_csv

    _, rows = transfer_rows(ROOT / "configs/mlp_swim_ppo.yaml", dmc_body_grid(length=[1.2]),
                            episodes=1, seed=0, overrides=["env.id=dmc:cartpole-swingup"],
                            references=False, progress=False)
    table = markdown_table(rows)
    head = "| length × | mass × | gear × | damping × | mlp_swim_ppo_untrained | episodes |"
    assert table.startswith(head), table
    assert "friction" not in table, "cart-pole's model disables contacts: no friction column"
    assert "| 1.2 | 1 | 1 | 1 |" in table
    assert "over 1 deterministic episode seeded 0 (" in table, table
    write_csv(rows, tmp_path / "transfer.csv")
    with (tmp_path / "transfer.csv").open() as f:
        assert "friction" not in next(csv.reader(f))


def test_table_counts_several_episodes_in_the_plural(media):
    assert f"over {EPISODES} deterministic episodes seeded {SEED}..{SEED + EPISODES - 1} (" \
        in media["out"]
