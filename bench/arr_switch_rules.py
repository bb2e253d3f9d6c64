"""When would the Adaptive RR switch, under the paper's rule and under the windowed rule? (issue 22)

Before its switch an adaptive run *is* a fixed RR 0.5 run: the schedule only reads the critic's
FAU and draws no random number. So one recording run per seed, held at RR 0.5 for the whole
budget, gives the FAU stream that every rule would see up to its switch, and each rule's switch
can be replayed exactly on it (``agents/plasticity/triggers.py``, which agrees with the
schedule's own rule: ``tests/test_triggers.py``). The recording runs are the adaptive schedule
checking every episode with a threshold no change meets (1e-12), so they write the per-episode
FAU (``fau_episodes.csv``) and the first update's FAU (the first row of ``rr_checks.csv``).

Task and budget as ``bench/arr_cpu.py``: ``configs/offpolicy_cartpole_swingup.yaml`` from states,
``--steps`` agent steps, updates from step 2000. Rules (threshold 1e-3, RR 0.5 -> 2, check every
``--interval`` episodes): ``paper`` (window 1) and ``window W`` for each ``--windows`` value.
Per rule: the switch step of each seed, how many seeds switch inside the early FAU trough (at or
before the episode of the lowest per-episode FAU of the RR 0.5 stream) and how many never switch.
``--validate-seed k`` also trains one real adaptive run (paper rule) and checks that its switch
step equals the replayed one; ``--validate-runs W=FOLDER`` checks finished real adaptive runs
(``FOLDER/seed<k>``, e.g. an arm of a ``train.py compare`` experiment) with window ``W`` the same
way, seed by seed.

Writes ``bench/results/<name>.{json,md}``; runs go to ``bench/runs/<name>/``.

    python bench/arr_switch_rules.py --steps 15000 --seeds 0 1 2 3 4 5 6 7 8 9 --windows 3 5 \\
        --validate-seed 0
    python bench/arr_switch_rules.py --steps 15000 --windows 3 5 \\
        --validate-runs 1=bench/runs/arr_return_cartpole/arr 5=bench/runs/arr_return_cartpole/arr_w5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from agents.plasticity.triggers import Labels, MetricTrigger  # noqa: E402
from bench.outputs import beside  # noqa: E402

PRESET = ROOT / "configs/offpolicy_cartpole_swingup.yaml"
THRESHOLD = 1e-3


def common(steps: int, seed: int, run: Path) -> list[str]:
    return [f"steps={steps}", f"seed={seed}", f"run_dir={run}", "agent.seed_frames=2000",
            "agent.explore_steps=2000", "trainer.eval_every=2500", "trainer.eval_episodes=3",
            "trainer.log_every=500", f"trainer.checkpoint_every={steps}",
            "trainer.progress=false", "trainer.tensorboard=false", "torch_threads=1"]


def train(overrides: list[str]) -> None:
    from configs.loader import load_config
    from trainer.api import train as train_run

    train_run(load_config(PRESET, overrides))


def read_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open() as fh:
        return list(csv.DictReader(fh))


def replay(run: Path, interval: int, window: int) -> dict:
    """The switch a rule would make on a recording run's FAU stream."""
    episodes = read_csv(run / "fau_episodes.csv")
    first = float(read_csv(run / "rr_checks.csv")[0]["previous_fau"])
    rule = MetricTrigger("fau/critic", "levelled", threshold=THRESHOLD, every=interval,
                         window=window, once=True,
                         labels=Labels(fire="switch", done="already switched"))
    fau = np.array([float(e["fau"]) for e in episodes])
    switch = None
    for k, e in enumerate(episodes):
        n, mean = int(e["updates"]), float(e["fau"])
        values = [mean] * n
        if k == 0:   # the very first update's FAU is the paper rule's first reference
            values = [first] + [(mean * n - first) / (n - 1)] * (n - 1) if n > 1 else [first]
        for v in values:
            rule.observe({"fau/critic": v})
        if rule.end_episode(int(e["episode"]), int(e["step"])):
            switch = (k, int(e["episode"]), int(e["step"]))
    trough = int(fau.argmin())
    out = {"lowest_fau_episode": int(episodes[trough]["episode"]), "switch_step": None,
           "switch_episode": None, "in_trough": None}
    if switch is not None:
        out.update(switch_step=switch[2], switch_episode=switch[1],
                   in_trough=bool(switch[0] <= trough))
    return out


def check_real_runs(spec: str, seeds: list[int], interval: int, steps: int,
                    table: dict[str, list[dict]]) -> dict:
    """Switch steps of finished real adaptive runs in ``FOLDER/seed<k>`` (window ``W``) against
    the replay of the same rule on the recorded streams, seed by seed."""
    from configs.loader import read_yaml

    window, sep, folder = spec.partition("=")
    name = "paper (window 1)" if window == "1" else f"window {window}"
    if not sep or name not in table:
        raise SystemExit(f"error: --validate-runs {spec!r}: expected W=FOLDER with W = 1 or one "
                         f"of --windows")
    replayed = {r["seed"]: r["switch_step"] for r in table[name]}
    rows = []
    for seed in seeds:
        run = Path(folder) / f"seed{seed}"
        if not (run / "summary.json").exists():
            continue
        cfg = read_yaml(run / "config.yaml")
        rr = cfg["agent"]["rr_schedule"]
        wanted = {"type": "adaptive", "interval": interval, "threshold": THRESHOLD,
                  "window": int(window), "low": 0.5, "high": 2.0}
        if {k: rr.get(k) for k in wanted} != wanted or cfg["steps"] != steps:
            raise SystemExit(f"error: {run}: its rr_schedule or steps differ from the replayed "
                             f"rule ({rr}, steps {cfg['steps']})")
        real = json.loads((run / "summary.json").read_text()).get("rr_switch_step")
        rows.append({"seed": seed, "real_switch_step": real, "replayed_switch_step":
                     replayed[seed], "equal": real == replayed[seed]})
    return {"rule": name, "folder": folder, "runs": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=15_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--interval", type=int, default=2, help="check every N episodes")
    ap.add_argument("--windows", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--validate-seed", type=int, default=None)
    ap.add_argument("--validate-runs", nargs="+", default=[], metavar="W=FOLDER",
                    help="finished real adaptive runs to check against the replay of window W")
    ap.add_argument("--name", default="arr_switch_rules")
    args = ap.parse_args(argv)
    runs = ROOT / "bench" / "runs" / args.name
    record = ["agent.rr_schedule={type: adaptive, low: 0.5, high: 2, interval: 1, "
              "threshold: 1.0e-12}"]
    for seed in args.seeds:
        run = runs / "record" / f"seed{seed}"
        if not (run / "summary.json").exists():
            train([*common(args.steps, seed, run), *record])
            print(f"recorded seed {seed}", flush=True)
    rules = {"paper (window 1)": 1, **{f"window {w}": w for w in args.windows}}
    table: dict[str, list[dict]] = {
        name: [{"seed": s, **replay(runs / "record" / f"seed{s}", args.interval, w)}
               for s in args.seeds] for name, w in rules.items()}
    result: dict = {"command": "python bench/arr_switch_rules.py " + " ".join(
        sys.argv[1:] if argv is None else argv), "steps": args.steps, "seeds": args.seeds,
        "interval": args.interval, "threshold": THRESHOLD, "rules": table}
    if args.validate_seed is not None:
        run = runs / "validate" / f"seed{args.validate_seed}"
        if not (run / "summary.json").exists():
            train([*common(args.steps, args.validate_seed, run),
                   "agent.rr_schedule={type: adaptive, low: 0.5, high: 2, "
                   f"interval: {args.interval}, threshold: {THRESHOLD}}}"])
        real = json.loads((run / "summary.json").read_text()).get("rr_switch_step")
        predicted = next(r["switch_step"] for r in table["paper (window 1)"]
                         if r["seed"] == args.validate_seed)
        result["validation"] = {"seed": args.validate_seed, "real_switch_step": real,
                                "replayed_switch_step": predicted, "equal": real == predicted}
    result["run_checks"] = [check_real_runs(spec, args.seeds, args.interval, args.steps, table)
                            for spec in args.validate_runs]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    lines = [f"`{result['command']}` (commit {commit}): cartpole_swingup from states, "
             f"{args.steps} steps, RR 0.5 -> 2, threshold {THRESHOLD}, check every "
             f"{args.interval} episodes, n = {len(args.seeds)} seeds", "",
             "| rule | switch step per seed | median | switched in the early trough | "
             "never switched |", "|---|---|---:|---:|---:|"]
    for name, rows in table.items():
        steps = [r["switch_step"] for r in rows]
        done = [s for s in steps if s is not None]
        lines.append(f"| {name} | {' '.join('-' if s is None else str(s) for s in steps)} | "
                     f"{np.median(done):.0f} | " if done else f"| {name} | - | - | ")
        lines[-1] += (f"{sum(bool(r['in_trough']) for r in rows)}/{len(rows)} | "
                      f"{sum(s is None for s in steps)}/{len(rows)} |")
    if "validation" in result:
        v = result["validation"]
        lines += ["", f"Validation, seed {v['seed']}: a real adaptive run switched at step "
                  f"{v['real_switch_step']}, the replay says {v['replayed_switch_step']} "
                  f"({'equal' if v['equal'] else 'DIFFERENT'})."]
    for check in result["run_checks"]:
        rows = check["runs"]
        differ = [f"seed {r['seed']}: real {r['real_switch_step']}, replay "
                  f"{r['replayed_switch_step']}" for r in rows if not r["equal"]]
        lines += ["", f"Real adaptive runs, {check['rule']} (`{check['folder']}`): "
                  f"{sum(r['equal'] for r in rows)}/{len(rows)} switch where the replay says"
                  + (f"; differ: {'; '.join(differ)}." if differ else ".")]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "bench" / "results" / args.name
    beside(out, ".md").write_text(text + "\n")
    beside(out, ".json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
