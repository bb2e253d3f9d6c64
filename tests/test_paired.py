"""Paired comparisons (issue 22's tool): outcome metrics and paired differences by hand, and the
bench script on real (tiny) run folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer.analysis.runs import curve_area, final_score
from trainer.analysis.stats import contrast, paired_comparison

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
    assert r["median_difference"] == 1.0 and r["wins"] == 2
    # the bootstrap median of three values from {0, 1, 2} stays in [0, 2]
    assert 0.0 <= r["median_ci"][0] <= r["median_ci"][1] <= 2.0


def test_a_constant_shift_separates_and_a_symmetric_one_does_not():
    a = {k: float(k) for k in range(10)}
    shifted = paired_comparison(a, {k: v + 5.0 for k, v in a.items()})
    assert shifted["median_ci"] == [5.0, 5.0] and shifted["separates"]
    noise = {k: v + (3.0 if k % 2 else -3.0) for k, v in a.items()}
    mixed = paired_comparison(a, noise)
    assert mixed["median_ci"][0] < 0 < mixed["median_ci"][1] and not mixed["separates"]


def test_contrast_of_two_cells_by_hand():
    """median(d2) - median(d1); a cell whose differences are all 7 vs one all 2 gives exactly 5,
    and two cells drawn from the same symmetric spread do not separate."""
    fixed = contrast([2.0] * 6, [7.0] * 8)
    assert fixed["contrast"] == 5.0 and fixed["ci"] == [5.0, 5.0] and fixed["separates"]
    assert fixed["n"] == [6, 8]
    # medians: [1, 3, 4, 10, nan] -> 3.5 ; [-5, 0, 2, 9] -> 1.0 ; contrast 1.0 - 3.5
    spread = contrast([1.0, 3.0, 4.0, 10.0, float("nan")], [-5.0, 0.0, 2.0, 9.0])
    assert spread["contrast"] == -2.5 and spread["n"] == [4, 4]
    assert spread["ci"][0] < 0 < spread["ci"][1] and not spread["separates"]
    with pytest.raises(ValueError, match="no finite difference"):
        contrast([float("nan")], [1.0])


def test_no_shared_seed_is_an_error():
    with pytest.raises(ValueError, match="share no seed"):
        paired_comparison({0: 1.0}, {1: 1.0})


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

    for seed in range(4):
        write_run(tmp_path / "A" / f"seed{seed}", seed, [0.0, 10.0, 10.0, 10.0])
        write_run(tmp_path / "B" / f"seed{seed}", seed, [0.0, 20.0, 20.0, 20.0 + seed])
    code = paired.main([str(tmp_path / "A"), str(tmp_path / "B"), "--labels", "none", "aux",
                        "--out", str(tmp_path / "aux_vs_rr0.5")])
    out = capsys.readouterr().out
    assert code == 0
    # final: differences 10, 10.33, 10.67, 11 -> median 10.5, every resample > 0
    assert "| final | 4 |" in out and "+10.5" in out and "separates" in out
    assert "| aux > none |" in out and "| 4/4 |" in out  # the win count is named by the labels
    # a dot in the name is kept ("rr0.5" must not become "rr0.json")
    assert (tmp_path / "aux_vs_rr0.5.json").exists() and (tmp_path / "aux_vs_rr0.5.md").exists()
    code = paired.main([str(tmp_path / "A"), str(tmp_path / "missing")])
    assert code == 2 and "is not a folder" in capsys.readouterr().err


def test_arms_trace_is_the_mean_over_finished_seeds_at_each_step(tmp_path):
    """``bench/arms.py --trace``: the mean over the seeds with a summary.json of a metric at
    each step; a step no run logged is None; an unfinished seed is left out."""
    from bench.arms import trace

    def run(seed: int, fau: dict[int, float], returns: dict[int, float], done: bool = True):
        folder = tmp_path / "arm" / f"seed{seed}"
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text("step,loss/critic,fau/critic\n" + "".join(
            f"{s},0.1,{'' if v is None else v}\n" for s, v in fau.items()))
        (folder / "eval.csv").write_text("step,mean_return\n" + "".join(
            f"{s},{v}\n" for s, v in returns.items()))
        if done:
            (folder / "summary.json").write_text("{}")

    run(0, {1000: 0.5, 2000: None}, {0: 10.0, 1000: 20.0})
    run(1, {1000: 0.7, 2000: 0.9}, {0: 30.0, 1000: 60.0})
    run(2, {1000: 99.0, 2000: 99.0}, {0: 99.0, 1000: 99.0}, done=False)
    assert trace(tmp_path / "arm", "fau/critic", [1000, 2000, 3000]) == (2, [0.6, 0.9, None])
    assert trace(tmp_path / "arm", "return", [0, 1000]) == (2, [20.0, 40.0])


def test_paired_plot_draws_the_printed_results_and_refuses_bad_input(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    import paired
    import paired_plot

    for seed in range(3):
        write_run(tmp_path / "A" / f"seed{seed}", seed, [0.0, 10.0, 10.0, 10.0])
        write_run(tmp_path / "B" / f"seed{seed}", seed, [0.0, 5.0, 5.0, 5.0 + seed])
    assert paired.main([str(tmp_path / "A"), str(tmp_path / "B"), "--out",
                        str(tmp_path / "cell")]) == 0
    png = tmp_path / "forest.png"
    assert paired_plot.main([str(tmp_path / "cell.json")] * 2 + [
        "--names", "one", "two", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a cell contrasted with itself: the same median, so 0 (its interval is the bootstrap's)
    assert "| two | final | 3 vs 3 | +0.0 [" in capsys.readouterr().out
    assert "| two | auc |" in (tmp_path / "forest.md").read_text()
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


def test_pooling_two_batches_on_disjoint_seeds_by_hand(tmp_path, capsys):
    """Batch 1 (seeds 0-2) has B - A = 0 / 4 / 2 on final, batch 2 (seeds 3-4) has 6 / -1: the
    pooled differences are those five, median 2, B ahead on 3 of 5 (0 is no win). Overlapping
    seeds and a comparison of other arms are refused."""
    sys.path.insert(0, str(ROOT / "bench"))
    import paired
    import paired_pool

    batches = {"one": {0: 0.0, 1: 4.0, 2: 2.0}, "two": {3: 6.0, 4: -1.0}}
    for name, shifts in batches.items():
        for seed, shift in shifts.items():
            write_run(tmp_path / name / "A" / f"seed{seed}", seed, [0.0, 10.0, 10.0, 10.0])
            write_run(tmp_path / name / "B" / f"seed{seed}", seed,
                      [0.0, 10.0 + shift, 10.0 + shift, 10.0 + shift])
        assert paired.main([str(tmp_path / name / "A"), str(tmp_path / name / "B"), "--labels",
                            "a", "b", "--out", str(tmp_path / name)]) == 0
    capsys.readouterr()
    out = tmp_path / "pooled"
    assert paired_pool.main([str(tmp_path / "one.json"), str(tmp_path / "two.json"),
                             "--out", str(out)]) == 0
    pooled = json.loads((tmp_path / "pooled.json").read_text())["results"]["final"]
    assert sorted(pooled["seeds"]) == [0, 1, 2, 3, 4]
    assert sorted(pooled["differences"]) == pytest.approx([-1.0, 0.0, 2.0, 4.0, 6.0])
    assert pooled["median_difference"] == pytest.approx(2.0)
    assert pooled["wins"] == 3 and pooled["n"] == 5
    low, high = pooled["median_ci"]
    assert -1.0 <= low <= 2.0 <= high <= 6.0
    assert "| final | 5 | +2.0 [" in capsys.readouterr().out
    assert paired_pool.main([str(tmp_path / "one.json")] * 2) == 2
    assert "disjoint seeds" in capsys.readouterr().err
    other = json.loads((tmp_path / "two.json").read_text())
    other["labels"] = ["a", "c"]
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert paired_pool.main([str(tmp_path / "one.json"), str(tmp_path / "other.json")]) == 2
    assert "mixed comparisons" in capsys.readouterr().err
