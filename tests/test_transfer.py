"""Zero-shot transfer across swimmer bodies: reference numbers, outputs, refusing body-bound
policies."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import train as cli
from trainer.transfer import RANDOM, UNTRAINED, transfer_rows
from configs.loader import load_config
from envs.bodies import body_grid, body_overrides
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
