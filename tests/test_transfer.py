"""Zero-shot transfer across swimmer bodies: reference numbers, outputs, refusing body-bound
policies."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import train as cli
from trainer.posthoc.transfer import RANDOM, UNTRAINED, transfer_rows
from configs.loader import load_config
from envs.bodies import body_grid, body_overrides, dmc_body_grid
from trainer.api import train

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "configs/ncap_swim_ppo.yaml"

# ncap.md section 8.2, re-checked on the pinned dm_control 1.0.50 + MuJoCo 3.17: the untrained
# default circuit, episodes seeded 0, 1, 2 through env.reset(seed=...).
REFERENCE_RETURNS = {2: (289.4, 289.1, 292.2), 5: (794.1, 807.0, 803.4), 7: (895.8, 909.4, 905.5)}
PER_EPISODE_TOLERANCE = 1.0  # same simulator pins: only float noise, not physics changes
SECTION_8_2_MEANS = {2: 290, 5: 802, 7: 904}  # the table's rounded 3-seed means
MEAN_TOLERANCE = 5.0


def test_body_grid_is_the_product_with_joints_slowest_and_overrides_rebuild_it():
    grid = body_grid([5, 7], [0.8, 1.0], [None], [0.0])
    assert [(b.n_joints, b.length_scale) for b in grid] == [(5, 0.8), (5, 1.0), (7, 0.8), (7, 1.0)]
    cfg = load_config(DEFAULT, body_overrides(grid[1]))
    assert (cfg.env.n_joints, cfg.env.length_scale, cfg.env.density, cfg.env.viscosity) == \
        (5, 1.0, None, 0.0)


@pytest.mark.slow
def test_untrained_circuit_transfer_matches_section_8_2_reference_numbers():
    label, rows = transfer_rows(DEFAULT, body_grid(list(REFERENCE_RETURNS)), episodes=3, seed=0,
                                references=False, progress=False)
    assert label == "ncap_swim_ppo_untrained"
    for row in rows:
        got = [float(r) for r in row.returns.split()]
        n = row.body["n_joints"]
        want = REFERENCE_RETURNS[n]
        assert got == pytest.approx(want, abs=PER_EPISODE_TOLERANCE), \
            f"N={n}: returns {got}, reference {want}"
        table = SECTION_8_2_MEANS[n]
        assert abs(row.mean_return - table) < MEAN_TOLERANCE, \
            f"N={n}: mean {row.mean_return:.1f}, ncap.md table {table}"
        assert (row.body["density"], row.body["viscosity"], row.episodes, row.seed) == \
            (3000.0, 0.0, 3, 0)


@pytest.mark.slow
def test_transfer_command_writes_csv_markdown_plot_with_reference_rows(tmp_path, tiny_ppo, capsys):
    run = tmp_path / "ncap"
    train(load_config(DEFAULT, [*tiny_ppo, "steps=500", f"run_dir={run}"]))
    code = cli.main(["transfer", str(run), "--joints", "3", "6", "--episodes", "1",
                     "--length-scale", "0.8", "1.2"])
    out = capsys.readouterr().out
    assert code == 0
    with (run / "transfer.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {"policy", "n_joints", "length_scale", "density", "viscosity", "mean_return",
            "std_return", "episodes"} <= set(rows[0])
    assert len(rows) == 2 * 2 * 3, "one row per body and policy (run, untrained circuit, random)"
    assert {r["policy"] for r in rows} == {"ncap_swim_ppo", UNTRAINED, RANDOM}
    by = {(r["policy"], r["n_joints"], r["length_scale"]): float(r["mean_return"]) for r in rows}
    for n in ("3", "6"):
        assert by[UNTRAINED, n, "1.2"] > by[RANDOM, n, "1.2"], "the circuit's prior beats noise"
    table = (run / "transfer.md").read_text()
    assert "| N | length scale | density | viscosity | ncap_swim_ppo |" in table
    assert table.count("\n| 6 |") == 2 and "| 6 | 1.2 |" in out
    assert (run / "transfer.png").stat().st_size > 10_000


@pytest.mark.slow
def test_every_swim_transfer_row_equals_evaluate_on_the_same_body(tmp_path, capsys):
    """The check a user would make: each row's body, given to ``evaluate``, gives its return."""
    out = tmp_path / "media"
    code = cli.main(["transfer", str(DEFAULT), "--joints", "4", "--length-scale", "0.8",
                     "--density", "1000", "5000", "--viscosity", "0", "0.1", "--episodes", "1",
                     "--seed", "2", "--no-references", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "4 bodies x 1 policy row x 1 episode" in printed
    with (out / "transfer.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["density"], r["viscosity"]) for r in rows] == [
        ("1000.0", "0.0"), ("1000.0", "0.1"), ("5000.0", "0.0"), ("5000.0", "0.1")]
    for row in rows:
        body = {"n_joints": 4, "length_scale": 0.8, "density": float(row["density"]),
                "viscosity": float(row["viscosity"])}
        code = cli.main(["evaluate", str(DEFAULT), "--episodes", "1", "--seed", "2", "--json",
                         *(f"env.{k}={v}" for k, v in body.items())])
        result = json.loads(capsys.readouterr().out)
        assert code == 0 and result["body"] == body
        assert {k: float(row[k]) for k in body} == body
        assert row["returns"] == f"{result['returns'][0]:.1f}", \
            f"{body}: transfer {row['returns']}, evaluate {result['returns']}"
    assert len({r["returns"] for r in rows}) == 4, "four media, four returns"


@pytest.mark.slow
def test_mlp_run_is_refused_on_other_joint_counts_with_one_line(tmp_path, tiny_ppo, capsys):
    run = tmp_path / "mlp"
    train(load_config(ROOT / "configs/mlp_swim_ppo.yaml", [*tiny_ppo, "steps=500",
                                                           f"run_dir={run}"]))
    capsys.readouterr()
    code = cli.main(["transfer", str(run), "--joints", "4", "5", "--episodes", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "parameter shapes depend on the body" in err and "n_joints=4" in err
    assert not (run / "transfer.csv").exists()
    _, rows = transfer_rows(run, body_grid([5], [0.9]), episodes=1, seed=0, references=False,
                            progress=False)
    assert rows[0].body["length_scale"] == 0.9, "same N, other physics: the MLP's shapes fit"


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory) -> Path:
    from conftest import TINY_PPO

    run = tmp_path_factory.mktemp("transfer") / "cartpole"
    train(load_config(ROOT / "configs/mlp_swim_ppo.yaml",
                      [*TINY_PPO, "env.id=dmc:cartpole-swingup", "name=cartpole_mlp", "steps=500",
                       f"run_dir={run}"]))
    return run


@pytest.mark.slow
def test_dm_control_transfer_rows_match_evaluate_on_the_same_body_and_seeds(cartpole_run, capsys):
    _, rows = transfer_rows(cartpole_run, dmc_body_grid(length=[0.7, 1.0], gear=[1.5]),
                            episodes=2, seed=7, progress=False)
    assert [(r.policy, r.body["length"], r.body["gear"]) for r in rows] == [
        (p, s, 1.5) for s in (0.7, 1.0) for p in ("cartpole_mlp", UNTRAINED, RANDOM)]
    for row in rows[:1] + rows[3:4]:
        code = cli.main(["evaluate", str(cartpole_run), "--episodes", "2", "--seed", "7", "--json",
                         f"env.body.length={row.body['length']}", "env.body.gear=1.5"])
        result = json.loads(capsys.readouterr().out)
        assert code == 0 and result["body"] == {k: v for k, v in row.body.items() if v != 1.0}
        assert row.returns == " ".join(f"{r:.1f}" for r in result["returns"]), \
            f"transfer {row.returns} vs evaluate {result['returns']}"
    code = cli.main(["evaluate", str(cartpole_run / "config.yaml"), "--episodes", "2", "--seed",
                     "7", "--json", "env.body.length=0.7", "env.body.gear=1.5"])
    untrained = json.loads(capsys.readouterr().out)["returns"]
    assert rows[1].policy == UNTRAINED and rows[1].returns == " ".join(f"{r:.1f}" for r in untrained)
    by = {(r.policy, r.body["length"]): r.mean_return for r in rows}
    assert by["cartpole_mlp", 0.7] != by["cartpole_mlp", 1.0], "the pole's length matters"


@pytest.mark.slow
def test_dm_control_transfer_command_writes_csv_markdown_plot(cartpole_run, capsys):
    code = cli.main(["transfer", str(cartpole_run), "--length", "0.8", "1.2", "--mass", "1", "2",
                     "--episodes", "1"])
    out = capsys.readouterr().out
    assert code == 0
    with (cartpole_run / "transfer.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 3 and {r["env"] for r in rows} == {"dmc:cartpole-swingup"}
    assert {"length", "mass", "gear", "damping"} <= set(rows[0])
    assert "friction" not in rows[0], "cart-pole's model disables contacts: no friction column"
    assert {(r["length"], r["mass"]) for r in rows} == {(s, m) for s in ("0.8", "1.2")
                                                      for m in ("1.0", "2.0")}
    assert "| length × | mass × | gear × | damping × | cartpole_mlp |" in out
    assert "over 1 deterministic episode seeded " in out
    assert (cartpole_run / "transfer.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--joints", "3"], "--joints does not apply to env.id='dmc:cartpole-swingup'"),
    (["--friction", "0.5"], "env.body.friction: does not apply to cartpole"),
    (["--mass", "0"], "env.body.mass: must be > 0"),
    (["env.id=dmc:walker-walk", "--length", "1"], "it cannot run on dmc:walker-walk"),
])
def test_dm_control_transfer_bad_input_is_one_line_and_writes_nothing(cartpole_run, capsys, args,
                                                                      message):
    for f in cartpole_run.glob("transfer.*"):
        f.unlink()
    code = cli.main(["transfer", str(cartpole_run), "--episodes", "1", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not list(cartpole_run.glob("transfer.*"))


@pytest.mark.slow
def test_one_panel_transfer_picture_shows_its_whole_title(tmp_path, monkeypatch, capsys):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig))
    code = cli.main(["transfer", str(DEFAULT), "--joints", "3", "4", "--episodes", "1",
                     "--no-references", "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    fig = figures[-1]
    renderer = fig.canvas.get_renderer()
    title, frame = fig._suptitle.get_window_extent(renderer), fig.bbox
    assert str(DEFAULT) in fig._suptitle.get_text().replace("\n", "")
    assert frame.x0 <= title.x0 and title.x1 <= frame.x1, \
        f"title spans x {title.x0:.0f}..{title.x1:.0f} of a {frame.x1:.0f} px wide picture"
    assert title.y1 <= frame.y1
