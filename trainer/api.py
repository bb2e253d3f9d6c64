"""``train(cfg) -> summary``: the pure entry point every front end (CLI, sweeps) calls.

Running ``train`` on a run folder that holds ``checkpoints/last.pt`` resumes it exactly; a run
folder with another config is refused. Nothing is written before the config, the env and the
agent have been built successfully. The process holds the folder's writer lock while it trains
(``RunDir.exclusive``): a second ``train`` on the same folder stops at once, writing nothing.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from agents import check_agent_config, make_agent
from agents.common.base import attach_run
from agents.common.device import resolve_device
from configs.errors import no_run_folder
from configs.loader import ConfigError, load_config, read_yaml, validate
from configs.schema import RunConfig
from envs import make_env
from trainer.checkpoint import load_agent_state, load_checkpoint, resume_state, seed_everything
from trainer.logger import Logger
from trainer.loop import Trainer
from trainer.files import write_atomic
from trainer.policy_source import announce as announce_policy
from trainer.rundir import RunDir

log = logging.getLogger(__name__)


def build(cfg: RunConfig, env_seed: int | None = None, acting_only: bool = False):
    """``(env, agent, device)`` for a config, seeded from ``cfg.seed``.

    ``acting_only`` builds an agent that only acts (``agents.make_agent``: no replay buffer or
    rollout segment): for evaluation, rendering and transfer.
    """
    if cfg.torch_threads is not None:
        torch.set_num_threads(cfg.torch_threads)
    device = resolve_device(cfg.device)
    check_agent_config(cfg)
    seed_everything(cfg.seed)
    env = make_env(cfg.env, seed=cfg.seed if env_seed is None else env_seed)
    agent = make_agent(cfg, env.observation_space, env.action_space, env=env, device=device,
                       acting_only=acting_only)
    return env, agent, device


def untrained_agent(cfg: RunConfig, env):
    """The acting-only agent ``cfg`` describes at its initialisation (seeded from ``cfg.seed``,
    as ``build`` seeds it), for an env already built."""
    seed_everything(cfg.seed)
    return make_agent(cfg, env.observation_space, env.action_space, env=env,
                      device=resolve_device(cfg.device), acting_only=True)


def train(cfg: RunConfig, trust_checkpoint: bool = False) -> dict[str, Any]:
    """Train (or resume) the run ``cfg`` describes; writes and returns ``summary.json``.

    ``trust_checkpoint`` loads the checkpoint it resumes from with full pickle
    (``train.py --trust-checkpoint``): only for one's own run folder whose checkpoints an
    older version wrote; by default a checkpoint outside the safe format is refused.
    It imports no plug-in: ``cfg``'s were loaded when it was validated (``load_config``), and
    a folder whose stored config names another one is another config (refused).
    """
    run = RunDir(cfg.resolved_run_dir())
    ckpt, built = None, None
    if not run.path.exists():  # a new folder is created once its config and checkpoint load
        if cfg.trainer.resume_from:
            ckpt = resume_state(run.checkpoints, cfg.trainer.resume_from, trust_checkpoint)
        built = build(cfg)
    with run.exclusive():
        return _train_locked(cfg, run, built, ckpt, trust_checkpoint)


def _train_locked(cfg: RunConfig, run: RunDir, built, ckpt: dict | None,
                  trust_checkpoint: bool) -> dict[str, Any]:
    if ckpt is None and (run.is_resumable() or cfg.trainer.resume_from):
        run.check_same_config(cfg)
        ckpt = resume_state(run.checkpoints, cfg.trainer.resume_from, trust_checkpoint)
    if ckpt and ckpt["step"] > cfg.steps:
        raise ConfigError(f"run folder {run.path} is at step {ckpt['step']:,}, past steps="
                          f"{cfg.steps}: give steps >= {ckpt['step']} to extend it, or another "
                          "run_dir; nothing was changed")
    env, agent, _ = built or build(cfg)
    eval_env = make_env(cfg.env, seed=cfg.seed + cfg.trainer.eval_seed_offset)
    train_env = training_envs(cfg, env)
    try:
        return _train_envs(cfg, run, train_env, eval_env, agent, ckpt)
    finally:
        if train_env is not env:
            train_env.close()  # the worker processes end with the run, whatever stopped it


def training_envs(cfg: RunConfig, env):
    """The env the loop steps: ``env`` itself for ``trainer.num_envs = 1``, else a
    ``VectorEnv`` of the N envs over ``trainer.env_workers`` processes (``envs/vector.py``;
    ``env`` then only gave the agent its spaces and body)."""
    n = cfg.trainer.num_envs
    if n == 1:
        return env
    from envs.vector import VectorEnv, default_workers

    workers = cfg.trainer.env_workers or default_workers(n)
    return VectorEnv(cfg.env, n, workers, cfg.seed)


def _train_envs(cfg: RunConfig, run: RunDir, env, eval_env, agent,
                ckpt: dict | None) -> dict[str, Any]:
    start = ckpt["step"] if ckpt else None
    trainer = Trainer(cfg, run, env, eval_env, agent, seed=cfg.seed)
    if ckpt:
        trainer.restore(ckpt)  # before anything is written: a mismatch leaves the folder as it was
    for warning in config_warnings(cfg):  # once every check passed: no warning before an error
        log.warning("warning: %s", warning)
    killed_early = start is None and run.config_file.exists()  # before its first checkpoint
    run.prepare(cfg, resumed_at=start)
    attach_run(agent, run.path, lambda seed: make_env(cfg.env, seed=seed))
    if ckpt:
        if start == cfg.steps:
            log.info("%s already finished at step %s: nothing to do (give a larger steps= to "
                     "extend it)", run.path, f"{start:,}")
        else:
            log.info("resuming %s from step %s of %s", run.path, f"{start:,}", f"{cfg.steps:,}")
        trainer.ckpt.drop_after(start)
    elif killed_early:
        log.info("%s: no checkpoint yet: starting from step 0", run.path)
    logger = trainer.log = Logger(run, cfg.steps, start, cfg.trainer.tensorboard,
                                  cfg.trainer.progress, cfg.trainer.progress_seconds)
    t0 = time.perf_counter()
    try:
        status = trainer.run()
    finally:
        logger.close(trainer.session_rate())
    summary = {
        "run_dir": str(run.path),
        "status": "interrupted" if status["interrupted"] else "complete",
        "resumed_from_step": start or 0,
        "env_steps": trainer.step,
        "frames": trainer.step * trainer.frames_per_step,
        "episodes": trainer.episodes,
        "initial_eval_return": trainer.initial_eval,
        "final_eval_return": trainer.last_eval,
        "best_eval_return": trainer.best_eval if trainer.last_eval is not None else None,
        "steps_per_second": trainer.step / trainer.train_seconds if trainer.train_seconds else None,
        "train_seconds": trainer.train_seconds,
        "session_wall_seconds": time.perf_counter() - t0,
        "parameters": getattr(agent, "trainable_parameters", lambda: {})(),
        **getattr(agent, "summary", lambda: {})(),
        "last_eval_step": trainer.last_eval_step,
        "files": {"config": str(run.config_file), "metrics": str(run.metrics_csv),
                  "eval": str(run.eval_csv), "tensorboard": str(run.tb),
                  "last_checkpoint": str(run.last_checkpoint),
                  "best_checkpoint": str(run.checkpoints / "best.pt")},
    }
    listed = {Path(p).name for p in summary["files"].values()} | {"train.lock", "summary.json"}
    summary["files"].update({p.name: str(p) for p in sorted(run.path.iterdir())
                             if p.is_file() and p.name not in listed})  # agents' own tables
    write_atomic(run.summary_file, json.dumps(summary, indent=2) + "\n")
    return summary


def config_warnings(cfg: RunConfig) -> list[str]:
    """Settings that are valid but make a run do less than it looks: no update at all."""
    agent = cfg.agent
    if agent.name == "ppo" and cfg.steps < agent.segment:
        return [f"steps={cfg.steps} is below one PPO segment (agent.segment={agent.segment}): "
                "no update will run, the policy stays at its initialisation"]
    if hasattr(agent, "seed_frames"):
        frames_per_step = cfg.env.pixels.action_repeat if cfg.env.pixels is not None else 1
        if cfg.steps * frames_per_step <= agent.seed_frames:
            return [f"steps={cfg.steps} ({cfg.steps * frames_per_step} frames) does not pass "
                    f"agent.seed_frames={agent.seed_frames}: no update will run"]
    return []


def load_run_config(target: str | Path, overrides: list[str] | None = None,
                    trust_plugins: bool = False) -> tuple[RunConfig, Path | None]:
    """Config of a run folder, a checkpoint file or a YAML preset, with overrides applied.

    Returns ``(cfg, checkpoint_path)``; the checkpoint is None for a preset (untrained policy).
    Plug-ins the file names load only with ``trust_plugins`` (``train.py --trust-plugins``);
    those an override names always do (``configs/plugins.py``).
    """
    from configs.loader import apply_overrides
    from configs.plugins import on_command_line

    trusted = trust_plugins or on_command_line(overrides)
    p = Path(target)
    if not p.exists() and p.suffix not in (".yaml", ".yml", ".pt"):
        raise no_run_folder(p)
    if p.is_dir():
        if not (p / "config.yaml").exists():
            raise ConfigError(f"{p} is not a run folder (no config.yaml)")
        ckpt = p / "checkpoints" / "best.pt"
        if not ckpt.exists():
            ckpt = p / "checkpoints" / "last.pt"
        if not ckpt.exists():
            raise ConfigError(f"run folder {p} has no checkpoint yet (checkpoints/last.pt)")
        return validate(apply_overrides(read_yaml(p / "config.yaml"), overrides or []),
                        p / "config.yaml", trusted), ckpt
    if p.suffix == ".pt":
        state = load_checkpoint(p)
        return validate(apply_overrides(state["config"], overrides or []), p, trusted), p
    return load_config(p, overrides, trust_plugins), None


def _describe_spaces(env) -> str:
    return (f"observation shape {tuple(env.observation_space.shape)}, action shape "
            f"{tuple(env.action_space.shape)}")


def check_policy_fits(trained_cfg: RunConfig, cfg: RunConfig, env, agent) -> None:
    """``ConfigError`` (one line) when the policy trained on ``trained_cfg`` cannot act on
    ``env`` (the body ``cfg`` describes): other observation or action shapes, unless the policy
    is body-independent (a weight-shared NCAP runs on any joint count)."""
    same_shapes = {"body": cfg.env.body, "length_scale": cfg.env.length_scale,
                   "density": cfg.env.density, "viscosity": cfg.env.viscosity}
    if trained_cfg.env.model_copy(update=same_shapes) == cfg.env or \
            getattr(agent, "body_independent", False):
        return
    trained = make_env(trained_cfg.env.model_copy(update={"pixels": None}))
    if trained_cfg.env.pixels is not None:
        px = trained_cfg.env.pixels
        shape = (3 * px.frame_stack, px.size, px.size)
    else:
        shape = trained.observation_space.shape
    if shape == env.observation_space.shape and \
            trained.action_space.shape == env.action_space.shape:
        trained.close()
        return
    trained.close()
    where = (f"n_joints={trained_cfg.env.n_joints}" if trained_cfg.env.id == "swim"
             else trained_cfg.env.id)
    here = f"n_joints={cfg.env.n_joints}" if cfg.env.id == "swim" else cfg.env.id
    raise ConfigError(
        f"this policy was trained on {where} (observation shape {tuple(shape)}, action shape "
        f"{tuple(trained.action_space.shape)}) and its parameter shapes depend on the body (e.g. "
        f"an MLP or an unshared circuit); it cannot run on {here} ({_describe_spaces(env)})")


def load_policy(target: str | Path, overrides: list[str] | None = None, trained: bool = True,
                trust_plugins: bool = False):
    """``(cfg, agent, env)`` ready to act on the (possibly overridden) body of ``target``.

    The agent is built for acting only (no replay buffer) on the overridden env; a
    trained policy is loaded from the checkpoint (``trained=False``: the run's own config at
    its initialisation, the untrained policy). A policy whose shapes depend on the body (MLP,
    unshared circuit) is refused with one line on a body with other observation or action
    shapes. ``trust_plugins`` as in ``load_run_config``, for the run's config and the config
    stored in its checkpoint (checked before anything is built).
    """
    cfg, ckpt_path = load_run_config(target, overrides, trust_plugins)
    state, trained_cfg = None, None
    if ckpt_path is not None and trained:
        state = load_checkpoint(ckpt_path)
        trained_cfg = validate(state["config"], ckpt_path, trust_plugins)
    env, agent, _ = build(cfg, acting_only=True)
    if state is not None:
        check_policy_fits(trained_cfg, cfg, env, agent)
        load_agent_state(agent.load_policy, state, ckpt_path)
    announce_policy(ckpt_path if trained else None, target, state)
    return cfg, agent, env
