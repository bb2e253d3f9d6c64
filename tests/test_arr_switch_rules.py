"""bench/arr_switch_rules.py's check of real adaptive runs against the replayed rule."""

from __future__ import annotations

import json

import pytest
import yaml

from bench.arr_switch_rules import THRESHOLD, check_real_runs

TABLE = {"paper (window 1)": [{"seed": 0, "switch_step": 4000}, {"seed": 1, "switch_step": None}],
         "window 5": [{"seed": 0, "switch_step": 6000}, {"seed": 1, "switch_step": 8000}]}


def real_run(folder, seed, switch, window=1, interval=2, steps=15000):
    run = folder / f"seed{seed}"
    run.mkdir(parents=True)
    rr = {"type": "adaptive", "low": 0.5, "high": 2.0, "interval": interval,
          "threshold": THRESHOLD, "trough_guard": False, "window": window}
    (run / "config.yaml").write_text(yaml.safe_dump({"steps": steps, "agent": {"rr_schedule": rr}}))
    (run / "summary.json").write_text(json.dumps({"rr_switch_step": switch}))


def test_real_runs_are_matched_seed_by_seed_and_a_difference_is_named(tmp_path):
    real_run(tmp_path / "arr", 0, 4000)
    real_run(tmp_path / "arr", 1, 10000)          # the replay says: never
    (tmp_path / "arr" / "seed2").mkdir()           # unfinished: no summary, left out
    out = check_real_runs(f"1={tmp_path / 'arr'}", [0, 1, 2], 2, 15000, TABLE)
    assert out["rule"] == "paper (window 1)"
    assert [(r["seed"], r["equal"]) for r in out["runs"]] == [(0, True), (1, False)]
    assert out["runs"][1]["replayed_switch_step"] is None


def test_a_window_is_read_from_its_own_row(tmp_path):
    real_run(tmp_path / "w5", 1, 8000, window=5)
    out = check_real_runs(f"5={tmp_path / 'w5'}", [1], 2, 15000, TABLE)
    assert out["runs"] == [{"seed": 1, "real_switch_step": 8000, "replayed_switch_step": 8000,
                            "equal": True}]


@pytest.mark.parametrize("spec_window, run_kwargs", [
    ("1", {"window": 5}),           # the run used another rule than the one it is checked on
    ("1", {"interval": 1}),
    ("1", {"steps": 30000}),
])
def test_a_run_of_another_rule_or_budget_is_refused(tmp_path, spec_window, run_kwargs):
    real_run(tmp_path / "arr", 0, 4000, **run_kwargs)
    with pytest.raises(SystemExit, match="differ from the replayed rule"):
        check_real_runs(f"{spec_window}={tmp_path / 'arr'}", [0], 2, 15000, TABLE)


@pytest.mark.parametrize("spec", ["arr", "3=somewhere"])
def test_a_bad_spec_is_refused(spec):
    with pytest.raises(SystemExit, match="expected W=FOLDER"):
        check_real_runs(spec, [0], 2, 15000, TABLE)


def test_switch_steps_against_the_rr05_trough(tmp_path, capsys):
    """bench/arr_switch_steps.py: the trough is the RR 0.5 run's lowest logged critic FAU; a switch
    at or before it is in the trough, a later one is not, none is never-switched."""
    from bench.arr_switch_steps import main, trough_step

    def finished(run, switch=None, fau=None):
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({"rr_switch_step": switch}))
        if fau is not None:
            rows = ["step,fau/critic", "500,"] + [f"{s},{v}" for s, v in fau]
            (run / "metrics.csv").write_text("\n".join(rows) + "\n")

    # seed 0 dips to its lowest at 3000; seed 1 only rises (lowest at its first log)
    finished(tmp_path / "rr0.5/seed0", fau=[(2500, 0.50), (3000, 0.48), (3500, 0.49), (4000, 0.52)])
    finished(tmp_path / "rr0.5/seed1", fau=[(2500, 0.50), (3000, 0.51), (3500, 0.52)])
    finished(tmp_path / "arr/seed0", switch=3000)      # at the lowest point: in the trough
    finished(tmp_path / "arr/seed1", switch=3500)      # after it
    finished(tmp_path / "arr_w5/seed0", switch=None)   # never
    finished(tmp_path / "arr_w5/seed1", switch=2500)   # at it
    assert trough_step(tmp_path / "rr0.5/seed0") == 3000
    assert trough_step(tmp_path / "rr0.5/seed1") == 2500
    out = tmp_path / "switches_rr0.5"
    assert main([str(tmp_path), "--adaptive", "arr", "arr_w5", "--seeds", "0", "1", "2",
                 "--out", str(out)]) == 0
    result = json.loads((tmp_path / "switches_rr0.5.json").read_text())
    assert [r["in_trough"] for r in result["arr"]] == [True, False]
    assert [r["in_trough"] for r in result["arr_w5"]] == [None, True]
    table = (tmp_path / "switches_rr0.5.md").read_text()
    assert "| arr | 2 | 0/2 | 3250 | 1/2 | 3000 3500 | 3000 2500 |" in table
    assert "| arr_w5 | 2 | 1/2 | 2500 | 1/2 | - 2500 | 3000 2500 |" in table
    assert main([str(tmp_path), "--adaptive", "nope", "--seeds", "0"]) == 2
    assert "no such arm folder" in capsys.readouterr().err
