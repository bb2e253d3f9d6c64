"""The NCAP swimmer circuit (Bhattasali, Zador & Engel, NeurIPS 2022), as a torch module.

A C. elegans-like locomotion circuit for an N-joint swimmer. Graded neurons use the clipped-linear
activation ``sigma(x) = clamp(x, 0, 1)``. For joints ``j = 1..N``:

* inputs: joint angles normalised by the joint limit ``qh_j = clip(q_j / (2 pi / (N + 1)), -1, 1)``
  split into dorsal/ventral proprioception ``qd_j = clip(qh_j, 0, 1)``, ``qv_j = clip(-qh_j, 0, 1)``;
* head oscillator (period ``T`` control steps, phase 0 at reset, dorsal half first):
  ``od(t) = 1 if (t mod T) < floor(T / 2) else 0``, ``ov(t) = 1 - od(t)``;
* B-type motor neurons: head ``bd_1 = sigma(w_o od)``, ``bv_1 = sigma(w_o ov)``;
  body ``bd_j = sigma(w_p qd_{j-1})``, ``bv_j = sigma(w_p qv_{j-1})`` for ``j >= 2`` (same-side
  proprioception from the previous, more anterior joint, so the head rhythm travels tailwards);
* muscles: ``md_j = sigma(w_i bd_j + w_c bv_j)``, ``mv_j = sigma(w_i bv_j + w_c bd_j)``
  (ipsilateral excitation ``w_i``, contralateral inhibition ``w_c``);
* action (torque): ``a_j = md_j - mv_j`` in [-1, 1]. No tanh, bias or recurrence.

Switches (the paper's ablation grid):

* ``shared`` - one scalar per connection type (o, p, i, c) shared over segments and sides: 4
  parameters for any N. Unshared: 2 oscillator + 2 (N - 1) proprioceptive + 4 N muscle = 6 N.
* ``signed`` - excitatory weights (o, p, i) are used as ``max(w, 0)``, inhibitory (c) as
  ``min(w, 0)``, clamped in the forward pass as in the authors' code. ``torch.clamp`` passes the
  gradient at the bound itself, which matters because the constant init sits exactly at bounds.
  Caveat (kept on purpose, as in the paper): a raw weight pushed past its bound gets zero
  gradient from then on.
* ``constant_init`` - signed: excitatory +1, inhibitory -1; unsigned: each weight +-1 with
  p = 0.5. Random init: signed U[0, 1] / U[-1, 0]; unsigned U[-1, 1].

With ``shared=True`` the module holds no N-dependent tensor: the same state dict runs on a body
with any number of joints (N is read from the input's width).
"""

from __future__ import annotations

import math

import torch
from torch import nn

EXCITATORY = ("o", "p", "i")
INHIBITORY = ("c",)


def graded(x: torch.Tensor) -> torch.Tensor:
    """The graded-neuron activation ``sigma(x) = clamp(x, 0, 1)``."""
    return x.clamp(0.0, 1.0)


def oscillator(t: torch.Tensor, period: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Square-wave head oscillator: ``(od, ov)`` with ``od = 1`` on the first ``floor(T/2)`` steps."""
    od = (torch.remainder(t, period) < period // 2).to(torch.float32)
    return od, 1.0 - od


class NCAPSwimmerCircuit(nn.Module):
    """The swimmer circuit: ``forward(joint_angles [B, N], t [B]) -> torques [B, N]``.

    Args:
        n_joints: body size the weights are built for; only binding when ``shared=False``.
        shared: share weights across segments and sides (4 parameters) or not (6 N).
        signed: enforce excitatory/inhibitory signs by clamping in the forward pass.
        constant_init: constant-magnitude initialisation (see module docstring) or random.
        oscillator_period: head oscillator period ``T`` in control steps (paper: 60 = 1.8 s).
        proprioception: include the B_{j-1} <- q_{j-1} proprioceptive pathway.
        head_oscillator: include the oscillator input to the head B-neurons.
    """

    def __init__(self, n_joints: int = 5, shared: bool = True, signed: bool = True,
                 constant_init: bool = True, oscillator_period: int = 60,
                 proprioception: bool = True, head_oscillator: bool = True):
        super().__init__()
        if n_joints < 2:
            raise ValueError(f"n_joints must be >= 2 (got {n_joints})")
        if oscillator_period < 2:
            raise ValueError(f"oscillator_period must be >= 2 (got {oscillator_period})")
        self.n_joints = n_joints
        self.shared = shared
        self.signed = signed
        self.oscillator_period = oscillator_period
        self.proprioception = proprioception
        self.head_oscillator = head_oscillator
        n = n_joints
        shapes = ({"o": (), "p": (), "i": (), "c": ()} if shared else
                  {"o": (2,), "p": (2, n - 1), "i": (2, n), "c": (2, n)})
        self.weights = nn.ParameterDict(
            {k: nn.Parameter(self._init(k, s, constant_init)) for k, s in shapes.items()}
        )

    def _init(self, name: str, shape: tuple[int, ...], constant: bool) -> torch.Tensor:
        excitatory = name in EXCITATORY
        if constant and self.signed:
            return torch.full(shape, 1.0 if excitatory else -1.0)
        if constant:
            return torch.randint(0, 2, shape).to(torch.float32) * 2.0 - 1.0
        u = torch.rand(shape)
        if self.signed:
            return u if excitatory else -u
        return u * 2.0 - 1.0

    def weight(self, name: str) -> torch.Tensor:
        """The effective (sign-constrained if ``signed``) weight tensor for connection ``name``."""
        w = self.weights[name]
        if not self.signed:
            return w
        return w.clamp(min=0.0) if name in EXCITATORY else w.clamp(max=0.0)

    def _side(self, w: torch.Tensor, side: int) -> torch.Tensor:
        return w if self.shared else w[side]

    def forward(self, joint_angles: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Joint torques ``a = md - mv`` for joint angles ``[..., N]`` at control steps ``t [...]``."""
        return self.activity(joint_angles, t)["action"]

    def activity(self, joint_angles: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every neuron's activity (the equations of the module docstring), keyed by name."""
        n = joint_angles.shape[-1]
        if not self.shared and n != self.n_joints:
            raise ValueError(f"unshared circuit built for {self.n_joints} joints got {n}")
        q = (joint_angles / (2.0 * math.pi / (n + 1))).clamp(-1.0, 1.0)
        qd, qv = q.clamp(0.0, 1.0), (-q).clamp(0.0, 1.0)
        od, ov = oscillator(t, self.oscillator_period)
        w_o, w_p, w_i, w_c = (self.weight(k) for k in ("o", "p", "i", "c"))
        osc_gain = 1.0 if self.head_oscillator else 0.0
        prop_gain = 1.0 if self.proprioception else 0.0
        bd = torch.cat([graded(self._side(w_o, 0) * od * osc_gain).unsqueeze(-1),
                        graded(self._side(w_p, 0) * qd[..., :-1] * prop_gain)], dim=-1)
        bv = torch.cat([graded(self._side(w_o, 1) * ov * osc_gain).unsqueeze(-1),
                        graded(self._side(w_p, 1) * qv[..., :-1] * prop_gain)], dim=-1)
        md = graded(self._side(w_i, 0) * bd + self._side(w_c, 0) * bv)
        mv = graded(self._side(w_i, 1) * bv + self._side(w_c, 1) * bd)
        return {"oscillator_d": od, "oscillator_v": ov, "q_d": qd, "q_v": qv,
                "b_d": bd, "b_v": bv, "muscle_d": md, "muscle_v": mv, "action": md - mv}
