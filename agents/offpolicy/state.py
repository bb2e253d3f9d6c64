"""Persistence of the off-policy agent (``agents/offpolicy/agent.py``): what a checkpoint holds and
how it loads, and what acting on another body needs.

A checkpoint (``state_dict``) holds every network, target and optimiser, the counters, the
replay-ratio schedule, the auxiliary losses, the representation probe, the interventions
(counters and pending rows), the weight metrics' and L2-init's initial weights, and (unless
excluded) the replay buffer. Loading first lets the interventions rebuild any structure they
changed (plasticity injection), then loads the weights. Parts added after a checkpoint was
written start fresh, as they would have run.
"""

from __future__ import annotations

from typing import Any


class OffPolicyState:
    """Mixin of ``OffPolicyAgent``: ``state_dict``, ``load_state_dict``, ``load_policy``,
    ``body_independent``, ``trainable_parameters``."""

    def _modules(self) -> dict[str, Any]:
        modules = {"encoder": self.encoder, "actor": self.actor, "critic": self.critic,
                   "critic_target": self.critic_target, "encoder_opt": self.encoder_opt,
                   "actor_opt": self.actor_opt, "critic_opt": self.critic_opt,
                   "actor_target": self.actor_target, "projection": self.projection}
        return {k: m for k, m in modules.items() if m is not None}

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """Weights, optimisers, schedule, counters and (unless excluded) the replay buffer.

        Without the replay (``trainer.save_replay: false``, for huge buffers) a resumed run
        starts from an empty buffer and makes no update until it holds
        ``seed_frames / action_repeat`` transitions again; the first observation stored after
        the resume repeats its newest frame in place of the two older ones.
        """
        state = {k: m.state_dict() for k, m in self._modules().items()}
        state.update(step=self.step, updates=self.updates,
                     rr_schedule=self.rr_schedule.state_dict(), aux=self.aux.full_state(),
                     representation=self.representation.state_dict(),
                     interventions=self.interventions.state_dict(),
                     replay=self.replay.state_dict() if include_replay else None)
        if self.weight_metrics.every is not None:
            state["weight_metrics"] = self.weight_metrics.state_dict()
        if self.l2_init:
            state["l2_init"] = {m: p.state_dict() for m, p in self.l2_init.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.interventions.prepare_load(self, state.get("interventions", {}))
        for k, m in self._modules().items():
            m.load_state_dict(state[k])
        self.step, self.updates = state["step"], state["updates"]
        self.rr_schedule.load_state_dict(state["rr_schedule"])
        self.aux.load_full_state(state["aux"])
        # checkpoints written before representation metrics and interventions existed lack
        # their (then empty) state: those parts start fresh, as they would have run
        if "representation" in state:
            self.representation.load_state_dict(state["representation"])
        if "interventions" in state:
            self.interventions.load_state_dict(state["interventions"])
        if "weight_metrics" in state:
            self.weight_metrics.load_state_dict(state["weight_metrics"])
        for m, saved in state.get("l2_init", {}).items():
            self.l2_init[m].load_state_dict(saved)
        if state["replay"] is not None:
            self.replay.load_state_dict(state["replay"])

    def load_policy(self, state: dict[str, Any]) -> None:
        """Load only what acting needs (encoder and actor) from a full ``state_dict``, possibly
        trained on another body (a shared circuit; see ``body_independent``). A circuit reads
        the raw observation, so another body's normaliser statistics are not loaded."""
        if self.actor.uses_encoder:
            self.encoder.load_state_dict(state["encoder"])
        self.actor.load_state_dict(state["actor"])

    @property
    def body_independent(self) -> bool:
        """True for a weight-shared circuit actor; an MLP's sizes are the body's."""
        return bool(self.actor.body_independent)

    def trainable_parameters(self) -> dict[str, int]:
        """Parameters that take gradients (a frozen transferred encoder counts 0)."""
        parts = [("encoder", self.encoder), ("actor", self.actor), ("critic", self.critic)]
        if self.projection is not None:
            parts.append(("projection", self.projection))
        if self.aux.losses:
            parts.append(("aux_heads", self.aux.losses))
        return {name: sum(p.numel() for p in m.parameters() if p.requires_grad)
                for name, m in parts}
