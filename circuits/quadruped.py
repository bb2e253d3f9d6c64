"""A spinal locomotor circuit for dm_control's quadruped (after Bhattasali, Pattabiraman, Pinto &
Lindsay 2024, arXiv 2410.07174), as a torch module. The reference note is
``docs/reference/ncap_quadruped.md``; the symbols below are the note's.

Legs ``i`` in the actuator order FL, FR, BR, BL (front/back, left/right); side sign ``s_i = -1``
on the left and ``+1`` on the right (the quadruped's hips point diagonally outwards, so a positive
yaw swings a right leg forward and a left leg backward). Graded neurons are ``sigma(x) =
clamp(x, 0, 1)`` as in ``circuits/ncap.py``.

* **Brainstem drive** ``d`` in (0, 3] (config ``drive``). **Rhythm generation** (one flexor /
  extensor half-centre per leg, written as its phase ``phi``): the flexor (swing) half lasts
  ``T_sw`` seconds at any drive, the extensor (stance) half ``T_st / d``, so the step period is
  ``T(d) = T_sw + T_st / d`` and the duty factor ``(T_st / d) / T(d)``. The phase of leg ``i`` at
  time ``tau`` (seconds since reset) is ``phi_i = Phi(frac(tau / T(d) + psi_i / 2 pi))`` with the
  piecewise-linear cycle map ``Phi(u) = pi u / D_sw`` for ``u < D_sw = T_sw / T(d)`` (swing:
  ``phi`` in [0, pi)) and ``pi + pi (u - D_sw) / (1 - D_sw)`` after (stance: [pi, 2 pi)).
  Half-centre outputs: flexor ``F = [sin phi]+``, extensor ``E = [-sin phi]+`` (reciprocal
  inhibition: never both active) and their slow (adaptation) partners, a quarter cycle later,
  ``A_f = [-cos phi]+`` (leg carried forward) and ``A_b = [cos phi]+`` (leg carried back).
* **Inter-limb coupling** (commissural and long propriospinal), as the phase offsets of the
  coupled network's locked state: left-right alternation ``psi_FR - psi_FL = psi_BR - psi_BL =
  pi``; the hind leg of a side leads its fore leg by ``psi_FH(d) = pi / 2 + (pi / 2) clamp(d - 1,
  0, 1)``: a lateral-sequence walk (``pi / 2``; swing onsets BR, FR, BL, FL a quarter cycle
  apart) at ``d <= 1``, a trot (``pi``) at ``d >= 2``.
  ``psi = (0, pi, pi + psi_FH, psi_FH)`` for (FL, FR, BR, BL).
* **Sensory inputs** per leg (its own joint and foot): protraction ``p = s q_yaw / q_max`` (yaw
  angle, mirrored, over the joint limit ``q_max = 50 deg``, clipped to [-1, 1]), retraction
  ``p- = [-p]+``; load ``l = clamp((-f_z - 3) / 3, 0, 1)`` from the arcsinh-scaled normal force of
  the toe's force sensor (``f_z`` about -6 on a supporting foot, above -3 on a foot in the air).
* **Pattern formation**, three motor-neuron pairs per leg (every weight shared by the four legs):
  ``up = sigma(w_fu F + w_lu l + w_ru p-)`` (flexor / swing; load inhibits it and a retracted
  hip excites it: Ekeberg's two rules for ending stance), ``down = sigma(w_ed E + w_ld l)``
  (extensor / stance; load excites it: positive force feedback), ``fwd = sigma(w_af A_f)``,
  ``back = sigma(w_ab A_b)``, ``ext = sigma(w_ee E)``, ``flx = sigma(w_ff F)``.
* **Actions** (position targets, actuator units): ``yaw_i = s_i (fwd - back)``, ``lift = down -
  up`` (positive lift pushes the foot down), ``extend = ext - flx``.

Sign constraints: every synapse is excitatory (``max(w, 0)``) except the load's inhibition of the
swing neuron ``w_lu`` (``min(w, 0)``), clamped in the forward pass as NCAP does. Parameters: the 9
scalar weights above (every one a scalar, so one state dict runs on every body); the timing,
drive and phase offsets are fixed settings, not parameters. The circuit has no memory: its
phase is a function of the episode clock, as NCAP's head oscillator is, and sensory feedback
acts on the motor neurons (see the note for why).
"""

from __future__ import annotations

import math

import torch
from torch import nn

LEGS = ("FL", "FR", "BR", "BL")
SIDE = (-1.0, 1.0, 1.0, -1.0)
YAW_LIMIT = math.radians(50.0)
LOAD_THRESHOLD, LOAD_RANGE = 3.0, 3.0
DRIVE_RANGE = (0.0, 3.0)  # exclusive, inclusive
INHIBITORY = ("lu",)  # every other weight is excitatory
INIT = {"fu": 1.0, "lu": -0.5, "ru": 1.0, "ed": 0.3, "ld": 0.1,
        "af": 0.6, "ab": 0.6, "ee": 0.1, "ff": 0.1}


def graded(x: torch.Tensor) -> torch.Tensor:
    """The graded-neuron activation ``sigma(x) = clamp(x, 0, 1)``."""
    return x.clamp(0.0, 1.0)


def period(drive: float, swing_time: float, stance_time: float) -> float:
    """Step period ``T(d) = T_sw + T_st / d`` in seconds."""
    return swing_time + stance_time / drive


def phase_offsets(drive: float) -> torch.Tensor:
    """``psi`` for (FL, FR, BR, BL): left-right alternation, hind leads fore by ``psi_FH(d)``."""
    fh = math.pi / 2 + (math.pi / 2) * min(max(drive - 1.0, 0.0), 1.0)
    return torch.tensor([0.0, math.pi, math.pi + fh, fh])


class QuadrupedCircuit(nn.Module):
    """``forward(tau [B], yaw [B, 4], load [B, 4]) -> actions [B, 12]`` (module docstring).

    Args:
        drive: brainstem drive ``d`` in (0, 3].
        swing_time: ``T_sw``, seconds of the flexor (swing) half-cycle at any drive.
        stance_time: ``T_st``, seconds of the extensor (stance) half-cycle at ``d = 1``.
        signed: enforce the excitatory/inhibitory signs by clamping in the forward pass.
    """

    def __init__(self, drive: float = 1.0, swing_time: float = 0.25, stance_time: float = 0.35,
                 signed: bool = True):
        super().__init__()
        if not DRIVE_RANGE[0] < drive <= DRIVE_RANGE[1]:
            raise ValueError(f"drive must be in (0, 3] (got {drive})")
        self.drive = drive
        self.swing_time = swing_time
        self.stance_time = stance_time
        self.signed = signed
        self.weights = nn.ParameterDict(
            {k: nn.Parameter(torch.tensor(v)) for k, v in INIT.items()})
        self.register_buffer("offsets", phase_offsets(drive), persistent=False)
        self.register_buffer("side", torch.tensor(SIDE), persistent=False)

    @property
    def period(self) -> float:
        """``T(d)`` in seconds at this circuit's drive."""
        return period(self.drive, self.swing_time, self.stance_time)

    def weight(self, name: str) -> torch.Tensor:
        """The effective (sign-constrained if ``signed``) weight ``w_name``."""
        w = self.weights[name]
        if not self.signed:
            return w
        return w.clamp(max=0.0) if name in INHIBITORY else w.clamp(min=0.0)

    def phases(self, tau: torch.Tensor) -> torch.Tensor:
        """``phi [..., 4]`` at times ``tau [...]`` (seconds): the cycle map of the docstring."""
        T = self.period
        duty_sw = self.swing_time / T
        u = torch.remainder(tau.unsqueeze(-1) / T + self.offsets / (2 * math.pi), 1.0)
        return torch.where(u < duty_sw, math.pi * u / duty_sw,
                           math.pi + math.pi * (u - duty_sw) / (1.0 - duty_sw))

    def limbs(self, phi: torch.Tensor, yaw: torch.Tensor, load: torch.Tensor,
              side: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One limb circuit applied to every leg: phases, yaw angles and loads ``[..., legs]``
        (``side`` the legs' ``s_i``, default FL, FR, BR, BL) -> every neuron's activity."""
        s = self.side if side is None else side
        w = {k: self.weight(k) for k in INIT}
        F, E = graded(torch.sin(phi)), graded(-torch.sin(phi))
        A_f, A_b = graded(-torch.cos(phi)), graded(torch.cos(phi))
        p = (s * yaw / YAW_LIMIT).clamp(-1.0, 1.0)
        p_back = graded(-p)
        up = graded(w["fu"] * F + w["lu"] * load + w["ru"] * p_back)
        down = graded(w["ed"] * E + w["ld"] * load)
        fwd, back = graded(w["af"] * A_f), graded(w["ab"] * A_b)
        ext, flx = graded(w["ee"] * E), graded(w["ff"] * F)
        yaw_a, lift, extend = s * (fwd - back), down - up, ext - flx
        action = torch.stack([yaw_a, lift, extend], dim=-1).flatten(-2)
        return {"flexor": F, "extensor": E, "forward_state": A_f, "back_state": A_b,
                "protraction": p, "load": load, "up": up, "down": down, "fwd": fwd,
                "back": back, "ext": ext, "flx": flx, "action": action}

    def activity(self, tau: torch.Tensor, yaw: torch.Tensor,
                 load: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every neuron's activity at times ``tau`` for yaw angles and loads ``[..., 4]``."""
        phi = self.phases(tau)
        return {"phase": phi, **self.limbs(phi, yaw, load)}

    def forward(self, tau: torch.Tensor, yaw: torch.Tensor, load: torch.Tensor) -> torch.Tensor:
        """Actions ``[..., 12]`` in actuator order (yaw, lift, extend) x (FL, FR, BR, BL)."""
        return self.activity(tau, yaw, load)["action"]
