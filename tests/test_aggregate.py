"""Aggregation over seeds: IQM, bootstrap intervals, learning-curve bands and the sweep report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import train as cli
from trainer.analysis import stats
from trainer.analysis.report import write_report
from configs.loader import ConfigError


# --- statistics ------------------------------------------------------------------------------
def test_iqm_matches_hand_computation():
    # n = 8: drop floor(8/4) = 2 from each end -> mean of 3, 4, 5, 6.
    assert stats.iqm(np.array([100.0, 1, 2, 3, 4, 5, 6, -50])) == pytest.approx(3.5)
    assert stats.iqm(np.array([7.0, 1, 2, 3, 4, 5, 6, 100])) == pytest.approx(4.5)
    # n = 10: drop 2 from each end -> mean of the middle 6.
    x = np.array([10.0, 0, 1, 2, 3, 4, 5, 6, 7, 1000])
    assert stats.iqm(x) == pytest.approx(np.mean([2, 3, 4, 5, 6, 7]))
    # n < 4: nothing dropped.
    assert stats.iqm(np.array([1.0, 2.0, 9.0])) == pytest.approx(4.0)
    # skewed, so dropping 1 or 3 from each end would give another value: mean of 0, 1, 2, 3
    assert stats.iqm(np.array([100.0, 0, 10, 0, 1, 2, 3, 0])) == pytest.approx(1.5)


def test_iqm_reduces_the_last_axis_of_resamples():
    rows = np.array([[1.0, 2, 3, 4], [10, 20, 30, 40]])
    np.testing.assert_allclose(stats.iqm(rows), [2.5, 25.0])


def test_iqm_is_robust_to_an_outlier_seed_unlike_the_mean():
    x = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1000.0])
    assert stats.iqm(x) == pytest.approx(1.0, abs=0.05)
    assert stats.mean(x) > 100


def plain_bootstrap(values, statistic, n_boot: int = 2000, level: float = 0.95,
                    seed: int = 0) -> list[float]:
    """The percentile bootstrap written out: ``n_boot`` resamples (indices drawn with
    ``default_rng(seed).integers``, as the module documents), ``statistic`` of each as a plain
    Python function of a list, and the two quantiles interpolated between order statistics."""
    values = list(values)
    rng = np.random.default_rng(seed)
    boot = sorted(statistic([values[i] for i in idx])
                  for idx in rng.integers(0, len(values), size=(n_boot, len(values))))

    def quantile(q: float) -> float:
        pos = q * (len(boot) - 1)
        i = int(pos)
        return boot[i] + (boot[min(i + 1, len(boot) - 1)] - boot[i]) * (pos - i)

    return [quantile((1 - level) / 2), quantile((1 + level) / 2)]


def plain_mean(v: list[float]) -> float:
    return sum(v) / len(v)


def plain_iqm(v: list[float]) -> float:
    v = sorted(v)
    cut = len(v) // 4
    return plain_mean(v[cut:len(v) - cut])


def test_bootstrap_ci_is_the_percentile_interval_of_resampled_means():
    """Against the loop above, and against the normal approximation of the mean's interval
    (mean +- 1.96 sd / sqrt(n), sd with ddof 0 as the bootstrap sees it) to within 0.1."""
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 1.0, size=30)
    low, high = stats.bootstrap_ci(x, stats.mean)
    assert [low, high] == pytest.approx(plain_bootstrap(x, plain_mean))
    half = 1.96 * x.std() / np.sqrt(30)
    assert low == pytest.approx(x.mean() - half, abs=0.1)
    assert high == pytest.approx(x.mean() + half, abs=0.1)


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    trials = 200
    covered = sum(low <= 0.0 <= high for low, high in
                  (stats.bootstrap_ci(rng.normal(0.0, 1.0, 20), stats.mean, n_boot=1000, seed=i)
                   for i in range(trials)))
    # The percentile bootstrap under-covers slightly at n = 20; 95% nominal.
    assert 0.88 <= covered / trials <= 0.99, covered / trials


def test_bootstrap_ci_of_one_seed_is_degenerate_and_of_none_is_nan():
    assert stats.bootstrap_ci([3.0], stats.iqm) == (3.0, 3.0)
    assert all(np.isnan(stats.bootstrap_ci([], stats.iqm)))


def test_summarize_ignores_failed_seeds():
    s = stats.summarize([1.0, 2.0, float("nan"), 3.0, float("inf")])
    assert s["n"] == 3
    assert s["mean"] == pytest.approx(2.0)
    assert s["median"] == pytest.approx(2.0)
    # the interval resamples the three finite seeds only (a NaN or inf among them would leak
    # into the resampled means)
    assert s["iqm_ci"] == pytest.approx(plain_bootstrap([1.0, 2.0, 3.0], plain_iqm))


def test_curve_band_averages_the_seeds_that_reached_each_step():
    values = np.array([[0.0, 10.0, 20.0],
                       [2.0, 12.0, np.nan]])  # the second seed stopped early
    band = stats.curve_band(values)
    np.testing.assert_allclose(band["mean"], [1.0, 11.0, 20.0])
    np.testing.assert_array_equal(band["n"], [2, 2, 1])
    assert band["low"][2] == band["high"][2] == 20.0
    # two seeds: a resample's mean is the lower, the middle or the upper value with probability
    # 1/4, 1/2, 1/4, so the 2.5% and 97.5% quantiles are the two values themselves
    assert band["low"].tolist() == [0.0, 10.0, 20.0] and band["high"].tolist() == [2.0, 12.0, 20.0]


# --- the report on synthetic run folders ---------------------------------------------------
def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def fake_run(folder: Path, seed: int, curve: list[float], status: str = "complete",
             error: str | None = None, transfer: dict[int, float] | None = None,
             lr: float = 0.1) -> None:
    """A run folder as train() leaves it: config, eval.csv, summary (and trial.json, transfer)."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "seed": seed, "steps": 100, "run_dir": str(folder), "agent": {"lr": lr}}))
    write_csv(folder / "eval.csv",
              [{"step": 50 * i, "mean_return": v} for i, v in enumerate(curve)])
    if status == "failed":
        (folder / "trial.json").write_text(json.dumps({"status": "failed", "error": error}))
        return
    (folder / "summary.json").write_text(json.dumps({
        "status": status, "env_steps": 100 if status == "complete" else 50,
        "final_eval_return": curve[-1], "best_eval_return": max(curve)}))
    if transfer:
        write_csv(folder / "transfer.csv", [
            {"policy": "trained", "n_joints": n, "length_scale": 1.0, "density": 3000.0,
             "viscosity": 0.0, "mean_return": r, "std_return": 0.0, "episodes": 1}
            for n, r in transfer.items()])


@pytest.fixture
def synthetic_sweep(tmp_path: Path) -> Path:
    finals = [10.0, 20.0, 30.0, 40.0, 1000.0]  # IQM over 5 seeds: drop 1 each end -> 30
    for seed, final in enumerate(finals):
        fake_run(tmp_path / "lr=0.1" / f"seed{seed}", seed, [0.0, final / 2, final],
                 transfer={5: final, 6: final / 2})
    fake_run(tmp_path / "lr=1.0" / "seed0", 0, [0.0, 5.0, 7.0], lr=1.0)
    fake_run(tmp_path / "lr=1.0" / "seed1", 1, [0.0], status="failed",
             error="DivergenceError: loss/critic became nan at step 512", lr=1.0)
    fake_run(tmp_path / "lr=1.0" / "seed2", 2, [0.0, float("nan"), float("nan")], lr=1.0)
    fake_run(tmp_path / "lr=1.0" / "seed3", 3, [0.0, 2.0], status="interrupted", lr=1.0)
    return tmp_path


GOOD, BAD = "tiny (agent.lr=0.1)", "tiny (agent.lr=1.0)"  # the configs' labels


def test_report_statistics_match_hand_computation(synthetic_sweep: Path):
    data = write_report(synthetic_sweep)
    good = data["configs"][GOOD]
    assert good["complete"] == 5 and good["failed"] == 0
    assert good["final_eval_return"]["iqm"] == pytest.approx(30.0)
    assert good["final_eval_return"]["median"] == pytest.approx(30.0)
    assert good["final_eval_return"]["mean"] == pytest.approx(220.0)
    assert good["final_eval_return"]["iqm_ci"] == pytest.approx(
        plain_bootstrap([10.0, 20.0, 30.0, 40.0, 1000.0], plain_iqm))
    assert good["learning_curve"]["step"] == [0, 50, 100]
    assert good["learning_curve"]["mean"] == pytest.approx([0.0, 110.0, 220.0])


def test_report_counts_failed_and_diverged_seeds_with_their_errors(synthetic_sweep: Path):
    data = write_report(synthetic_sweep)
    bad = data["configs"][BAD]
    assert (bad["complete"], bad["failed"], bad["unfinished"]) == (1, 2, 1)
    statuses = {r["seed"]: r["status"] for r in bad["runs"]}
    assert statuses == {0: "complete", 1: "failed", 2: "diverged", 3: "interrupted"}
    assert bad["final_eval_return"]["n"] == 1
    md = (synthetic_sweep / "report.md").read_text()
    assert "DivergenceError: loss/critic became nan at step 512" in md
    assert f"| `{BAD}` | 1 / 4 | 2 |" in md, md
    json.loads((synthetic_sweep / "report.json").read_text())  # strict JSON, no NaN


def test_report_averages_transfer_over_seeds_and_draws_plots(synthetic_sweep: Path):
    data = write_report(synthetic_sweep)
    rows = {r["n_joints"]: r for r in data["configs"][GOOD]["transfer"]}
    assert rows[5]["mean_return"] == pytest.approx(220.0) and rows[5]["seeds"] == 5
    assert rows[6]["mean_return"] == pytest.approx(110.0)
    assert "## Zero-shot transfer" in (synthetic_sweep / "report.md").read_text()
    for png in ("learning_curves.png", "transfer.png"):
        assert (synthetic_sweep / png).stat().st_size > 1000, png


def test_report_command_on_a_folder_of_seeds(tmp_path: Path, capsys):
    for seed in range(3):
        fake_run(tmp_path / "myexp" / f"seed{seed}", seed, [0.0, 1.0 + seed])
    assert cli.main(["report", str(tmp_path / "myexp")]) == 0
    data = json.loads((tmp_path / "myexp" / "report.json").read_text())
    assert list(data["configs"]) == ["tiny"], "one config over three seeds, labelled by name"
    assert data["configs"]["tiny"]["final_eval_return"]["median"] == pytest.approx(2.0)
    assert "3 runs in 1 config)" in capsys.readouterr().out


def test_report_on_a_folder_without_runs_is_one_line_error(tmp_path: Path, capsys):
    with pytest.raises(ConfigError, match="holds no run folders"):
        write_report(tmp_path)
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no run folder or preset at") and err.count("\n") == 1
