"""``python train.py compare SPEC.yaml [--seeds S] [--address A] [--max-concurrent N]``.

Runs an experiment spec (``trainer/experiments/spec.py``: arms over a base preset, the control,
seeds, outcome metrics fixed in advance, optional post-hoc commands) and writes the paired
analysis of every arm against the control. E.g.

  python train.py compare configs/experiments/ablations.yaml
  python train.py compare configs/experiments/ablations.yaml --seeds 10,11,12,13,14

Every (arm, seed) is a sweep trial in its own run folder ``<run_dir>/<arm>/seed<k>/`` (default
run_dir: runs/experiments/<name>), trained through Ray Tune (embedded locally, one trial per
core, or on a cluster with --address). Every arm's config is checked before anything runs.
Running the same command again resumes: finished runs are reused, unfinished ones resume from
their checkpoints. Then the spec's post-hoc commands run on each finished run, and
compare.md, compare.json, compare.png (forest plot) and compare_curves.png are written to the
experiment folder: per arm vs control and metric, the median paired difference with its
bootstrap 95% interval, ties, IQM per arm and "separates / does not separate at n = N".
--seeds adds a replication set (a list, or a count N: the N seeds after the spec's), reported
on its own and pooled with the spec's seeds ("post hoc" unless the spec's replication: names
it). --analyse-only writes the analysis from the finished runs without training.
``python train.py report <run_dir>`` works on the experiment folder too.
Needs the sweep extra to train: pip install -e ".[sweep]".
"""

from __future__ import annotations

import argparse
import sys

from cli import count
from cli.errors import ArgumentParser, one_line_errors
from cli.sweep_cmd import (EXIT_STOPPED, EXIT_TRIALS_FAILED, add_cluster_args,
                           check_cluster_args, ray_backend)
from configs.loader import ConfigError
from configs.plugins import TRUST_FLAG, TRUST_HELP
from trainer.experiments.analysis import MARKDOWN, seed_sets, write_analysis
from trainer.experiments.run import check_trials, experiment_trials, run_posthoc, write_spec
from trainer.experiments.spec import load_experiment
from trainer.sweep.ray_env import local_cpus, require_ray
from trainer.sweep.spec import parse_seeds


def parse(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(prog="python train.py compare", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", metavar="SPEC.yaml", help="an experiment spec, e.g. "
                        "configs/experiments/ablations.yaml")
    parser.add_argument("--seeds", help="a replication set: a list (e.g. 10,11,12) or a count N "
                        "(the N seeds after the spec's)")
    add_cluster_args(parser)
    parser.add_argument("--analyse-only", action="store_true",
                        help="train nothing: write the analysis from the finished runs")
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    return check_cluster_args(parser.parse_args(argv))


@one_line_errors
def main(argv: list[str]) -> int:
    args = parse(argv)
    exp = load_experiment(args.spec, args.trust_plugins)
    extra = None
    if args.seeds is not None:
        extra = parse_seeds(args.seeds, max(exp.seeds) + 1)
        if set(extra) & set(exp.seeds):
            raise ConfigError(f"bad --seeds '{args.seeds}': seeds "
                              f"{sorted(set(extra) & set(exp.seeds))} are the spec's own; a "
                              "replication set needs new seeds")
    sets = seed_sets(exp, extra)
    trials = experiment_trials(exp, [*exp.seeds, *(extra or [])])
    check_trials(trials)
    outcomes: dict = {}
    if not args.analyse_only:
        todo = [t for t in trials if not t.is_finished()]
        run_trials = None
        if todo:
            require_ray()
            run_trials = ray_backend(local=args.address is None)
        where = f"Ray cluster {args.address}" if args.address else f"local Ray, {local_cpus()} CPUs"
        print(f"experiment {exp.run_dir}: {count(len(trials), 'run')} ({count(len(exp.arms), 'arm')}"
              f" x {count(len(trials) // len(exp.arms), 'seed')}), "
              f"{len(trials) - len(todo)} finished earlier, {len(todo)} to run on {where}",
              flush=True)
        write_spec(exp)
        if run_trials:
            try:
                outcomes = run_trials(todo, exp.run_dir, args.address, args.max_concurrent)
            except KeyboardInterrupt:
                print("compare aborted; rerun the same command to resume", file=sys.stderr)
                return EXIT_STOPPED
        if any(o["status"] in ("interrupted", "not started") for o in outcomes.values()):
            print("post hoc not started: the compare was stopped (rerun the same command to "
                  "resume)", file=sys.stderr)
        else:
            for failure in run_posthoc(exp, trials):
                print(f"post hoc failed: {failure}", file=sys.stderr)
    result = write_analysis(exp, sets)
    for st in result["sets"]:
        print(f"{st['label']}:")
        for arm, by_metric in st["comparisons"].items():
            for metric, r in by_metric.items():
                diff = ("" if r["n"] == 0 else f"median difference {r['median_difference']:+.4g} "
                        f"[{r['median_ci'][0]:+.4g}, {r['median_ci'][1]:+.4g}], ")
                print(f"  {arm} - {exp.control}, {metric}: {diff}{r['reading']}")
    print(f"analysis: {exp.run_dir / MARKDOWN}")
    if result["left_out"]:
        print(f"left out: {'; '.join(result['left_out'])}", file=sys.stderr)
    failed = sum(o["status"] == "failed" for o in outcomes.values())
    stopped = sum(o["status"] in ("interrupted", "not started") for o in outcomes.values())
    if stopped:
        print(f"compare stopped with {count(stopped, 'run')} unfinished; rerun the same command "
              "to resume", file=sys.stderr)
        return EXIT_STOPPED
    if failed:
        print(f"{failed} of {count(len(outcomes), 'run')} failed (trial.json in their folders)",
              file=sys.stderr)
        return EXIT_TRIALS_FAILED
    return 0
