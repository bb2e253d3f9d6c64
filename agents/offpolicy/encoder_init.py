"""Frozen-encoder transfer: start an off-policy run from another run's encoder (and ``g``).

``agent.encoder_init`` names a source run folder (its ``checkpoints/<checkpoint>``: ``last``,
``best`` or a file name) or a checkpoint ``.pt``. The new run loads the source's conv encoder
``f`` and, with ``projection: true``, its latent map ``g`` (the source's own projection when
it had one, else its critic trunk) into its own ``g`` (the critic trunk or its projection,
``agent.aux.latent``); the actor, the critic's heads and every optimiser start fresh. With
``freeze: true`` the loaded modules take no gradient (F&S's transfer protocol: Task-A encoder
frozen, Q and T re-initialised). The source must have seen observations of the same shape
(same image size and frame stack; a sibling task of the same body, e.g. walker_walk ->
walker_run); anything else is a one-line ``ConfigError``. The run records where its encoder
came from in ``<run>/encoder_init.json``. Resuming such a run rebuilds its agent from the
config, so the source checkpoint must still exist (its weights are then replaced by the run's
own checkpoint).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.common.checkpoint_file import CheckpointError, load_checkpoint
from configs.errors import ConfigError, echo

KEY = "agent.encoder_init"
RECORD_FILE = "encoder_init.json"


def source_checkpoint(cfg) -> Path:
    """The checkpoint file an ``EncoderInitConfig`` points at."""
    run = Path(cfg.run)
    if run.suffix == ".pt":
        return run
    name = cfg.checkpoint if cfg.checkpoint.endswith(".pt") else f"{cfg.checkpoint}.pt"
    return run / "checkpoints" / name


def _observation_shape(config: dict[str, Any]) -> tuple[int, ...] | None:
    pixels = (config.get("env") or {}).get("pixels")
    if not pixels:
        return None
    return (3 * pixels["frame_stack"], pixels["size"], pixels["size"])


def _latent_state(agent_state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The source's ``g``: its own projection if it had one, else its critic trunk."""
    if agent_state.get("projection") is not None:
        return agent_state["projection"]
    return {k[len("trunk."):]: v for k, v in agent_state["critic"].items()
            if k.startswith("trunk.")}


def _load(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: Path) -> None:
    if not isinstance(state, dict):
        raise ConfigError(f"config error: {KEY}.run: the {what} of {path} is a "
                          f"{type(state).__name__}, not a mapping of tensors")
    own = module.state_dict()
    for name, value in own.items():
        theirs = state.get(name)
        if not isinstance(theirs, torch.Tensor) or tuple(theirs.shape) != tuple(value.shape):
            there = "missing" if theirs is None else (
                tuple(theirs.shape) if isinstance(theirs, torch.Tensor) else
                f"a {type(theirs).__name__}")
            raise ConfigError(f"config error: {KEY}.run: the {what} of {path} does not fit this "
                              f"run ({name}: {there} there, {tuple(value.shape)} here)")
    module.load_state_dict(state)


def load_encoder(cfg, observation_shape: tuple[int, ...], encoder: nn.Module,
                 latent: nn.Module) -> dict[str, Any]:
    """Load the source's encoder (and ``g``) into ``encoder`` (and ``latent``), freezing them
    if asked; returns the record written to ``encoder_init.json``."""
    path = source_checkpoint(cfg)
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        raise ConfigError(f"config error: {KEY}.run: {e}") from None
    agent_state, config = ckpt["agent"], ckpt["config"]   # mappings (load_checkpoint)
    if "encoder" not in agent_state:
        name = (config.get("agent") or {}).get("name", "?") \
            if isinstance(config.get("agent"), (dict, type(None))) else "?"
        raise ConfigError(f"config error: {KEY}.run: {path} holds no pixel encoder (agent "
                          f"{name[:40] if isinstance(name, str) else echo(name)})")
    try:
        shape = _observation_shape(config)
        latent_state = _latent_state(agent_state) if cfg.projection else None
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ConfigError(f"config error: {KEY}.run: {path} is not a checkpoint of a pixel "
                          f"agent ({type(e).__name__} reading its config and weights)") from None
    if shape != tuple(observation_shape):
        raise ConfigError(f"config error: {KEY}.run: the encoder of {path} was trained on "
                          f"observations {shape}, this run's are {tuple(observation_shape)}")
    _load(encoder, agent_state["encoder"], "encoder", path)
    frozen = [encoder]
    if cfg.projection:
        _load(latent, latent_state, "projection g", path)
        frozen.append(latent)
    if cfg.freeze:
        for module in frozen:
            module.requires_grad_(False)
    return {"source": str(path.resolve()), "step": ckpt.get("step"),
            "source_env": (config.get("env") or {}).get("id"),
            "source_run_dir": config.get("run_dir"), "projection": cfg.projection,
            "freeze": cfg.freeze}
