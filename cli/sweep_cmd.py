"""``python train.py sweep [CONFIG.yaml | SWEEP.yaml] [--seeds N] [--grid k=v1,v2] [k=v ...]``.

Runs every grid point (the product of the ``--grid`` values) for every seed through Ray Tune,
embedded locally (one trial per core) or on a cluster (``--address``), each trial an ordinary
run folder ``<sweep>/<label>/seed<k>/`` trained by ``trainer.api.train``. E.g.

  python train.py sweep configs/ncap_swim_ppo.yaml --seeds 10 --grid agent.actor_lr=1e-3,3e-4 \\
      steps=20000 run_dir=runs/sweeps/lr

``run_dir=`` is the sweep folder (default runs/sweeps/<name>); ``seed=`` the first of --seeds N.
Every trial's config is checked before anything runs. Running the same command again resumes:
finished trials are skipped, the others resume from their checkpoints. Ctrl+C stops the sweep
after the running trials checkpoint. At the end ``report.md`` is written (``train.py report``).
Needs the sweep extra: pip install -e ".[sweep]".
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from cli import count
from cli.errors import ArgumentParser, one_line_errors
from trainer.sweep.ray_env import (INSTALL_HINT, MissingDependencyError, local_cpus,
                                   ray_environment, require_ray)
from trainer.analysis.report import write_report
from trainer.sweep.spec import check_folder, expand, resolve_spec, write_spec
from cli.train_cmd import split_args
from configs.loader import ConfigError
from configs.plugins import TRUST_FLAG, TRUST_HELP

EXIT_TRIALS_FAILED = 1
EXIT_STOPPED = 130


def parse(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(prog="python train.py sweep", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("args", nargs="*", metavar="CONFIG.yaml | key=value",
                        help="a preset or sweep file, then key=value overrides of the base config")
    parser.add_argument("--seeds", help="a count N (seeds seed..seed+N-1) or a list, e.g. 0,3,7")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="a grid axis (repeat for more axes), e.g. agent.actor_lr=1e-3,3e-4")
    add_cluster_args(parser)
    parser.add_argument(TRUST_FLAG, action="store_true", help=TRUST_HELP)
    return check_cluster_args(parser.parse_intermixed_args(argv))


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    """``--address`` and ``--max-concurrent``: where trials run and how many at once."""
    parser.add_argument("--address", help="an existing Ray cluster: auto, HOST:PORT or "
                        "ray://HOST:10001 (default: embedded local Ray)")
    parser.add_argument("--max-concurrent", type=int, metavar="N",
                        help="at most N trials at once (default: as many as the CPUs allow)")


def check_cluster_args(args: argparse.Namespace) -> argparse.Namespace:
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise ConfigError(f"--max-concurrent must be >= 1 (got {args.max_concurrent})")
    return args


def ray_backend(local: bool) -> Callable[..., dict[str, dict[str, Any]]]:
    """``trainer.sweep.ray_tune.run_trials``, importing Ray after setting its environment."""
    ray_environment(local)
    try:
        from trainer.sweep.ray_tune import run_trials
    except ImportError as e:
        raise MissingDependencyError(
            f"Ray Tune cannot be imported ({e}): {INSTALL_HINT}") from None
    return run_trials


@one_line_errors
def main(argv: list[str]) -> int:
    args = parse(argv)
    config, overrides = split_args(args.args)
    spec = resolve_spec(config, overrides, args.seeds, args.grid, args.trust_plugins)
    trials = expand(spec)
    check_folder(spec, trials)
    require_ray()
    todo = [t for t in trials if not t.is_finished()]
    run_trials = ray_backend(local=args.address is None) if todo else None
    where = f"Ray cluster {args.address}" if args.address else f"local Ray, {local_cpus()} CPUs"
    if args.max_concurrent:
        where += f", at most {args.max_concurrent} at once"
    configs = len(trials) // len(spec.seeds)
    print(f"sweep {spec.run_dir}: {count(len(trials), 'trial')} ({count(configs, 'config')} x "
          f"{count(len(spec.seeds), 'seed')}), {len(trials) - len(todo)} finished earlier, "
          f"{len(todo)} to run on {where}", flush=True)
    write_spec(spec)
    outcomes = {}
    if run_trials:
        try:
            outcomes = run_trials(todo, spec.run_dir, args.address, args.max_concurrent)
        except KeyboardInterrupt:
            print("sweep aborted; rerun the same command to resume from the trials' last "
                  "checkpoints", file=sys.stderr)
            return EXIT_STOPPED
    report = write_report(spec.run_dir)
    for name, g in report["configs"].items():
        s = g["final_eval_return"]
        iqm = "n/a" if s["iqm"] is None else (
            f"{s['iqm']:.1f} [{s['iqm_ci'][0]:.1f}, {s['iqm_ci'][1]:.1f}]")
        print(f"  {name}: final eval IQM {iqm}, {g['complete']}/{len(g['runs'])} complete"
              + (f", {g['failed']} failed" if g["failed"] else ""))
    print(f"report: {spec.run_dir / 'report.md'}")
    failed = sum(o["status"] == "failed" for o in outcomes.values())
    stopped = sum(o["status"] in ("interrupted", "not started") for o in outcomes.values())
    if stopped:
        print(f"sweep stopped with {count(stopped, 'trial')} unfinished; rerun the same command "
              "to resume",
              file=sys.stderr)
        return EXIT_STOPPED
    if failed:
        print(f"{failed} of {count(len(todo), 'trial')} failed (errors above and in report.md)",
              file=sys.stderr)
        return EXIT_TRIALS_FAILED
    return 0
