"""Pictures: learning curves with confidence bands, circuit activity and the circuit diagram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import train as cli
from circuits.ncap import NCAPSwimmerCircuit
from circuits.plots import weight_caption
from trainer.analysis import stats
from trainer.analysis.plots import final_values_ci
from configs.loader import load_config
from trainer.api import train

ROOT = Path(__file__).resolve().parent.parent


def test_confidence_band_is_the_percentile_bootstrap_of_the_mean_over_runs():
    # Two runs at x=0 (1 and 3): a resample of two values has mean 1, 2 or 3 with probability
    # 1/4, 1/2, 1/4, so the 2.5% and 97.5% quantiles of the resampled means are 1 and 3.
    band = stats.curves_band([{0: 1.0, 10: 3.0}, {0: 3.0, 10: 5.0, 20: 7.0}])
    assert band["x"].tolist() == [0, 10, 20] and band["mean"].tolist() == [2.0, 4.0, 7.0]
    assert band["low"].tolist()[:2] == [1.0, 3.0] and band["high"].tolist()[:2] == [3.0, 5.0]
    assert band["low"][-1] == band["high"][-1] == 7.0, "a step only one run reached has no band"
    assert final_values_ci([{0: 0.0, 10: 1.0}, {0: 0.0, 5: 3.0}]) == (2.0, 1.0, 3.0)
    assert final_values_ci([{0: 5.0}]) == (5.0, 5.0, 5.0)


def test_group_labels_name_only_the_keys_that_tell_configs_apart(tmp_path):
    """Fixed and adaptive replay-ratio arms have different sub-keys under rr_schedule: a label
    shows a key only where the run has it (never ``key=None``), yet distinct configs keep
    distinct labels."""
    from trainer.analysis.plots import config_labels

    schedules = {"rr0.5": "{type: fixed, rr: 0.5, period: 1}",
                 "rr2": "{type: fixed, rr: 2.0, period: 1}",
                 "arr": "{type: adaptive, low: 0.5, high: 2.0, window: 1}",
                 "arr_w5": "{type: adaptive, low: 0.5, high: 2.0, window: 5}",
                 "only_a": "{b: 2, a: 1}", "only_b": "{b: 2}"}
    runs = {}
    for arm, schedule in schedules.items():
        name = "other" if arm.startswith("only") else "cartpole"
        runs[arm] = tmp_path / arm / "seed0"
        runs[arm].mkdir(parents=True)
        (runs[arm] / "config.yaml").write_text(
            f"name: {name}\nseed: 0\nrun_dir: {runs[arm]}\nagent:\n  lr: 3\n"
            f"  rr_schedule: {schedule}\n")
    labels = config_labels(list(runs.values()))
    key = "agent.rr_schedule"
    assert {arm: labels[run] for arm, run in runs.items()} == {
        "rr0.5": f"cartpole ({key}.type=fixed, {key}.rr=0.5)",
        "rr2": f"cartpole ({key}.type=fixed, {key}.rr=2.0)",
        "arr": f"cartpole ({key}.type=adaptive, {key}.window=1)",
        "arr_w5": f"cartpole ({key}.type=adaptive, {key}.window=5)",
        # no key differs where both runs have it: the key only one has is what tells them apart
        "only_a": f"other ({key}.a=1)", "only_b": "other"}


@pytest.mark.slow
def test_replay_ratio_is_drawn_per_run_not_as_a_mean(tmp_path, monkeypatch):
    """A mean of RR 0.5 and 2 is an RR no run had: the rr panel draws one line per run."""
    import matplotlib.pyplot as plt

    from trainer.analysis import plots

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig))
    runs = [{0: 0.5, 10: 0.5, 20: 2.0}, {0: 0.5, 10: 0.5, 20: 0.5}]
    plots.plot_panels({"return": {"arr": [{0: 1.0, 20: 2.0}, {0: 3.0, 20: 4.0}]},
                       "rr": {"arr": runs}}, tmp_path / "p.png", "step")
    ret_ax, rr_ax = figures[0].axes
    assert [line.get_ydata().tolist() for line in rr_ax.lines] == [[0.5, 0.5, 2.0],
                                                                 [0.5, 0.5, 0.5]]
    assert not rr_ax.collections, "no band on the rr panel"
    assert {line.get_drawstyle() for line in rr_ax.lines} == {"steps-pre"}, \
        "a replay ratio holds over each logging window: drawn as a step function"
    assert len(ret_ax.lines) == 1 and ret_ax.lines[0].get_ydata().tolist() == [2.0, 3.0]
    assert ret_ax.collections, "the return panel keeps its confidence band"


@pytest.mark.slow
def test_plot_command_groups_seeds_by_config_name(tmp_path, tiny_ppo, capsys):
    for seed in (0, 1):
        train(load_config(None, [*tiny_ppo, "steps=500", f"seed={seed}",
                                 f"run_dir={tmp_path / 'runs/ncap' / f'seed{seed}'}"]))
    out = tmp_path / "curves.png"
    code = cli.main(["plot", str(tmp_path / "runs/ncap"), "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "| return | ncap_swim_ppo | 2 |" in stdout
    assert out.stat().st_size > 10_000
    panels = tmp_path / "panels.png"
    code = cli.main(["plot", str(tmp_path / "runs/ncap"), "--out", str(panels), "--x", "frames",
                     "--metric", "return", "--metric", "steps_per_second", "--metric",
                     "eval/std_return"])
    stdout = capsys.readouterr().out
    assert code == 0 and "| steps_per_second | ncap_swim_ppo | 2 |" in stdout, stdout
    assert "| eval/std_return | ncap_swim_ppo | 2 |" in stdout
    assert panels.stat().st_size > out.stat().st_size, "three panels, one figure"
    code = cli.main(["plot", str(tmp_path / "runs/ncap"), "--out", str(panels), "--metric", "nope"])
    assert code == 2 and "has no column 'nope'" in capsys.readouterr().err
    code = cli.main(["plot", str(tmp_path / "runs/ncap"), "--out", str(out),
                     "--group-by", "agent.nope"])
    assert code == 2 and "no key 'agent.nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_plot_finds_sweep_trials_and_groups_them_by_config_without_the_seed(tmp_path, tiny_ppo,
                                                                            capsys, caplog):
    """A sweep folder: <sweep>/<grid point>/seed<s>/ two levels down, beside Ray's ray/."""
    sweep = tmp_path / "sweep"
    for lr in ("0.001", "0.003"):
        for seed in (0, 1):
            train(load_config(None, [*tiny_ppo, "steps=500", f"seed={seed}", f"agent.actor_lr={lr}",
                                     f"run_dir={sweep / f'agent.actor_lr={lr}' / f'seed{seed}'}"]))
    (sweep / "ray" / "tune").mkdir(parents=True)
    (sweep / "ray" / "tune" / "experiment_state.json").write_text("{}")
    (sweep / "sweep.yaml").write_text("seeds: [0, 1]\n")
    for argv in ([str(sweep)], [str(p) for p in sorted(sweep.glob("*/"))],
                 [str(p) for p in sorted(sweep.glob("agent*/"))]):
        code = cli.main(["plot", *argv, "--out", str(tmp_path / "sweep.png")])
        out, err = capsys.readouterr()
        assert code == 0, err
        rows = [line for line in out.splitlines() if line.startswith("| return |")]
        assert rows == [f"| return | ncap_swim_ppo (agent.actor_lr={lr}) | 2 |{row.split('|')[4]}|"
                        for lr, row in zip(("0.001", "0.003"), rows)], out
    assert f"skipped {sweep / 'ray'}" in caplog.text, "the ray/ folder among the trials is named"
    code = cli.main(["plot", str(sweep), "--out", str(tmp_path / "one.png"), "--group-by", "name"])
    assert code == 0 and "| return | ncap_swim_ppo | 4 |" in capsys.readouterr().out


@pytest.mark.slow
def test_activity_command_writes_heatmaps_and_diagram_without_opengl(tmp_path, capsys):
    out = tmp_path / "activity.png"
    code = cli.main(["activity", str(ROOT / "configs/ncap_swim_ppo.yaml"), "--out", str(out),
                     "--steps", "90", "--joints", "6", "--seed", "0"])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "o=+1.00  p=+1.00  i=+1.00  c=-1.00" in stdout
    assert out.stat().st_size > 30_000


def test_weight_caption_shows_effective_signed_weights_and_unshared_means():
    circuit = NCAPSwimmerCircuit(n_joints=3, shared=True)
    circuit.weights["c"].data.fill_(0.5)  # past the inhibitory bound: used as 0
    assert "c=+0.00" in weight_caption(circuit)
    assert weight_caption(NCAPSwimmerCircuit(n_joints=3, shared=False)).startswith("mean o=+1.00")
