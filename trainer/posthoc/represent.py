"""Representation metrics of any checkpoint of a run, after the fact (``python train.py
represent``): the same metrics the agent logs during training
(``agents/plasticity/representation.py``), on the run's own probe set (``<run>/probe.npz``,
drawn now if the run has none), so runs and checkpoints can be compared on the same states.
Rows go to ``<run>/representation.csv``.

The agent must expose ``latents(obs) -> (N, d)`` (the off-policy agents: ``g(f(o))``, no
augmentation). A transferred run is measured with its own trained weights (the source it was
initialised from is not read again).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from agents.common.checkpoint_file import check_archive
from agents.plasticity.representation import PROBE_FILE, load_or_collect, representation_metrics
from configs.loader import ConfigError, apply_overrides, read_yaml, validate
from envs import make_env
from trainer.api import build
from trainer.checkpoint import load_agent_state, load_checkpoint
from trainer.files import write_atomic
from trainer.rundir import RunDir

REPORT_FILE = "representation.csv"


def run_checkpoints(run_dir: Path, names: list[str] | None = None) -> list[Path]:
    """The named checkpoints of a run (``step_0000001000``, ``best``, ``last`` or file names),
    default every periodic ``step_*.pt`` plus ``best.pt``."""
    folder = RunDir(run_dir).checkpoints
    if names:
        paths = [folder / (n if n.endswith(".pt") else f"{n}.pt") for n in names]
        for p in paths:
            if not p.is_file():
                raise ConfigError(f"--checkpoint: {p} not found (have: "
                                  f"{', '.join(sorted(q.stem for q in folder.glob('*.pt')))})")
        return paths
    paths = sorted(folder.glob("step_*.pt")) + sorted(folder.glob("best.pt"))
    if not paths:
        raise ConfigError(f"run folder {run_dir} has no checkpoints yet")
    return paths


def measure(run_dir: str | Path, names: list[str] | None = None,
            trust_plugins: bool = False) -> list[dict[str, Any]]:
    """One row of metrics per checkpoint: ``checkpoint``, ``step`` and ``repr/*``. Plug-ins the
    run's config names load only with ``trust_plugins`` (``configs/plugins.py``)."""
    run = RunDir(run_dir)
    if not run.config_file.exists():
        raise ConfigError(f"{run.path} is not a run folder (no config.yaml)")
    stored = validate(read_yaml(run.config_file), run.config_file, trust_plugins)
    if not hasattr(stored.agent, "representation"):
        raise ConfigError(f"representation metrics need an off-policy agent (agent.name drqv2 or "
                          f"offpolicy); {run.path} is a {stored.agent.name} run, which has no "
                          "latent to measure")
    cfg = validate(apply_overrides(read_yaml(run.config_file), ["agent.encoder_init=null"]),
                   run.config_file, trust_plugins)
    paths = run_checkpoints(run.path, names)
    # the probe set's archive and every checkpoint (mapped, not read) are checked before
    # anything is built or written: a bad, foreign or bombing one stops the command with the
    # run folder as it was
    if (run.path / PROBE_FILE).exists():
        check_archive(run.path / PROBE_FILE)
    ckpts = [load_checkpoint(path, mmap=True) for path in paths]
    env, agent, _ = build(cfg)
    env.close()
    rcfg = cfg.agent.representation
    probe = load_or_collect(run.path, lambda seed: make_env(cfg.env, seed=seed),
                            rcfg.probe_episodes, rcfg.probe_stride, rcfg.probe_seed)
    rows = []
    for path, ckpt in zip(paths, ckpts):
        # weights only: the replay is not needed
        load_agent_state(lambda state: agent.load_state_dict(dict(state, replay=None)), ckpt,
                         path)
        rows.append({"checkpoint": path.stem, "step": ckpt["step"],
                     **representation_metrics(agent.latents(probe.obs), probe, rcfg.ridge)})
    return rows


def write_report(run_dir: str | Path, rows: list[dict[str, Any]]) -> Path:
    path = Path(run_dir) / REPORT_FILE
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())
    return path
