"""``python train.py [--trust-checkpoint] [--trust-plugins] [CONFIG.yaml] [key=value ...]``:
train or resume a run.

``--trust-checkpoint`` resumes from a checkpoint with full pickle: only for one's own run
folder whose checkpoints an older version of the toolkit wrote (``trainer/checkpoint.py``).
``--trust-plugins`` imports the plug-ins the preset (or its ``base:`` chain) names: Python
code, so only for a preset one trusts (``configs/plugins.py``); ``plugins=[...]`` on the
command line needs no flag.
"""

from __future__ import annotations

import shlex

from cli.errors import one_line_errors
from configs.loader import ConfigError, load_config


def split_args(argv: list[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG.yaml] [key=value ...]`` -> ``(config path or None, overrides)``."""
    config, overrides = None, []
    for arg in argv:
        if "=" in arg:
            overrides.append(arg)
        elif arg.startswith("-"):
            raise ConfigError(f"unknown option '{arg}' (see python train.py --help)")
        elif config is None:
            config = arg
        else:
            raise ConfigError(f"unexpected argument '{arg}': give one config file and key=value overrides")
    return config, overrides


def format_summary(s: dict, command: str = "") -> str:
    """The end-of-run lines: steps, evaluation returns, speed, the replay ratio's switch (adaptive
    RR), every file written and, for an interrupted run, how to resume it."""
    def num(v, fmt="{:.1f}"):
        return "n/a" if v is None else fmt.format(v)

    interrupted = s["status"] == "interrupted"
    files = "\n".join(f"  {k:<16} {v}" for k, v in s["files"].items())
    params = ", ".join(f"{k} {v:,}" for k, v in s.get("parameters", {}).items())
    episodes = s["episodes"]
    at = f" at step {s['last_eval_step']:,}" if s.get("last_eval_step") is not None else ""
    rr = ""
    if "rr_switch_step" in s:
        rr = (f"  replay ratio       switched to {s['rr_final']:g} at step {s['rr_switch_step']:,} "
              f"(episode {s['rr_switch_episode']})\n" if s["rr_switch_step"] is not None else
              f"  replay ratio       not switched (still {s['rr_final']:g})\n")
    resume = (f"resume: run the same command again ({command})\n" if interrupted and command
              else "")
    return (f"\nrun {s['status']}: {s['run_dir']}\n"
            f"  env steps          {s['env_steps']:,} (frames {s['frames']:,}, "
            f"{episodes} episode{'s' * (episodes != 1)})\n"
            f"  eval return        initial {num(s['initial_eval_return'])} -> "
            f"{'latest' if interrupted else 'final'} {num(s['final_eval_return'])}{at} "
            f"(best {num(s['best_eval_return'])})\n"
            f"  training speed     {num(s['steps_per_second'], '{:.0f}')} env steps/s "
            f"(excluding evaluation)\n"
            + (f"  parameters         {params}\n" if params else "")
            + rr
            + f"outputs:\n{files}\n  summary          {s['run_dir']}/summary.json\n" + resume)


@one_line_errors
def main(argv: list[str]) -> int:
    from trainer.api import train
    from agents.common.checkpoint_file import TRUST_FLAG
    from configs.plugins import TRUST_FLAG as TRUST_PLUGINS

    config, overrides = split_args([a for a in argv if a not in (TRUST_FLAG, TRUST_PLUGINS)])
    cfg = load_config(config, overrides, trust_plugins=TRUST_PLUGINS in argv)
    summary = train(cfg, trust_checkpoint=TRUST_FLAG in argv)
    print(format_summary(summary, " ".join(["python train.py", *map(shlex.quote, argv)])))
    return 130 if summary["status"] == "interrupted" else 0
