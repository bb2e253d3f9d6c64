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


def hand_made_run(folder: Path, returns: list[float]) -> Path:
    """A run folder as ``plot`` reads it (config, eval.csv, metrics.csv), written by hand."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"name: tiny\nseed: 0\nrun_dir: {folder}\n")
    (folder / "eval.csv").write_text("step,frames,mean_return\n" + "".join(
        f"{100 * i},{100 * i},{r}\n" for i, r in enumerate(returns)))
    (folder / "metrics.csv").write_text("step,frames,loss/critic\n100,100,0.5\n")
    return folder


def test_plot_names_the_supported_suffixes_before_reading_any_run(tmp_path, capsys):
    run = hand_made_run(tmp_path / "run", [1.0, 2.0])
    for out in (tmp_path / "x.txt", tmp_path / "curves"):
        for folder in (run, tmp_path / "nope"):  # refused before the folder is looked at
            assert cli.main(["plot", str(folder), "--out", str(out)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and err.startswith("error: "), err
            assert str(out) in err and ".png" in err and ".pdf" in err and ".svg" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "nothing written"
    assert cli.main(["plot", str(run), "--out", str(tmp_path / "x.svg")]) == 0
    assert (tmp_path / "x.svg").read_text().lstrip().startswith("<?xml")


def test_a_metric_logged_once_is_drawn_as_a_visible_mark(tmp_path, monkeypatch):
    """PPO's ``loss/critic`` after one segment: a line through one point has no length; the
    point gets a marker, so pixels of the group's colour are drawn where the value is."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    from trainer.analysis import plots

    figures = []
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig))
    plots.plot_panels({"loss/critic": {"ppo": [{1000: 0.5}]}, "rr": {"ppo": [{1000: 2.0}]}},
                      tmp_path / "p.png", "step")
    fig = figures[0]
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3] / 255.0
    for ax, value in zip(fig.axes, (0.5, 2.0)):
        colour = np.array(to_rgb(ax.lines[0].get_color()))
        x, y = ax.transData.transform((1000, value))
        row, col = int(round(image.shape[0] - y)), int(round(x))
        patch = image[row - 3:row + 4, col - 3:col + 4].reshape(-1, 3)
        close = np.abs(patch - colour).max(axis=1) < 0.15
        assert close.sum() >= 9, f"one logged value is invisible ({close.sum()} pixels)"
    plt.close(fig)


def test_paired_plot_warns_instead_of_contrasting_cells_of_different_pairs(tmp_path, capsys):
    """A contrast ``(B - A) in cell 2 minus (B - A) in cell 1`` needs one pair in every cell."""
    import json
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import paired_plot

    def cell(name: str, labels: list[str]) -> Path:
        results = {"final": {"differences": [1.0, 2.0, 3.0], "median_ci": [1.0, 3.0],
                             "median_difference": 2.0, "separates": True, "n": 3}}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"labels": labels, "results": results}))
        return path

    one = cell("one", ["lr_default", "lr3e-3"])
    other = cell("other", ["rr0.5", "arr"])
    same = cell("same", ["lr_default", "lr3e-3"])
    png = tmp_path / "forest.png"
    assert paired_plot.main([str(one), str(other), "--out", str(png)]) == 0
    out, err = capsys.readouterr()
    assert "Contrast" not in out and not png.with_suffix(".md").exists(), out
    assert err.startswith("warning: ") and err.count("\n") == 1, err
    assert "lr3e-3 - lr_default" in err and "arr - rr0.5" in err, err
    assert png.exists(), "the forest plot is still drawn (each row its own pair)"
    assert paired_plot.main([str(one), str(same), "--out", str(png)]) == 0
    out, err = capsys.readouterr()
    assert "Contrast of (lr3e-3 - lr_default)" in out and not err


def test_forest_key_says_an_interval_that_excludes_zero_on_too_few_pairs_does_not_separate(
        tmp_path, monkeypatch):
    """compare's rows with n = 3 whose interval excludes 0 are drawn blue (``separates`` is
    False below stats.MIN_PAIRS); the key must say blue also means too few pairs."""
    from configs import figure_layout
    from trainer.analysis import forest, stats

    seen = {}
    real_finish = figure_layout.finish

    def finish(fig, handles, labels, **kw):
        seen["labels"] = labels
        seen["colors"] = [line.get_color() for ax in fig.axes for line in ax.lines
                          if line.get_linewidth() == 3]
        return real_finish(fig, handles, labels, **kw)

    monkeypatch.setattr(figure_layout, "finish", finish)
    r = stats.paired_comparison({0: 0.0, 1: 0.0, 2: 0.0}, {0: 10.0, 1: 11.0, 2: 12.0})
    assert r["median_ci"][0] > 0 and not r["separates"], "n = 3: excludes 0 but does not separate"
    forest.plot([{"labels": ["a", "b"], "results": {"final": r}}], ["b"], tmp_path / "f.png")
    assert seen["colors"] == ["tab:blue"]
    blue = next(label for label in seen["labels"] if "does not separate" in label)
    assert f"n < {stats.MIN_PAIRS}" in blue and "includes 0" in blue


@pytest.mark.parametrize("oscillator, head_words, absent", [
    ("square", ("head oscillator",), "switch"),
    ("proprioceptive", ("head switches", "no oscillator"), "oscillator O")])
def test_activity_figure_names_the_head_source_the_circuit_has(oscillator, head_words, absent,
                                                               tmp_path, monkeypatch):
    """The trace above the heatmaps and the diagram's head neurons say what drives joint 1: the
    oscillator O for NCAP+'s square wave; for ``oscillator: proprioceptive`` (no oscillator)
    the head's bistable switch pair S, and no word of an oscillator in the trace's title."""
    from types import SimpleNamespace

    from circuits import plots
    from circuits.ncap_plus import NCAPPlusCircuit

    figures = []
    monkeypatch.setattr(plots.plt, "close", lambda fig: figures.append(fig))
    steps, n = 40, 5
    square = (np.arange(steps) % 20 < 10).astype(float)
    rollout = SimpleNamespace(
        activity={"oscillator_d": square, "oscillator_v": 1 - square,
                  **{k: np.zeros((steps, n)) for k in ("b_d", "b_v", "muscle_d", "muscle_v")}},
        control_timestep=0.03, joints=np.zeros((steps, n)), rewards=np.zeros(steps))
    plots.activity_figure(rollout, NCAPPlusCircuit(oscillator=oscillator), tmp_path / "a.png",
                          "t")
    (fig,) = figures
    trace = fig.axes[0]
    title = trace.get_title("left")
    assert all(w in title for w in head_words) and absent not in title, title
    keys = [t.get_text() for t in trace.get_legend().get_texts()]
    labels = {t.get_text() for ax in fig.axes for t in ax.texts}
    if oscillator == "square":
        assert keys == ["O_d", "O_v"] and {"Od", "Ov"} <= labels, (keys, labels)
    else:
        assert keys == ["S_d", "S_v"] and {"Sd", "Sv"} <= labels, (keys, labels)
        assert not {"Od", "Ov"} & labels, labels
