"""bench/transfer_pairs.py against hand counts on hand-written transfer tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("transfer_pairs", ROOT / "bench/transfer_pairs.py")
transfer_pairs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(transfer_pairs)

HEADER = "policy,env,length,mass,friction,mean_return,returns\n"


def _write(run: Path, rows: list[tuple[str, float, float, list[float]]]) -> None:
    run.mkdir(parents=True)
    lines = [f"{p},dmc:quadruped-walk,{length},1.0,{fr},{sum(r) / len(r)},{' '.join(map(str, r))}"
             for p, length, fr, r in rows]
    (run / "transfer.csv").write_text(HEADER + "\n".join(lines) + "\n")


def test_counts_bodies_and_episode_pairs_by_hand(tmp_path):
    exp = tmp_path / "exp"
    # body (0.8, 1): A ahead on both seeds; body (1.2, 1): A behind on seed 0, ahead on 1
    # (median of +-: (-2 + 4) / 2 = +1 > 0); the untrained rows must be ignored.
    _write(exp / "a/seed0", [("exp", 0.8, 1.0, [10, 0]), ("exp", 1.2, 1.0, [1, 1]),
                             ("untrained", 0.8, 1.0, [-99, -99])])
    _write(exp / "b/seed0", [("exp", 0.8, 1.0, [4, 2]), ("exp", 1.2, 1.0, [2, 2]),
                             ("untrained", 0.8, 1.0, [99, 99])])
    _write(exp / "a/seed1", [("exp", 0.8, 1.0, [3, 3]), ("exp", 1.2, 1.0, [6, 6])])
    _write(exp / "b/seed1", [("exp", 0.8, 1.0, [1, 1]), ("exp", 1.2, 1.0, [2, 2])])
    res = transfer_pairs.pairs(exp, "a", "b", "exp")
    by_len = {r["body"]["length"]: r for r in res["bodies"]}
    assert set(by_len) == {"0.8", "1.2"} and res["n_bodies"] == 2
    assert by_len["0.8"]["diffs"] == pytest.approx([5 - 3, 3 - 1])
    assert by_len["1.2"]["diffs"] == pytest.approx([1 - 2, 6 - 2])
    assert by_len["1.2"]["median_diff"] == pytest.approx(1.5)
    assert by_len["1.2"]["seeds_ahead"] == 1
    # episode pairs: (10>4, 0<2), (3>1, 3>1) -> 3 of 4; (1<2, 1<2), (6>2, 6>2) -> 2 of 4
    assert (by_len["0.8"]["episodes_ahead"], by_len["1.2"]["episodes_ahead"]) == (3, 2)
    assert res["bodies_ahead"] == 2 and res["episodes_ahead"] == 5 and res["episodes"] == 8


def test_writes_its_table_and_refuses_a_missing_policy(tmp_path):
    exp = tmp_path / "exp"
    _write(exp / "a/seed0", [("exp", 0.8, 1.0, [1.0])])
    _write(exp / "b/seed0", [("exp", 0.8, 1.0, [2.0])])
    transfer_pairs.main([str(exp), "a", "b"])
    assert "a ahead (median over seeds > 0) on **0 of 1 bodies**" in (exp / "transfer_pairs.md").read_text()
    with pytest.raises(SystemExit, match="no row with policy 'other'"):
        transfer_pairs.main([str(exp), "a", "b", "--policy", "other"])


def test_split_by_a_reference_row_classes_episodes_by_hand(tmp_path):
    exp = tmp_path / "exp"
    # the reference ("untrained") row of arm a: episode 0 above 500, episode 1 below
    _write(exp / "a/seed0", [("exp", 1.0, 1.0, [900, 5]), ("untrained", 1.0, 1.0, [990, 3])])
    _write(exp / "b/seed0", [("exp", 1.0, 1.0, [600, 30]), ("untrained", 1.0, 1.0, [0, 999])])
    res = transfer_pairs.split(exp, "a", "b", "exp", "untrained", 500)
    assert res["untrained > 500"] == {"episodes": 1, "mean_a": 900, "mean_b": 600,
                                      "a_ahead": 1, "b_ahead": 0}
    assert res["untrained <= 500"] == {"episodes": 1, "mean_a": 5, "mean_b": 30,
                                       "a_ahead": 0, "b_ahead": 1}
