"""What the off-policy agent (``agents/offpolicy/agent.py``) hands the run folder and the loop:
the run-folder hook, latents for the representation metrics, its metrics, tables and summary.

Logged per update: ``loss/critic``, ``loss/actor``, ``q``, ``target_q``, ``batch_reward`` (mean
``R_n``), ``actor_std`` (``sigma``), ``rr`` and (unless ``critic_fau: false``) ``fau/critic``:
the fraction of positive units over the critic's hidden ReLU layers in its own training pass
(augmented obs, buffer actions), pooled over batch x units x layers (Ma et al. 2024). With ``plasticity_metrics`` also
``fau/encoder``, ``fau/actor`` and the tau-dormant ratios ``dormant0/...``,
``dormant0.025/...`` of critic and actor (``agents/plasticity/metrics.py``). Metrics stay on the
device until the loop drains them (``pending_metrics``). Checkpoints and loading:
``agents/offpolicy/state.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.offpolicy.encoder_init import RECORD_FILE
from configs.safe_files import write_atomic


class OffPolicyOutputs:
    """Mixin of ``OffPolicyAgent``: ``attach_run``, ``latents``, ``pending_metrics``,
    ``records``, ``summary``."""

    def attach_run(self, run_dir, make_env) -> None:
        """Run-folder hook (``agents/common/base.py``): the probe set's home; the encoder's origin."""
        self.representation.attach(run_dir, make_env)
        record = Path(run_dir) / RECORD_FILE
        if self.encoder_source is not None and not record.exists():
            write_atomic(record, json.dumps(self.encoder_source, indent=2) + "\n")

    @torch.no_grad()
    def latents(self, obs: np.ndarray, chunk: int = 256) -> np.ndarray:
        """``z = g(f(o))`` (no augmentation) of observations ``(N, ...)``: ``(N, d)``."""
        out = [self.latent_map(self.encoder(self._tensor(obs[i:i + chunk]))).cpu().numpy()
               for i in range(0, len(obs), chunk)]
        return np.concatenate(out)

    def pending_metrics(self) -> dict[str, list[float]]:
        """Every update's metrics since the last call, read from the device in one transfer."""
        return self.metrics.read()

    def records(self) -> dict[str, list[dict]]:
        """``interventions`` rows and, for the adaptive RR, ``rr_checks`` / ``fau_episodes``."""
        tables = {"interventions": self.interventions.pop_rows(),
                  "intervention_checks": self.interventions.pop_check_rows()}
        pop = getattr(self.rr_schedule, "pop_records", None)
        if pop is not None:
            tables.update(pop())
        return {name: rows for name, rows in tables.items() if rows}

    def summary(self) -> dict[str, Any]:
        """The adaptive RR's switch and the number of Resets, for ``summary.json``."""
        return getattr(self.rr_schedule, "summary", dict)() | self.interventions.summary()
