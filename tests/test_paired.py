"""Paired comparisons (issue 22's tool): outcome metrics and paired differences by hand, and the
bench script on real (tiny) run folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.paired import reading
from trainer.analysis.runs import curve_area, final_score
from trainer.analysis.stats import contrast, difference_summary, paired_comparison

ROOT = Path(__file__).resolve().parent.parent


def test_outcome_metrics_by_hand():
    steps, returns = np.array([0, 10, 20, 30]), np.array([0.0, 10.0, 20.0, 40.0])
    assert final_score(steps, returns) == pytest.approx((10 + 20 + 40) / 3)
    # trapezoids: 10 * (0 + 10) / 2 + 10 * (10 + 20) / 2 + 10 * (20 + 40) / 2 = 500, over 30 steps
    assert curve_area(steps, returns) == pytest.approx(500 / 30)
    assert np.isnan(curve_area(steps[:1], returns[:1]))


def test_paired_differences_use_only_shared_seeds_and_keep_the_pairing():
    a = {0: 1.0, 1: 2.0, 2: 3.0, 7: 100.0}
    b = {0: 2.0, 1: 4.0, 2: 3.0, 5: -50.0}
    r = paired_comparison(a, b)
    assert r["seeds"] == [0, 1, 2] and r["differences"] == [1.0, 2.0, 0.0]
    assert r["median_difference"] == 1.0 and r["wins"] == 2 and r["ties"] == 1
    # A resample of three draws from {0, 1, 2} has median 0 when two or three draws are 0:
    # 3 (1/3)^2 (2/3) + (1/3)^3 = 7/27 = 0.26, likewise 2; far above 2.5%, so the 95% interval
    # of a median bootstrap is exactly [0, 2] (a mean would give fractions, no replacement [1, 1])
    assert r["median_ci"] == [0.0, 2.0]


def test_a_constant_shift_separates_and_a_symmetric_one_does_not():
    a = {k: float(k) for k in range(10)}
    shifted = paired_comparison(a, {k: v + 5.0 for k, v in a.items()})
    assert shifted["median_ci"] == [5.0, 5.0] and shifted["separates"]
    noise = {k: v + (3.0 if k % 2 else -3.0) for k, v in a.items()}
    mixed = paired_comparison(a, noise)
    # differences -3, +3, ... (five each): a resample's median is -3 when 6 or more of its 10
    # draws are -3, P(Bin(10, 1/2) >= 6) = 0.38, likewise +3: the interval is [-3, +3] exactly
    assert mixed["median_ci"] == [-3.0, 3.0] and not mixed["separates"]


def test_contrast_of_two_cells_by_hand():
    """median(d2) - median(d1); a cell whose differences are all 7 vs one all 2 gives exactly 5,
    and two cells drawn from the same symmetric spread do not separate."""
    fixed = contrast([2.0] * 6, [7.0] * 8)
    assert fixed["contrast"] == 5.0 and fixed["ci"] == [5.0, 5.0] and fixed["separates"]
    assert fixed["n"] == [6, 8]
    # medians: [1, 3, 4, 10, nan] -> 3.5 ; [-5, 0, 2, 9] -> 1.0 ; contrast 1.0 - 3.5
    spread = contrast([1.0, 3.0, 4.0, 10.0, float("nan")], [-5.0, 0.0, 2.0, 9.0])
    assert spread["contrast"] == -2.5 and spread["n"] == [4, 4]
    assert spread["ci"] == pytest.approx(plain_contrast_interval([1.0, 3.0, 4.0, 10.0],
                                                                 [-5.0, 0.0, 2.0, 9.0]))
    assert spread["ci"][0] < 0 < spread["ci"][1] and not spread["separates"]
    with pytest.raises(ValueError, match="no finite difference"):
        contrast([float("nan")], [1.0])


def test_no_shared_seed_is_an_error():
    with pytest.raises(ValueError, match="share no seed"):
        paired_comparison({0: 1.0}, {1: 1.0})


def plain_median_interval(d: list[float], n_boot: int = 2000, level: float = 0.95,
                          seed: int = 0) -> list[float]:
    """The percentile bootstrap of the median written out: ``n_boot`` resamples of the pairs
    (indices from ``default_rng(seed).integers``, the draw the module documents), each median
    by sorting, and the two quantiles by linear interpolation between order statistics."""
    rng = np.random.default_rng(seed)
    medians = []
    for idx in rng.integers(0, len(d), size=(n_boot, len(d))):
        draw = sorted(d[i] for i in idx)
        mid = len(draw) // 2
        medians.append(draw[mid] if len(draw) % 2 else (draw[mid - 1] + draw[mid]) / 2)
    medians.sort()

    def quantile(q: float) -> float:
        pos = q * (len(medians) - 1)
        i = int(pos)
        return medians[i] + (medians[min(i + 1, len(medians) - 1)] - medians[i]) * (pos - i)

    return [quantile((1 - level) / 2), quantile((1 + level) / 2)]


def plain_contrast_interval(d1: list[float], d2: list[float], n_boot: int = 2000,
                            level: float = 0.95, seed: int = 0) -> list[float]:
    """``contrast``'s bootstrap written out: per resample, median of d2's draw minus median of
    d1's draw (d2's indices drawn first, then d1's, from one ``default_rng(seed)``)."""
    rng = np.random.default_rng(seed)
    i2 = rng.integers(0, len(d2), size=(n_boot, len(d2)))
    i1 = rng.integers(0, len(d1), size=(n_boot, len(d1)))

    def med(v: list[float]) -> float:
        v = sorted(v)
        mid = len(v) // 2
        return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2

    boot = sorted(med([d2[i] for i in a]) - med([d1[i] for i in b]) for a, b in zip(i2, i1))

    def quantile(q: float) -> float:
        pos = q * (len(boot) - 1)
        i = int(pos)
        return boot[i] + (boot[min(i + 1, len(boot) - 1)] - boot[i]) * (pos - i)

    return [quantile((1 - level) / 2), quantile((1 + level) / 2)]


def test_an_interval_touching_zero_does_not_separate():
    """Differences [0, 0, 0, 0, 3, 5, 7]: a resample's median is 0 when at least 4 of its 7 draws
    are zeros, P(Bin(7, 4/7) >= 4) = 0.63, so the 2.5% quantile is 0; it is 7 only when 4 draws are
    the 7, P = 0.010 < 2.5%, and at least 5 with P(Bin(7, 2/7) >= 4) = 0.11: the interval is
    [0, 5], which touches zero and so does not exclude it (issue 40's survivor: ``>=``)."""
    d = [0.0, 0.0, 0.0, 0.0, 3.0, 5.0, 7.0]
    r = difference_summary(list(range(7)), d)
    assert r["median_ci"] == [0.0, 5.0] == plain_median_interval(d)
    assert not r["separates"], "an interval [0, 5] does not exclude 0"
    assert (r["ties"], r["wins"], r["n"]) == (4, 3, 7)
    mirrored = difference_summary(list(range(7)), [-x for x in d])
    assert mirrored["median_ci"] == [-5.0, 0.0] and not mirrored["separates"]
    # the contrast of two cells reads its interval the same way: [0, 0, 0, 0, 3, 5, 7] - 0
    touching = contrast([0.0] * 5, d)
    assert touching["ci"] == [0.0, 5.0] and not touching["separates"]
    assert reading(r) == "does not separate at n = 7"


def test_fewer_than_five_pairs_never_separate():
    """Four positive differences: every resample's median (the mean of its 2nd and 3rd order
    statistics) is >= 1, so the interval excludes zero whatever the seeds did, while an exact
    sign test gives p = 2 / 2^4 = 0.125. Below five pairs the reading says so."""
    four = difference_summary([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0])
    assert four["median_ci"][0] >= 1.0
    assert not four["separates"]
    assert reading(four) == "too few pairs to separate (n = 4 < 5)"
    five = difference_summary(list(range(5)), [1.0, 2.0, 3.0, 4.0, 5.0])
    assert five["median_ci"] == plain_median_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert five["median_ci"][0] >= 1.0 and five["separates"] and reading(five) == "separates"


def test_a_nan_difference_is_refused_not_counted():
    """A NaN is neither a win nor a tie, and its median is undefined: refuse it."""
    with pytest.raises(ValueError, match="not finite"):
        difference_summary(list(range(6)), [1.0, 2.0, float("nan"), 3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="not finite"):
        difference_summary(list(range(5)), [1.0, float("inf"), 3.0, 4.0, 5.0])


def write_run(folder: Path, seed: int, returns: list[float]) -> None:
    """A finished run folder as the trainer writes it (config, eval.csv, summary)."""
    import json

    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"seed: {seed}\n")
    rows = ["step,frames,mean_return"] + [f"{1000 * i},{1000 * i},{r}"
                                           for i, r in enumerate(returns)]
    (folder / "eval.csv").write_text("\n".join(rows) + "\n")
    (folder / "summary.json").write_text(json.dumps(
        {"status": "complete", "final_eval_return": returns[-1]}))


def test_bench_script_pairs_run_folders_by_seed(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    import paired

    for seed in range(5):
        write_run(tmp_path / "A" / f"seed{seed}", seed, [0.0, 10.0, 10.0, 10.0])
        write_run(tmp_path / "B" / f"seed{seed}", seed, [0.0, 20.0, 20.0, 20.0 + seed])
    code = paired.main([str(tmp_path / "A"), str(tmp_path / "B"), "--labels", "none", "aux",
                        "--out", str(tmp_path / "aux_vs_rr0.5")])
    out = capsys.readouterr().out
    assert code == 0
    # final (mean of the last three): differences 10 + seed / 3 = 10, 10.33, 10.67, 11, 11.33:
    # median 10.67; every resample's median lies in [10, 11.33], so the interval is in there
    d = [10.0 + seed / 3 for seed in range(5)]
    lo, hi = plain_median_interval(d)
    # a resample's median (3rd of 5 draws) is the smallest when 3 or more draws are: P(Bin(5,
    # 1/5) >= 3) = 0.058 > 2.5%, likewise the largest: the interval spans [10, 11.33]
    assert [lo, hi] == pytest.approx([10.0, 10.0 + 4 / 3])
    # the ties (B = A) and wins (B > A) columns are named by the labels; no tie, five wins
    assert f"| final | 5 |" in out and f"| +10.7 [{lo:+.1f}, {hi:+.1f}] | 0/5 | 5/5 | separates |" \
        in out, out
    assert "| ties (aux = none) | aux > none |" in out
    # a dot in the name is kept ("rr0.5" must not become "rr0.json")
    assert (tmp_path / "aux_vs_rr0.5.json").exists() and (tmp_path / "aux_vs_rr0.5.md").exists()
    code = paired.main([str(tmp_path / "A"), str(tmp_path / "missing")])
    assert code == 2 and "is not a folder" in capsys.readouterr().err


def test_paired_plot_draws_the_printed_results_and_refuses_bad_input(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    import paired
    import paired_plot

    for seed, shift in enumerate((-5.0, -4.0, -3.0)):
        write_run(tmp_path / "A" / f"seed{seed}", seed, [0.0, 10.0, 10.0, 10.0])
        write_run(tmp_path / "B" / f"seed{seed}", seed, [0.0, 10.0 + shift, 10.0 + shift,
                                                          10.0 + shift])
    assert paired.main([str(tmp_path / "A"), str(tmp_path / "B"), "--out",
                        str(tmp_path / "cell")]) == 0
    png = tmp_path / "forest.png"
    assert paired_plot.main([str(tmp_path / "cell.json")] * 2 + [
        "--names", "one", "two", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # contrast, cell two minus cell one: final differences (B - A) -5, -4, -3 against +1, +2, +3:
    # 2 - (-4) = +6. A cell's resampled median is its low end with P = 7/27 (two or three of the
    # three draws), so each end of the contrast has P >= (7/27)^2 = 0.067 > 2.5%: [+4, +8].
    for seed, shift in enumerate((1.0, 2.0, 3.0)):
        write_run(tmp_path / "C" / f"seed{seed}", seed, [0.0, 10.0 + shift, 10.0 + shift,
                                                          10.0 + shift])
    assert paired.main([str(tmp_path / "A"), str(tmp_path / "C"), "--labels", "A", "B",
                        "--out", str(tmp_path / "cell_two")]) == 0
    capsys.readouterr()
    assert paired_plot.main([str(tmp_path / "cell.json"), str(tmp_path / "cell_two.json"),
                             "--names", "one", "two", "--out", str(png)]) == 0
    assert "| two | final | 3 vs 3 | +6.0 [+4.0, +8.0] |" in capsys.readouterr().out
    # auc = (trapezoids 1000 v / 2 + 1000 v + 1000 v) / 3000 = 5 v / 6: the contrast is 5/6 of 6
    assert "| two | auc | 3 vs 3 | +5.0 [+3.3, +6.7] |" in (tmp_path / "forest.md").read_text()
    assert paired_plot.main([str(tmp_path / "cell.json"), "--names", "a", "b",
                             "--out", str(png)]) == 2
    assert "1 result files" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"x": 1}')
    assert paired_plot.main([str(tmp_path / "bad.json"), "--out", str(png)]) == 2
    assert "not a bench/paired.py result" in capsys.readouterr().err


def test_bench_outputs_sit_beside_a_dotted_stem():
    """Every bench script writes ``<stem>.json/.md/.png``; a stem like ``..._rr0.5`` keeps its tail
    (``Path.with_suffix`` would turn it into ``..._rr0.md``)."""
    from bench.outputs import beside
    assert beside(Path("results/arr_w5_vs_rr0.5"), ".md") == Path("results/arr_w5_vs_rr0.5.md")
    assert beside("results/circuit", ".png") == Path("results/circuit.png")
    with pytest.raises(ValueError, match="suffix"):
        beside("results/circuit", "md")


def pooled_experiment(tmp_path: Path, declared: dict[int, float], replication: dict[int, float]):
    """A two-arm spec (control a, arm b; final = the last evaluation) over seeds ``declared``
    with hand-written run folders in which b - a = the given shift per seed, seeds of both sets;
    the analysis of ``train.py compare --seeds <replication>`` (``write_analysis``) and its
    compare.md."""
    from trainer.experiments.analysis import seed_sets, write_analysis
    from trainer.experiments.spec import load_experiment

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: pool\nbase: {ROOT / 'configs' / 'mlp_swim_ppo.yaml'}\n"
        "arms:\n  a: []\n  b: [agent.actor_lr=1e-3]\ncontrol: a\n"
        f"seeds: {sorted(declared)}\nmetrics:\n  - {{final: 1}}\n"
        f"run_dir: {tmp_path / 'pool'}\n")
    exp = load_experiment(spec)
    for seed, shift in {**declared, **replication}.items():
        for arm, last in (("a", 10.0), ("b", 10.0 + shift)):
            write_run(exp.arm_dir(arm, seed), seed, [0.0, 10.0, last])
    result = write_analysis(exp, seed_sets(exp, sorted(replication)))
    return result, (exp.run_dir / "compare.md").read_text()


def test_pooling_two_batches_on_disjoint_seeds_by_hand(tmp_path):
    """``compare --seeds``' pooled set (what ``bench/paired_pool.py`` computed before issue 35):
    batch 1 (seeds 0-2) has b - a = 0 / 4 / 2, batch 2 (seeds 3-4) has 6 / -1: the pooled
    differences are those five, median 2, b ahead on 3 of 5 (0 is no win), one tie."""
    result, md = pooled_experiment(tmp_path, {0: 0.0, 1: 4.0, 2: 2.0}, {3: 6.0, 4: -1.0})
    declared, replication, pooled = result["sets"]
    assert [declared["seeds"], replication["seeds"], pooled["seeds"]] == \
        [[0, 1, 2], [3, 4], [0, 1, 2, 3, 4]]
    r = pooled["comparisons"]["b"]["final"]
    assert r["seeds"] == [0, 1, 2, 3, 4]
    assert r["differences"] == pytest.approx([0.0, 4.0, 2.0, 6.0, -1.0])
    assert r["median_difference"] == pytest.approx(2.0)
    assert (r["wins"], r["ties"], r["n"]) == (3, 1, 5)
    # a resample's median (its 3rd of 5 draws) is -1 when 3 or more draws are -1:
    # P(Bin(5, 1/5) >= 3) = 0.058 > 2.5%, likewise 6: the interval spans [-1, 6] exactly
    assert r["median_ci"] == [-1.0, 6.0] == plain_median_interval([0.0, 4.0, 2.0, 6.0, -1.0])
    assert r["reading"] == "does not separate at n = 5"
    assert "## pooled, post hoc, seeds 0-4" in md
    assert "| 1/5 | 3/5 | does not separate at n = 5 |" in md


def test_pooled_zero_inflated_differences_print_their_ties(tmp_path):
    """Differences 0, 0, 3 and 0, 0, 5, 7 over the two sets: pooled, the interval [0, 5]
    (computed by hand in ``test_an_interval_touching_zero_does_not_separate``) with 4 ties of 7
    beside it; 3 wins."""
    result, md = pooled_experiment(tmp_path, {0: 0.0, 1: 0.0, 2: 3.0},
                                   {3: 0.0, 4: 0.0, 5: 5.0, 6: 7.0})
    r = result["sets"][2]["comparisons"]["b"]["final"]
    assert r["median_ci"] == [0.0, 5.0]
    assert (r["ties"], r["wins"], r["n"]) == (4, 3, 7)
    assert "| 4/7 | 3/7 | does not separate at n = 7 |" in md


# --- edges a mutation run (cosmic-ray, issue 40) found unpinned --------------------------------

def test_empty_inputs_are_refused_or_reported_as_empty():
    from trainer.analysis import stats

    with pytest.raises(ValueError):
        difference_summary([], [])
    with pytest.raises(ValueError):
        contrast([], [1.0, 2.0])
    with pytest.raises(ValueError):
        contrast([1.0, 2.0], [])
    assert contrast([1.0], [3.0])["contrast"] == 2.0       # one difference per cell is enough
    assert np.isnan(stats.bootstrap_ci([], stats.median)).all()
    assert stats.bootstrap_ci([4.0], stats.median) == (4.0, 4.0)
    empty = stats.summarize([float("nan")])
    assert empty["n"] == 0 and np.isnan(empty["iqm"])


def test_the_median_statistic_reduces_the_last_axis_of_any_shape():
    from trainer.analysis import stats

    assert stats.median(np.array([1.0, 2.0, 10.0])) == 2.0
    assert stats.median(np.array([[1.0, 2.0, 10.0], [0.0, 5.0, 6.0]])).tolist() == [2.0, 5.0]


def test_a_seed_missing_in_either_arm_is_left_out_of_the_pairs():
    a = {0: 1.0, 1: float("nan"), 2: 3.0, 3: 4.0}
    b = {0: 2.0, 1: 5.0, 2: float("nan"), 3: 6.0}
    out = paired_comparison(a, b)
    assert out["seeds"] == [0, 3] and out["differences"] == [1.0, 2.0]


def test_the_default_bootstrap_seed_is_zero():
    """Published intervals were drawn with seed 0: the default must stay 0 to reproduce them."""
    from trainer.analysis import stats

    a = {k: float(k) for k in range(8)}
    b = {k: float(k * k % 7) for k in range(8)}
    assert paired_comparison(a, b) == paired_comparison(a, b, seed=0)
    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0]
    assert stats.bootstrap_ci(x, stats.iqm) == stats.bootstrap_ci(x, stats.iqm, seed=0)
    assert stats.summarize(x) == stats.summarize(x, seed=0)
    v = np.array([[1.0, 2.0], [3.0, 5.0], [2.0, 2.0]])
    band, band0 = stats.curve_band(v), stats.curve_band(v, seed=0)
    assert all(np.array_equal(band[k], band0[k]) for k in band)


def test_a_contrast_separates_below_zero_and_not_across_it():
    below = contrast([0.5] * 6, [0.0] * 6)          # every resample: 0 - 0.5
    assert below["ci"] == [-0.5, -0.5] and below["separates"]
    across = contrast([0.0] * 6, [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])
    assert across["ci"][0] < 0 < across["ci"][1] and not across["separates"]


def test_intervals_inside_minus_one_to_one_separate_by_their_sign_alone():
    """Separation compares the interval with 0, not with +-1 (effects of a fraction of a unit)."""
    below = difference_summary(list(range(6)), [-0.5] * 6)
    assert below["median_ci"] == [-0.5, -0.5] and below["separates"]
    assert contrast([0.0] * 6, [0.5] * 6)["separates"]                   # ci [0.5, 0.5]
    straddle = contrast([0.0] * 6, [-0.5, -0.5, -0.5, 0.5, 0.5, 0.5])
    assert straddle["ci"][0] < 0 < straddle["ci"][1] <= 0.5 and not straddle["separates"]
    touching = contrast([0.0] * 6, [-1.0, -1.0, -1.0, -1.0, 0.0, 0.0])
    assert touching["ci"][1] == 0.0 and not touching["separates"]
