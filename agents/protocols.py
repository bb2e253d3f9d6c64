"""The typed interfaces of everything that plugs into the loop or into an agent (torch-free).

Each ``Protocol`` lists every member its callers use (found by reading the callers, named in
each docstring); ``tests/test_protocols.py`` checks each registered implementation has them
all, and the README's architecture tables are generated from here
(``python -m agents.protocol_tables``).

A member's docstring is its meaning in the table. Annotations are never evaluated at run time
(``from __future__ import annotations``), so this module imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:   # names for the annotations only: nothing here is imported at run time
    from pathlib import Path
    from typing import Iterator

    import numpy as np
    from torch import Tensor

    from agents.auxiliary.base import AuxBatch
    from agents.common.base import Transition


@runtime_checkable
class Agent(Protocol):
    """A learner behind the trainer loop (``trainer/loop.py``, ``trainer/api.py``,
    ``trainer/transfer.py``, ``trainer/rollout.py``). Built by ``agents.make_agent`` from the
    ``agent`` kind of ``configs/registry.py``: ``cls(agent_cfg, observation_space,
    action_space, env=, device=, seed=, acting_only=, total_steps=)``, plus ``num_envs=N`` for a
    training agent of ``trainer.num_envs: N > 1``, which only an agent whose config class sets
    ``vector_envs = True`` accepts (any other is refused that key when the config loads)."""

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """One action for one env (numpy in and out); ``explore=False``: the evaluation action.
        Built with ``num_envs=N``: ``obs[N, ...]`` in, ``actions[N, ...]`` out, one call."""

    def observe(self, transition: Transition) -> None:
        """Store one transition (rollout segment or replay); built with ``num_envs=N``: one
        step of every env, each field an array over the N envs."""

    def updates_due(self, step: int) -> int:
        """How many ``update()`` calls to run after ``step`` agent steps (on-policy: 1 when the
        segment is full; off-policy: the replay-ratio schedule)."""

    def update(self) -> dict[str, float]:
        """One update; its metrics (``loss*`` keys are checked for NaN/Inf)."""

    def on_episode_end(self, info: dict[str, Any]) -> None:
        """Per-episode hook (``episode``, ``step``, ``return``): e.g. Adaptive RR's checks."""

    def state_dict(self, include_replay: bool = True) -> dict[str, Any]:
        """Everything exact resume needs (weights, optimisers, schedules, replay, counters)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``."""

    def load_policy(self, state: dict[str, Any]) -> None:
        """Load only what acting needs from a ``state_dict`` (evaluate, render, transfer)."""

    @property
    def body_independent(self) -> bool:
        """Whether the policy's shapes are free of the body (a shared circuit: transfer)."""

    def trainable_parameters(self) -> dict[str, int]:
        """Parameters taking gradients per part, for ``summary.json``."""


@runtime_checkable
class AgentHooks(Protocol):
    """Optional agent members, each looked up with ``getattr`` by its caller
    (``agents.common.base``, ``trainer/loop.py``, ``trainer/api.py``); an agent defines those it
    needs."""

    def begin_episode(self, explore: bool) -> None:
        """Optional: called by every rollout outside the training loop (evaluation, render,
        transfer, activity) right after ``env.reset()``; an agent with per-episode state (a
        circuit counting its own steps) resets it here (in training: in ``on_episode_end``)."""

    def attach_run(self, run_dir: Path, make_env: Callable[[int], Any]) -> None:
        """Optional: called once by ``trainer.api.train`` when the run folder is ready (fresh
        or resumed), to write or read files of the agent's own (a probe set); ``make_env(seed)``
        builds another env of the run's config."""

    def pending_metrics(self) -> dict[str, list[float]]:
        """Optional: per-update metrics kept on the device instead of returned by ``update()``,
        every value since the last call in update order, read in one transfer before each log
        row, evaluation and checkpoint; ``loss*`` values are NaN/Inf-checked."""

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """Optional: rows since the last call by table name (``rr_checks``, ``interventions``),
        each with a ``step``, appended to ``<run_dir>/<table>.csv`` (rows past the checkpoint
        are dropped on resume)."""

    def summary(self) -> dict[str, Any]:
        """Optional: facts merged into ``summary.json`` at the end of a run."""


@runtime_checkable
class RRSchedule(Protocol):
    """A replay-ratio schedule the off-policy agent owns (``agents/offpolicy/agent.py``: ``rr`` is
    logged per update, ``pop_records`` / ``summary`` are passed on to the run folder). Built
    from the ``rr_schedule`` kind: ``impl(cfg, frames_per_step=)``."""

    @property
    def rr(self) -> float:
        """The current replay ratio (updates per agent step), logged as ``rr``."""

    def updates_due(self, agent_step: int) -> int:
        """Updates to run now; a repeated ``agent_step`` adds nothing."""

    def observe(self, metrics: dict[str, Any]) -> None:
        """Each update's metrics (values may be 0-d device tensors)."""

    def on_episode_end(self, info: dict[str, Any]) -> None:
        """Per-episode hook (``episode``, ``step``)."""

    def pop_records(self) -> dict[str, list[dict[str, Any]]]:
        """Table rows since the last call (e.g. ``rr_checks``); ``{}`` if none."""

    def summary(self) -> dict[str, Any]:
        """Facts for ``summary.json`` (e.g. the switch step); ``{}`` if none."""

    def state_dict(self) -> dict[str, Any]:
        """The whole state, for exact resume."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``."""


@runtime_checkable
class AuxLoss(Protocol):
    """One auxiliary loss, an ``nn.Module`` (``agents/auxiliary/objectives.py``'s
    ``AuxObjectives`` reads these members). Built from the ``aux_loss`` kind:
    ``impl(cfg, label, latent_dim, action_dim)``; ``agents.auxiliary.base.AuxLoss`` is a base
    class that has them all."""

    @property
    def label(self) -> str:
        """Names its metrics: ``loss/aux_<label>``, ``aux/<label>/...``."""

    @property
    def window(self) -> int:
        """Replay steps K it reads (the agent's replay keeps K-step windows)."""

    @property
    def needs_target(self) -> bool:
        """Whether it reads the EMA target latents (built only if one does)."""

    @property
    def obs_offsets(self) -> tuple[int, ...]:
        """The ``k`` whose observations ``o_{t+k}`` it encodes."""

    def forward(self, batch: AuxBatch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """``(loss, metrics)`` on a batch of latents and windows (called as ``module(...)``)."""

    def ema_update(self, tau: float) -> None:
        """Move its own EMA target heads after each update."""

    def parameters(self) -> Iterator[Tensor]:
        """Its heads' parameters (the auxiliary Adam steps them)."""


@runtime_checkable
class Intervention(Protocol):
    """One intervention (Reset, ReDo, ...; ``agents/plasticity/interventions.py``), registered as
    the ``intervention`` kind under its config key: ``impl(section, total_steps)``. Class
    attributes: ``key`` (the config key under ``agent`` and the ``kind`` column of
    ``interventions.csv``) and ``phase`` (``"before"`` the batch is drawn or ``"after"`` the
    update). Optional: ``prepare_load(agent, state)``, for one that changes the networks'
    structure, rebuilds it before a checkpoint's weights load (plasticity injection);
    ``start(agent)``, called before a session's first update, keeps what it needs of the
    weights before training (Shrink & Perturb's ``target: initial``)."""

    def due(self, step: int, updates: int) -> bool:
        """At agent step ``step`` with ``updates`` updates done: run now? (Called once per
        update; may advance the intervention's own schedule.)"""

    def check(self, agent_cfg: Any, cfg: Any) -> None:
        """Refuse (``ConfigError``, one line) a section the agent's config cannot serve
        (a static method)."""

    def apply(self, agent: Any) -> tuple[list[dict[str, Any]], dict[str, float]]:
        """Intervene on ``agent``; the rows recording what was touched (one per module) and
        metrics to log."""

    def summary(self) -> dict[str, Any]:
        """Counters for ``summary.json``."""

    def state_dict(self) -> dict[str, Any]:
        """Counters, for exact resume."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``."""


@runtime_checkable
class InterventionSet(Protocol):
    """The configured interventions as the off-policy agent drives them
    (``agents/plasticity/interventions.py:Interventions``)."""

    def before_update(self, agent: Any) -> None:
        """Run the due ``before`` interventions (Reset) before the batch is drawn."""

    def after_update(self, agent: Any) -> dict[str, float]:
        """Run the due ``after`` interventions (ReDo) after an update (a post-update hook);
        their metrics."""

    def observe(self, metrics: dict[str, Any]) -> None:
        """One update's metrics, read by the interventions' metric triggers."""

    def on_episode_end(self, info: dict[str, Any]) -> None:
        """The triggers' checks (``episode``, ``step``); a fire arms its intervention."""

    def pop_rows(self) -> list[dict[str, Any]]:
        """``interventions.csv`` rows since the last call."""

    def pop_check_rows(self) -> list[dict[str, Any]]:
        """``intervention_checks.csv`` rows (the triggers' checks) since the last call."""

    def summary(self) -> dict[str, Any]:
        """Every intervention's counters (and trigger fire steps), for ``summary.json``."""

    def state_dict(self) -> dict[str, Any]:
        """Counters and pending rows, for exact resume."""

    def prepare_load(self, agent: Any, state: dict[str, Any]) -> None:
        """Before the agent's weights load: rebuild any network structure an intervention
        changed (an intervention's optional ``prepare_load``: plasticity injection)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``."""


@runtime_checkable
class Circuit(Protocol):
    """A biologically wired policy (``circuits/``), wrapped by an actor
    (``agents/policies/actors.py``, ``agents/policies/circuit_actor.py``); ``trainer/rollout.py``
    reads its activity, ``circuits/plots.py`` its weights."""

    @property
    def shared(self) -> bool:
        """Weights shared over segments (the same circuit runs on any number of joints)."""

    def forward(self, joint_angles: Tensor, t: Tensor) -> Tensor:
        """Joint torques in [-1, 1] from joint angles and the control step ``t``."""

    def activity(self, joint_angles: Tensor, t: Tensor) -> dict[str, Tensor]:
        """Every neuron group's activity (the same pass as ``forward``), for pictures."""

    def weight(self, name: str) -> Tensor:
        """A named connection's effective (sign-constrained) weight."""


PROTOCOLS: tuple[type, ...] = (Agent, AgentHooks, RRSchedule, AuxLoss, Intervention,
                               InterventionSet, Circuit)


def members(protocol: type) -> list[str]:
    """The members a protocol declares, in source order."""
    return [name for name in protocol.__dict__ if not name.startswith("_")
            and (callable(protocol.__dict__[name]) or isinstance(protocol.__dict__[name],
                                                                  property))]
