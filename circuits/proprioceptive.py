"""Bistable B-neurons switched by the body: NCAP+'s rhythm without a central oscillator.

After Boyle, Berri & Cohen (2012, Front. Comput. Neurosci. 6:10): each B-type motor neuron is
bistable with hysteresis and is switched by the bending of the body; there is no oscillator,
so the rhythm's period is however long the body takes to bend from one threshold to the other,
and it lengthens as the medium resists. ``docs/reference/proprioceptive_rhythm.md`` states the
model, its parameters and what we simplified.

Notation as in ``circuits/ncap.py``: joint angles ``q_j`` (j = 1..N, head first) normalised by
the joint limit, ``qh_j = clip(q_j / (2 pi / (N + 1)), -1, 1)``; positive is the dorsal side.

* the input of each B-neuron (``switch_inputs``):
  head ``u^d_1 = -qh_1``, ``u^v_1 = +qh_1`` (the head joint's own bending, read as the stretch of
  the neuron's own side: the dorsal side is stretched when the head bends ventrally);
  body ``u^d_j = +qh_{j-1}``, ``u^v_j = -qh_{j-1}`` for j >= 2 (the bending of the joint in
  front, same side, as NCAP's proprioceptive pathway).
* the switch (``hysteresis``), state ``s`` in {0, 1} per neuron, thresholds ``+theta`` (on) and
  ``-theta`` (off), ``theta = theta_h`` for the head pair and ``theta_b`` for the body:
  ``s_k = 1 if u_k > theta``; ``s_k = 0 if u_k < -theta``; else ``s_k = s_{k-1}``.
  The state at control step k reads the input at step k (the observation the action is chosen
  from). The head pair is a relay: its dorsal neuron stays on until the head has bent dorsally
  past ``theta_h``, then the ventral one takes over until the head has bent ventrally past it.
* episode start (control step 0): the head's dorsal neuron on, every other neuron off
  (``initial_states``; the dorsal side first, as NCAP's oscillator starts), then the rule above.

The switches read joint angles only and their thresholds are fixed, so the state sequence of an
episode is a function of its observations, the same for every value of the learned weights.
``EpisodeSwitches`` keeps it across the single-observation calls of a rollout and recomputes it
for a time-ordered batch (PPO's update), see its docstring.
"""

from __future__ import annotations

import math

import torch


def normalised_angles(joint_angles: torch.Tensor) -> torch.Tensor:
    """``qh_j = clip(q_j / (2 pi / (N + 1)), -1, 1)`` (NCAP's proprioceptive scale)."""
    n = joint_angles.shape[-1]
    return (joint_angles / (2.0 * math.pi / (n + 1))).clamp(-1.0, 1.0)


def switch_inputs(joint_angles: torch.Tensor) -> torch.Tensor:
    """``u [..., 2, N]``: row 0 the dorsal B-neurons' inputs, row 1 the ventral ones'."""
    qh = normalised_angles(joint_angles)
    dorsal = torch.cat([-qh[..., :1], qh[..., :-1]], dim=-1)
    return torch.stack([dorsal, -dorsal], dim=-2)


def thresholds(n: int, head: float, body: float, device=None) -> torch.Tensor:
    """``theta [N]``: ``theta_h`` for joint 1, ``theta_b`` for joints 2..N."""
    theta = torch.full((n,), float(body), device=device)
    theta[0] = float(head)
    return theta


def initial_states(shape: tuple[int, ...], device=None) -> torch.Tensor:
    """Switch states at episode start, ``[..., 2, N]``: only the head's dorsal neuron on."""
    s = torch.zeros(shape, device=device)
    s[..., 0, 0] = 1.0
    return s


def resynced_states(u: torch.Tensor) -> torch.Tensor:
    """Best guess of the states of an episode whose history is unknown (its first step in a
    batch, a resume mid-episode): each neuron on if its input is positive, the head pair
    complementary (dorsal on unless the head is bent dorsally). Exact again once the neuron's
    input crosses a threshold (at most half a cycle later)."""
    s = (u > 0).to(u.dtype)
    head_d = (u[..., 0, 0] >= 0).to(u.dtype)
    s[..., 0, 0] = head_d
    s[..., 1, 0] = 1.0 - head_d
    return s


def hysteresis(u: torch.Tensor, theta: torch.Tensor, start: torch.Tensor,
               restart: torch.Tensor | None = None,
               initial: torch.Tensor | None = None) -> torch.Tensor:
    """Switch states ``s [T, ...]`` for inputs ``u [T, ...]`` along time (dim 0).

    ``s_k = 1 if u_k > theta``, ``0 if u_k < -theta``, else ``s_{k-1}``; ``s_{-1} = start``.
    Where ``restart[k]`` (``[T]`` bool) the previous state is ``initial`` instead (an episode
    begins at step k). Vectorised: the state at k is the last threshold crossing at or before k
    that is not older than the last restart, else the start (or initial) state.
    """
    steps = u.shape[0]
    on, off = u > theta, u < -theta
    shape = (steps,) + (1,) * (u.dim() - 1)
    index = torch.arange(steps, device=u.device).view(shape).expand_as(u)
    last_event = torch.where(on | off, index, -1).cummax(dim=0).values
    event_state = on.gather(0, last_event.clamp(min=0)).to(u.dtype)
    if restart is None:
        last_restart = torch.full(shape, -1, device=u.device).expand_as(u)
    else:
        r = torch.where(restart, torch.arange(steps, device=u.device), -1).cummax(dim=0).values
        last_restart = r.view(shape).expand_as(u)
    base = start.expand_as(u)
    if initial is not None:
        base = torch.where(last_restart >= 0, initial.expand_as(u), base)
    return torch.where((last_event >= 0) & (last_event >= last_restart), event_state, base)


class EpisodeSwitches:
    """The B-neurons' switch states over an episode, for an actor that sees one observation at
    a time (acting) or a time-ordered batch (PPO's update); not part of any state dict.

    ``states(joint_angles, t)`` with the control step ``t`` since reset:

    * one observation (``joint_angles [N]`` or ``[1, N]``): ``t = 0`` restarts from
      ``initial_states``; ``t`` one past the previous call, or the same ``t`` (the activity
      read after the action), continues from the previous call's states (the switch is
      idempotent: the same input twice gives the same states); any other ``t`` (a resume
      mid-episode, a rollout of another episode in between) starts from ``resynced_states``.
    * a batch (``joint_angles [T, N]``, rows consecutive steps, ``t`` rising by one or
      restarting at 0): ``hysteresis`` over the rows, restarting where ``t = 0``; the rows of an
      episode that began before the batch start from ``resynced_states`` of the first row.
      Rows out of time order (shuffled minibatches) raise ``ValueError``.
    """

    def __init__(self, head: float, body: float):
        self.head, self.body = float(head), float(body)
        self._t: float | None = None
        self._after: torch.Tensor | None = None

    def states(self, joint_angles: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Switch states ``[..., 2, N]`` (dorsal row 0, ventral row 1)."""
        u = switch_inputs(joint_angles)
        theta = thresholds(u.shape[-1], self.head, self.body, u.device)
        if joint_angles.dim() == 1:
            return self._step(u, float(t), theta)
        if joint_angles.dim() == 2 and joint_angles.shape[0] == 1:
            return self._step(u[0], float(t.reshape(-1)[0]), theta).unsqueeze(0)
        if joint_angles.dim() != 2:
            raise ValueError("switch states need joint angles [N] or a time-ordered batch [T, N]")
        t = t.reshape(-1)
        gaps = t[1:] - t[:-1]
        if not bool(((gaps == 1) | (t[1:] == 0)).all()):
            raise ValueError("the proprioceptive rhythm needs its batch in time order (rows "
                             "consecutive control steps; PPO: minibatch null)")
        return hysteresis(u, theta, resynced_states(u[0]), restart=(t == 0),
                          initial=initial_states(u.shape[1:], u.device))

    def _step(self, u: torch.Tensor, t: float, theta: torch.Tensor) -> torch.Tensor:
        if t == 0:
            before = initial_states(u.shape, u.device)
        elif self._t is not None and t in (self._t, self._t + 1) and self._after.shape == u.shape:
            before = self._after
        else:
            before = resynced_states(u)
        after = hysteresis(u.unsqueeze(0), theta, before)[0]
        self._t, self._after = t, after
        return after
