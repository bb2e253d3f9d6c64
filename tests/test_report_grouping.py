"""``report`` and ``plot`` group the same runs the same way (issue 40): runs that differ only by
seed (and their run folder) form a group, labelled by the config name and every key that
differs, intervention sections included; and the report's numbers, recomputed by a plain loop
over the ``eval.csv`` rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import train as cli
from trainer.analysis.plots import GROUP_BY_CONFIG, group_curves, logged_runs, run_labels
from trainer.analysis.report import write_report


def write_run(folder: Path, config: dict, returns: list[float]) -> None:
    """A finished run folder written by hand: config.yaml, eval.csv (every 100 steps) and the
    summary.json the trainer writes (final = last evaluation, best = the largest)."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({**config, "run_dir": str(folder)},
                                                       sort_keys=False))
    (folder / "eval.csv").write_text("step,frames,mean_return\n" + "".join(
        f"{100 * i},{200 * i},{r}\n" for i, r in enumerate(returns)))
    (folder / "summary.json").write_text(json.dumps({
        "status": "complete", "env_steps": 100 * (len(returns) - 1),
        "final_eval_return": returns[-1], "best_eval_return": max(returns)}))


def cheetah(seed: int, lr: float = 1e-4, **sections) -> dict:
    """A DrQ-v2-like config: every intervention section present, null unless given."""
    agent = {"name": "drqv2", "lr": lr, "reset": None, "redo": None, "shrink_perturb": None,
             "plasticity_injection": None}
    return {"name": "cheetah", "seed": seed, "steps": 1000, "agent": {**agent, **sections},
            "trainer": {"resume_from": None}}


@pytest.fixture
def mixed_runs(tmp_path: Path) -> Path:
    """Issue 40's folder: different runs side by side, all seed 0 (and one config over 2 seeds)."""
    root = tmp_path / "runs"
    write_run(root / "pixels_seed0", {"name": "drqv2_pixels", "seed": 0,
                                      "env": {"pixels": {"size": 84}}}, [0.0, 10.0])
    write_run(root / "states_seed0", {"name": "offpolicy_states", "seed": 0,
                                      "env": {"pixels": None}}, [0.0, 20.0])
    write_run(root / "swim_mlp_seed0", {"name": "mlp_swim_ppo", "seed": 0}, [0.0, 30.0])
    # a key only one run of the name has (a config written by a newer version): no key differs
    # where both have it, so the key one has is what tells them apart
    write_run(root / "swim_mlp_newer_seed0", {"name": "mlp_swim_ppo", "seed": 0,
                                              "agent": {"extra": 1}}, [0.0, 35.0])
    write_run(root / "plain_seed0", cheetah(0), [0.0, 40.0])
    write_run(root / "plain_seed1", {**cheetah(1), "trainer": {"resume_from": "last.pt"}},
              [0.0, 44.0])
    write_run(root / "snp_seed0", cheetah(0, lr=3e-4, shrink_perturb={
        "shrink": 0.8, "perturb": None, "every_steps": 1000}), [0.0, 50.0])
    write_run(root / "inject_seed0", cheetah(0, plasticity_injection={"at_step": 500}),
              [0.0, 60.0])
    write_run(root / "redo_seed0", cheetah(0, redo={"every_steps": 1000, "tau": 0.025}),
              [0.0, 70.0])
    write_run(root / "reset_seed0", cheetah(0, reset={
        "count": 2, "trigger": {"metric": "fau/critic", "below": 0.5}}), [0.0, 80.0])
    # two runs of another name whose learning rates alone tell them apart: the S&P section
    # must still show (it used to be left out of the label)
    write_run(root / "walker_seed0", {**cheetah(0), "name": "walker"}, [0.0, 90.0])
    write_run(root / "walker_snp_seed0", {**cheetah(0, lr=3e-4, shrink_perturb={
        "shrink": 0.8, "every_steps": 1000}), "name": "walker"}, [0.0, 95.0])
    return root


# written by hand: every key that differs between runs of one name, and where it is set
EXPECTED = {
    "drqv2_pixels": {"pixels_seed0"},
    "offpolicy_states": {"states_seed0"},
    "mlp_swim_ppo": {"swim_mlp_seed0"},
    "mlp_swim_ppo (agent.extra=1)": {"swim_mlp_newer_seed0"},
    "cheetah (agent.lr=0.0001)": {"plain_seed0", "plain_seed1"},
    "cheetah (agent.lr=0.0003, agent.shrink_perturb.shrink=0.8, "
    "agent.shrink_perturb.every_steps=1000)": {"snp_seed0"},
    "cheetah (agent.lr=0.0001, agent.plasticity_injection.at_step=500)": {"inject_seed0"},
    "cheetah (agent.lr=0.0001, agent.redo.every_steps=1000, agent.redo.tau=0.025)":
        {"redo_seed0"},
    "cheetah (agent.lr=0.0001, agent.reset.count=2, agent.reset.trigger.metric=fau/critic, "
    "agent.reset.trigger.below=0.5)": {"reset_seed0"},
    "walker (agent.lr=0.0001)": {"walker_seed0"},
    "walker (agent.lr=0.0003, agent.shrink_perturb.shrink=0.8, "
    "agent.shrink_perturb.every_steps=1000)": {"walker_snp_seed0"},
}


def test_report_and_plot_make_the_same_groups_with_every_differing_key(mixed_runs, capsys):
    data = write_report(mixed_runs)
    report_groups = {name: {Path(r["path"]).name for r in g["runs"]}
                     for name, g in data["configs"].items()}
    assert report_groups == EXPECTED
    labels = run_labels(logged_runs([mixed_runs]), GROUP_BY_CONFIG)
    plot_groups: dict[str, set[str]] = {}
    for run, label in labels.items():
        plot_groups.setdefault(label, set()).add(run.name)
    assert plot_groups == EXPECTED
    # the curves plot draws per group are those runs' eval.csv (final values 40 and 44: seeds 0, 1)
    curves = group_curves(logged_runs([mixed_runs]), GROUP_BY_CONFIG, "step")
    assert sorted(c[100] for c in curves["cheetah (agent.lr=0.0001)"]) == [40.0, 44.0]
    assert cli.main(["report", str(mixed_runs)]) == 0
    assert "(12 runs in 11 configs)" in capsys.readouterr().out
    md = (mixed_runs / "report.md").read_text()
    assert "12 runs in 11 configs" in md
    assert "| `cheetah (agent.lr=0.0001, agent.plasticity_injection.at_step=500)` | 1 / 1 |" in md


def test_a_run_without_config_is_its_own_group(mixed_runs):
    """A sweep trial that failed before writing config.yaml has no config to group by."""
    failed = mixed_runs / "lost" / "seed3"
    failed.mkdir(parents=True)
    (failed / "trial.json").write_text(json.dumps({"status": "failed", "error": "boom"}))
    data = write_report(mixed_runs)
    group = data["configs"]["lost/seed3 (no config.yaml)"]
    assert [r["status"] for r in group["runs"]] == ["failed"] and group["failed"] == 1
    assert {k: {Path(r["path"]).name for r in g["runs"]} for k, g in data["configs"].items()
            if k in EXPECTED} == EXPECTED


# --- the report's numbers by a second route --------------------------------------------------
def plain_iqm(values: list[float]) -> float:
    """Sort, drop floor(n / 4) from each end, average the rest: by hand."""
    v = sorted(values)
    cut = len(v) // 4
    kept = v[cut:len(v) - cut]
    return sum(kept) / len(kept)


def plain_quantile(sorted_values: list[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    i = int(pos)
    upper = sorted_values[min(i + 1, len(sorted_values) - 1)]
    return sorted_values[i] + (upper - sorted_values[i]) * (pos - i)


def test_report_numbers_match_a_plain_loop_over_eval_csv(tmp_path):
    """Final and best return per seed, then mean, median, IQM and its percentile bootstrap
    (2000 resamples drawn with default_rng(0), as the module documents), and the learning curve's
    mean at each step, all recomputed from the eval.csv rows on disk."""
    root = tmp_path / "sweep"
    curves = {0: [0.0, 5.0, 9.0], 1: [0.0, 12.0, 3.0], 2: [1.0, 2.0, 30.0],
              3: [0.0, 7.0, 8.0], 4: [2.0, 100.0, 50.0], 5: [0.0, 1.0]}   # seed 5 stopped early
    for seed, returns in curves.items():
        write_run(root / f"seed{seed}", cheetah(seed), returns)
    data = write_report(root)
    assert list(data["configs"]) == ["cheetah"]
    group = data["configs"]["cheetah"]

    rows: dict[int, list[tuple[int, float]]] = {}
    for folder in sorted(root.glob("seed*")):
        with (folder / "eval.csv").open() as f:
            rows[int(folder.name[4:])] = [(int(r["step"]), float(r["mean_return"]))
                                          for r in csv.DictReader(f)]
    finals = [rows[s][-1][1] for s in sorted(rows)]
    bests = [max(v for _, v in rows[s]) for s in sorted(rows)]
    for metric, values in (("final_eval_return", finals), ("best_eval_return", bests)):
        got = group[metric]
        n = len(values)
        assert got["n"] == n
        assert got["mean"] == pytest.approx(sum(values) / n)
        ordered = sorted(values)
        assert got["median"] == pytest.approx((ordered[n // 2 - 1] + ordered[n // 2]) / 2)
        assert got["iqm"] == pytest.approx(plain_iqm(values))
        rng = np.random.default_rng(0)
        boot = sorted(plain_iqm([values[i] for i in idx])
                      for idx in rng.integers(0, n, size=(2000, n)))
        assert got["iqm_ci"] == pytest.approx([plain_quantile(boot, 0.025),
                                               plain_quantile(boot, 0.975)])
    steps = sorted({s for r in rows.values() for s, _ in r})
    at = {s: [v for r in rows.values() for t, v in r if t == s] for s in steps}
    assert group["learning_curve"]["step"] == steps
    assert group["learning_curve"]["mean"] == pytest.approx([sum(at[s]) / len(at[s])
                                                             for s in steps])
    assert group["learning_curve"]["n"] == [len(at[s]) for s in steps]


def test_a_sweeps_configs_keep_the_grid_order(tmp_path):
    """``<sweep>/<grid label>/seed<k>``: the report lists configs in ``--grid`` order (0.001
    before 0.0003, against the alphabet), named like any other group."""
    sweep = tmp_path / "sweep"
    (sweep).mkdir()
    (sweep / "sweep.yaml").write_text(yaml.safe_dump({"seeds": [0, 1],
                                                      "grid": {"agent.lr": [0.001, 0.0003]}}))
    for lr in (0.001, 0.0003):
        for seed in (0, 1):
            write_run(sweep / f"agent.lr={lr}" / f"seed{seed}", cheetah(seed, lr=lr), [0.0, lr])
    data = write_report(sweep)
    assert list(data["configs"]) == ["cheetah (agent.lr=0.001)", "cheetah (agent.lr=0.0003)"]
    assert [len(g["runs"]) for g in data["configs"].values()] == [2, 2]
