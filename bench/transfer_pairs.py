"""Per-body pairs of two arms' transfer tables: on how many bodies is arm A ahead of arm B?

An experiment's post-hoc ``transfer`` writes ``transfer.csv`` into every run folder
``<experiment>/<arm>/seed<k>/``. For each body of the grid (every combination of the body
columns that vary) and each seed both arms ran, the pair is

    d(body, seed) = mean_return_A(body, seed) - mean_return_B(body, seed)

(the trained policy's row, ``policy`` = ``--policy``, default the experiment's name). A body
counts for A when the median of its ``d`` over seeds is > 0. Episode pairs go one level finer:
both arms ran the same episode seeds on every body, so episode ``e`` of seed ``k`` pairs with
itself, and ``A ahead`` counts those with ``return_A > return_B`` (the ``returns`` column).

    python bench/transfer_pairs.py runs/experiments/quadruped_walk ncap mlp

prints one row per body and the totals, and writes ``transfer_pairs.md`` and
``transfer_pairs.json`` to the experiment folder (``--out`` elsewhere).

``--split-by POLICY --split-at X`` also splits the episode pairs into two classes by another row
of arm A's own table on the same body and episode (e.g. ``untrained``: the quadruped's untrained
circuit scores above 500 exactly on the starts that are upright) and reports each class's mean
return per arm and who is ahead:

    python bench/transfer_pairs.py runs/experiments/quadruped_walk ncap mlp --split-by untrained --split-at 500
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

BODY_COLUMNS = ("env", "n_joints", "length_scale", "density", "viscosity", "length", "mass",
                "gear", "damping", "friction")


def episode_returns(row: dict) -> list[float]:
    return [float(x) for x in row["returns"].split()]


def read_rows(run: Path, policy: str) -> dict[tuple, dict]:
    """``{body: row}`` of the trained policy's rows in ``run/transfer.csv``."""
    with open(run / "transfer.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["policy"] == policy]
    if not rows:
        raise SystemExit(f"error: {run / 'transfer.csv'} has no row with policy {policy!r}")
    cols = [c for c in BODY_COLUMNS if c in rows[0]]
    return {tuple((c, r[c]) for c in cols): r for r in rows}


def seeds_of(exp: Path, arm: str) -> dict[int, Path]:
    runs = {int(p.name.removeprefix("seed")): p for p in sorted((exp / arm).glob("seed*"))
            if (p / "transfer.csv").exists()}
    if not runs:
        raise SystemExit(f"error: no {exp / arm}/seed*/transfer.csv")
    return runs


def split(exp: Path, arm_a: str, arm_b: str, policy: str, by: str, at: float) -> dict:
    """Episode pairs in two classes: ``by``'s return on that body and episode (arm A's own
    table) above ``at``, or not; per class the count, each arm's mean and who is ahead."""
    a, b = seeds_of(exp, arm_a), seeds_of(exp, arm_b)
    classes = {f"{by} > {at:g}": [], f"{by} <= {at:g}": []}
    for s in sorted(set(a) & set(b)):
        ta, tb, ref = read_rows(a[s], policy), read_rows(b[s], policy), read_rows(a[s], by)
        for body in sorted(set(ta) & set(tb) & set(ref)):
            for x, y, r in zip(episode_returns(ta[body]), episode_returns(tb[body]),
                               episode_returns(ref[body])):
                classes[f"{by} > {at:g}" if r > at else f"{by} <= {at:g}"].append((x, y))
    out = {}
    for name, ps in classes.items():
        xs, ys = [x for x, _ in ps], [y for _, y in ps]
        out[name] = {"episodes": len(ps), f"mean_{arm_a}": statistics.fmean(xs) if ps else None,
                     f"mean_{arm_b}": statistics.fmean(ys) if ps else None,
                     f"{arm_a}_ahead": sum(x > y for x, y in ps),
                     f"{arm_b}_ahead": sum(y > x for x, y in ps)}
    return out


def pairs(exp: Path, arm_a: str, arm_b: str, policy: str) -> dict:
    """The per-body pairs (module docstring) as data."""
    a, b = seeds_of(exp, arm_a), seeds_of(exp, arm_b)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise SystemExit(f"error: arms {arm_a} and {arm_b} share no seed with a transfer table")
    tables = {s: (read_rows(a[s], policy), read_rows(b[s], policy)) for s in seeds}
    bodies = sorted(set.intersection(*(set(ta) & set(tb) for ta, tb in tables.values())))
    varying = [i for i in range(len(bodies[0])) if len({body[i][1] for body in bodies}) > 1]
    out = []
    for body in bodies:
        d, ep_ahead, ep_total = [], 0, 0
        for s in seeds:
            ra, rb = tables[s][0][body], tables[s][1][body]
            d.append(float(ra["mean_return"]) - float(rb["mean_return"]))
            ea, eb = episode_returns(ra), episode_returns(rb)
            if len(ea) != len(eb):
                raise SystemExit(f"error: seed {s}, body {body}: {len(ea)} vs {len(eb)} episodes")
            ep_ahead += sum(x > y for x, y in zip(ea, eb))
            ep_total += len(ea)
        out.append({"body": {body[i][0]: body[i][1] for i in varying}, "diffs": d,
                    "median_diff": statistics.median(d), "seeds_ahead": sum(x > 0 for x in d),
                    "episodes_ahead": ep_ahead, "episodes": ep_total})
    return {"experiment": str(exp), "arm_a": arm_a, "arm_b": arm_b, "policy": policy,
            "seeds": seeds, "bodies": out,
            "bodies_ahead": sum(r["median_diff"] > 0 for r in out), "n_bodies": len(out),
            "episodes_ahead": sum(r["episodes_ahead"] for r in out),
            "episodes": sum(r["episodes"] for r in out)}


def table(res: dict) -> str:
    a, b = res["arm_a"], res["arm_b"]
    keys = list(res["bodies"][0]["body"]) if res["bodies"] else []
    lines = [f"| {' | '.join(keys)} | {a} - {b} per seed | median | seeds {a} ahead | "
             f"episodes {a} ahead |", "|" + "---|" * (len(keys) + 4)]
    for r in res["bodies"]:
        lines.append(f"| {' | '.join(r['body'].values())} | "
                     f"{', '.join(f'{x:+.1f}' for x in r['diffs'])} | {r['median_diff']:+.1f} | "
                     f"{r['seeds_ahead']}/{len(r['diffs'])} | {r['episodes_ahead']}/{r['episodes']} |")
    lines.append(f"\n{a} ahead (median over seeds > 0) on **{res['bodies_ahead']} of "
                 f"{res['n_bodies']} bodies**; on {res['episodes_ahead']} of {res['episodes']} "
                 f"episode pairs (seeds {', '.join(map(str, res['seeds']))}).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", type=Path, help="experiment folder (runs/experiments/NAME)")
    ap.add_argument("arm_a")
    ap.add_argument("arm_b")
    ap.add_argument("--policy", help="policy label of the trained rows (default: the folder name)")
    ap.add_argument("--out", type=Path, help="output folder (default: the experiment folder)")
    ap.add_argument("--split-by", help="a reference row of arm A's table (e.g. untrained)")
    ap.add_argument("--split-at", type=float, default=0.0, help="with --split-by: the threshold")
    args = ap.parse_args(argv)
    policy = args.policy or args.experiment.name
    res = pairs(args.experiment, args.arm_a, args.arm_b, policy)
    text = table(res)
    if args.split_by:
        res["split"] = split(args.experiment, args.arm_a, args.arm_b, policy, args.split_by,
                             args.split_at)
        a, b = args.arm_a, args.arm_b
        text += (f"\n\nEpisode pairs split by the `{args.split_by}` row's return on the same "
                 f"body and episode:\n\n| class | episodes | mean {a} | mean {b} | {a} ahead | "
                 f"{b} ahead |\n|---|---|---|---|---|---|\n" + "\n".join(
                     f"| {k} | {v['episodes']} | {v[f'mean_{a}'] or float('nan'):.1f} | "
                     f"{v[f'mean_{b}'] or float('nan'):.1f} | {v[f'{a}_ahead']} | "
                     f"{v[f'{b}_ahead']} |" for k, v in res["split"].items()))
    print(text)
    out = args.out or args.experiment
    out.mkdir(parents=True, exist_ok=True)
    cmd = "python bench/transfer_pairs.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "transfer_pairs.md").write_text(f"Command: `{cmd}`\n\n{text}\n")
    (out / "transfer_pairs.json").write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
