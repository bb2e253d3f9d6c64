"""A plug-in outside the packages (``tests/test_plugins.py``): a replay-ratio schedule, an
auxiliary loss and an intervention, each a config section plus an implementation, registered
by name.

Selected by a config that lists this file under ``plugins:``::

    plugins: [tests/plugins/toy_plugin.py]
    agent:
      rr_schedule: {type: toy_step, early: 0.5, late: 2.0, switch_step: 150}
      aux: {losses: [{type: toy_norm, target: 1.0}]}
      toy_scale: {factor: 0.5, every_updates: 100}

The implementation paths name this module by ``__name__`` (the loader imports a plug-in file
under a name of its own).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from agents.auxiliary.base import AuxLoss
from configs.base import StrictModel
from configs.registry import register


class ToyStepRRConfig(StrictModel):
    """A replay ratio that steps once: ``early`` updates per agent step before ``switch_step``,
    ``late`` from it on."""

    type: Literal["toy_step"] = "toy_step"
    early: float = Field(0.5, gt=0)
    late: float = Field(2.0, gt=0)
    switch_step: int = Field(100, ge=1)


class ToyStepReplayRatio:
    """``ToyStepRRConfig``'s schedule: the credit ``c <- c + rr(step)``, ``floor(c)`` due."""

    def __init__(self, early: float, late: float, switch_step: int):
        self.early, self.late, self.switch_step = early, late, switch_step
        self.credit = 0.0
        self.last_step: int | None = None
        self.rows: list[dict[str, Any]] = []

    @classmethod
    def from_config(cls, cfg: ToyStepRRConfig, frames_per_step: int = 1) -> "ToyStepReplayRatio":
        return cls(cfg.early, cfg.late, cfg.switch_step)

    @property
    def rr(self) -> float:
        step = self.last_step or 0
        return self.early if step < self.switch_step else self.late

    def updates_due(self, agent_step: int) -> int:
        if agent_step == self.last_step:
            return 0
        if self.last_step is not None and self.last_step < self.switch_step <= agent_step:
            self.rows.append({"step": agent_step, "rr": self.late})
        self.last_step = agent_step
        self.credit += self.rr
        due = math.floor(self.credit)
        self.credit -= due
        return due

    def observe(self, metrics: dict[str, Any]) -> None:
        pass

    def on_episode_end(self, info: dict[str, Any]) -> None:
        pass

    def pop_records(self) -> dict[str, list[dict[str, Any]]]:
        rows, self.rows = self.rows, []
        return {"toy_rr_switch": rows}

    def summary(self) -> dict[str, Any]:
        return {"toy_rr_final": self.rr}

    def state_dict(self) -> dict[str, Any]:
        return {"credit": self.credit, "last_step": self.last_step, "rows": list(self.rows)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.credit, self.last_step = state["credit"], state["last_step"]
        self.rows = list(state["rows"])


class ToyNormAuxConfig(StrictModel):
    """An auxiliary loss pulling the latent's mean square ``mean(z^2)`` to ``target``."""

    type: Literal["toy_norm"] = "toy_norm"
    weight: float = Field(1.0, ge=0)
    label: str | None = None
    target: float = Field(1.0, ge=0)


class ToyNormLoss(AuxLoss):
    """``L = (mean(z^2) - target)^2`` on the online latent ``z`` of ``o_t`` only."""

    obs_offsets = ()   # encodes no later observation

    def __init__(self, label: str, target: float):
        super().__init__(label)
        self.target = target

    @classmethod
    def from_config(cls, cfg: ToyNormAuxConfig, label: str, latent_dim: int,
                    action_dim: int) -> "ToyNormLoss":
        return cls(label, cfg.target)

    def forward(self, batch, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        square = batch.z.pow(2).mean()
        return (square - self.target) ** 2, {f"aux/{self.label}/z_square": square.detach()}


class ToyScaleConfig(StrictModel):
    """Scale the critic's last layer by ``factor`` every ``every_updates`` updates."""

    factor: float = Field(0.5, gt=0)
    every_updates: int = Field(100, ge=1)


class ToyScale:
    """``ToyScaleConfig``'s intervention (``agents.protocols.Intervention``), after updates."""

    phase = "after"

    def __init__(self, cfg: ToyScaleConfig, total_steps: int = 0):
        self.cfg, self.done = cfg, 0

    @staticmethod
    def check(agent_cfg: Any, cfg: ToyScaleConfig) -> None:
        pass

    def due(self, step: int, updates: int) -> bool:
        return updates % self.cfg.every_updates == 0

    def apply(self, agent: Any) -> tuple[list[dict[str, Any]], dict[str, float]]:
        with torch.no_grad():
            agent.critic.q1.out.weight.mul_(self.cfg.factor)
        self.done += 1
        return [{"module": "critic", "factor": self.cfg.factor}], {}

    def summary(self) -> dict[str, Any]:
        return {"toy_scales": self.done}

    def state_dict(self) -> dict[str, Any]:
        return {"toy_scales_done": self.done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = state.get("toy_scales_done", 0)


register("intervention", "toy_scale", ToyScaleConfig, f"{__name__}:ToyScale")
register("rr_schedule", "toy_step", ToyStepRRConfig, f"{__name__}:ToyStepReplayRatio.from_config")
register("aux_loss", "toy_norm", ToyNormAuxConfig, f"{__name__}:ToyNormLoss.from_config")
