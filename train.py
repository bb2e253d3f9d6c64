#!/usr/bin/env python
"""Single command-line entry point of the toolkit.

    python train.py [CONFIG.yaml] [key=value ...]             train (default preset: NCAP + PPO, swim N=5)
    python train.py evaluate <CONFIG.yaml | RUN_DIR | CKPT.pt> [--episodes N] [key=value ...]

Run ``python train.py --help`` for every subcommand and config key.

No traceback reaches a user: every error of every subcommand ends as one line on stderr,
``error: ...``, and an exit code: 2 for bad input (a config or argument error, a busy or
corrupt run folder), 1 for a failure of the run itself (an ``OSError`` such as a full disk,
named with its file, or any unexpected error), 130 for Ctrl+C. ``BIOEMBODIED_DEBUG=1`` shows
the traceback instead.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede dm_control imports
DEBUG_ENV = "BIOEMBODIED_DEBUG"
EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130

# subcommand -> module with ``main(argv) -> int``
SUBCOMMANDS = {
    "train": ("cli.train_cmd", "train an agent (the default when no subcommand is given)"),
    "evaluate": ("cli.evaluate_cmd", "evaluate a run folder, checkpoint or config's initial policy"),
    "transfer": ("cli.transfer_cmd", "evaluate a policy zero-shot on a grid of bodies of its task"),
    "gait": ("cli.gait_cmd", "gait of a policy's body: undulation or footfalls, beside the worm"),
    "render": ("cli.render_cmd", "write an MP4/GIF of a rollout (text, live circuit activity)"),
    "activity": ("cli.activity_cmd", "PNG of a rollout's circuit activity and the wired circuit"),
    "plot": ("cli.plot_cmd", "curves of any logged metric of run folders (bootstrap CI)"),
    "sweep": ("cli.sweep_cmd", "run seeds x a grid of overrides through Ray Tune, then report"),
    "report": ("cli.report_cmd", "aggregate a sweep's run folders: IQM, bootstrap CIs, curves"),
    "represent": ("cli.represent_cmd", "representation metrics of a run's checkpoints (probe set)"),
    "compare": ("cli.compare_cmd", "run an experiment spec (arms vs a control), then the paired analysis"),
}

USAGE = """usage: python train.py [SUBCOMMAND] [CONFIG.yaml] [key=value ...]

Bio-inspired embodied RL toolkit. With no subcommand, trains CONFIG.yaml (default:
configs/ncap_swim_ppo.yaml) with key=value overrides, e.g.

  python train.py configs/mlp_swim_ppo.yaml steps=20000 seed=3 run_dir=/tmp/r1

Running the same command again on an interrupted run folder resumes it exactly
(--trust-checkpoint: resume your own run whose checkpoints an older version pickled).
--trust-plugins imports the plug-ins (Python code) a preset, run folder, checkpoint or sweep
file names; without it such a file stops the command (plugins=[...] given here needs no flag).

subcommands (python train.py SUBCOMMAND --help for details):
{subcommands}

config keys (key=value on the command line; dotted keys address sections; aliases: {aliases}):
{keys}
"""


def print_help() -> None:
    from configs.loader import ALIASES, describe_keys

    subs = "\n".join(f"  {name:<10} {desc}" for name, (_, desc) in SUBCOMMANDS.items())
    rows = describe_keys()
    width = max(len(k) for k, _, _ in rows)
    keys = "\n".join(f"  {k:<{width}}  {d:<12} {desc}" for k, d, desc in rows)
    aliases = ", ".join(f"{a} -> {t}" for a, t in ALIASES.items())
    print(USAGE.format(subcommands=subs, keys=keys, aliases=aliases))


def main(argv: list[str]) -> int:
    # the toolkit's modules log start-up facts (GL backend, render speed, replay RAM) at INFO;
    # third-party libraries only warnings
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    for package in ("agents", "envs", "circuits", "trainer", "cli"):
        logging.getLogger(package).setLevel(logging.INFO)
    # MuJoCo's compiler warns (through absl) that dm_control's cheetah/walker XML uses the
    # deprecated `settotalmass`; the model is still compiled as dm_control intends
    logging.getLogger("absl").setLevel(logging.ERROR)
    if argv and argv[0] in ("-h", "--help"):
        print_help()
        return 0
    if argv and argv[0] not in SUBCOMMANDS:
        guess = subcommand_guess(argv[0])
        if guess:
            print(f"error: unknown subcommand '{argv[0]}' (did you mean {guess}?)",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
    name = argv[0] if argv and argv[0] in SUBCOMMANDS else "train"
    rest = argv[1:] if argv and argv[0] in SUBCOMMANDS else argv
    if name == "train" and any(a in ("-h", "--help") for a in rest):
        print_help()
        return 0
    return run_subcommand(name, rest)


def subcommand_guess(word: str) -> str:
    """The subcommands a bare first word (no ``=``, path or option) was likely meant as
    (``eval`` -> ``evaluate``, ``rendr`` -> ``render``), or ``""``."""
    if any(c in word for c in "=/.") or word.startswith("-") or os.path.exists(word):
        return ""
    starts = [s for s in SUBCOMMANDS if len(word) >= 3 and s.startswith(word)]
    return " or ".join(starts or difflib.get_close_matches(word, SUBCOMMANDS, n=2, cutoff=0.75))


def run_subcommand(name: str, argv: list[str]) -> int:
    """Import and run a subcommand; any exception becomes one line and an exit code."""
    from cli.errors import error_line, user_errors

    try:
        # importing may fail too, e.g. envs finds no working GL backend (a ConfigError)
        return importlib.import_module(SUBCOMMANDS[name][0]).main(argv)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        if os.environ.get(DEBUG_ENV):
            raise
        if isinstance(e, user_errors()):
            print(error_line(e), file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(e, OSError):
            print(error_line(e), file=sys.stderr)
            return EXIT_FAILURE
        print(f"{error_line(e)} ({type(e).__name__}; set {DEBUG_ENV}=1 for the traceback)",
              file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
