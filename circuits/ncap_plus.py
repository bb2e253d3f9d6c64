"""NCAP+ : the NCAP swimmer circuit with switchable extensions (and the navigation inputs).

With every switch off this is exactly ``circuits.ncap.NCAPSwimmerCircuit`` (shared, signed,
constant init): o = p = i = +1, c = -1, 4 parameters. Every parameter is a scalar or a vector of
fixed length independent of N, so one state dict runs on every body; there are at most 15 + 9
of them. Notation as in ``circuits/ncap.py`` (``qd, qv`` proprioception, ``od, ov`` oscillator,
``B`` motor neurons, ``M`` muscles, ``a = Md - Mv``), joints ``j = 1..N``.

Switches (each one idea, for ablation):

* ``oscillator="smooth"`` - the head oscillator as a smooth wave instead of a square wave. With
  phase ``f = t / T`` and duty cycle ``d`` (fraction of the period each side is on; the ventral
  side runs half a period behind the dorsal one):
  square, in whole steps of the phase ``p = t mod T``: ``od = [p < floor(d T)]``,
  ``ov = [((t - floor(T/2)) mod T) < ceil(d T)]``; at ``d = 1/2`` this is NCAP's wave exactly,
  ``od = [p < floor(T/2)]`` and ``ov = 1 - od``, for odd ``T`` too (``T = 61``: 30 steps
  dorsal, 31 ventral; a rule ``[frac(f) < 1/2]`` would give 31 and 30);
  smooth: ``od = s(kappa (cos 2 pi (f - d/2) - cos pi d))``, ``ov`` the same at ``f - 1/2``,
  ``s`` the logistic function (``d = 1/2``: ``od = s(kappa sin 2 pi f)``, ``ov = 1 - od``).
* ``oscillator="proprioceptive"`` - no oscillator: bistable B-neurons with hysteresis, switched
  by the body (``circuits/proprioceptive.py``, Boyle, Berri & Cohen 2012). Their switch states
  ``s^d_j, s^v_j`` in {0, 1} (head: the head joint's own bending, threshold ``head_switch``;
  body: the bending of the joint in front, threshold ``body_switch``) replace the oscillator and
  the graded proprioception: ``Bd_1 = sigma(o s^d_1)``, ``Bd_j = sigma(p s^d_j)`` (ventral
  alike). The states come from the caller (``switches``, kept per episode by the actor); the
  thresholds are fixed (a step function has no gradient). Not with ``velocity`` or
  ``steering`` (both add to the graded B-neuron input this rule replaces).
* ``learn_period`` / ``learn_duty`` - ``T = T0 exp(rho_T)`` and ``d = s(rho_d)`` are trained
  (raw ``rho`` at init: 0 and ``logit(d0)``). They need the smooth wave: a square wave has no
  gradient with respect to its timing.
* ``muscle_tone`` - a tonic excitatory drive ``w_tone >= 0`` on every muscle:
  ``Md = sigma(i Bd + c Bv + w_tone)``, ``Mv = sigma(i Bv + c Bd + w_tone)``. It cancels in
  ``a = Md - Mv`` at rest, but lifts the inhibited muscle off the clamp at 0, so the
  contralateral weight ``c`` receives gradient whenever ``|c B| < w_tone`` (in NCAP the two sides
  are never co-active and ``c`` never learns).
* ``leak`` - graded neurons with a leak ``eps``: ``sigma(x) = clamp(x, 0, 1) + eps (x -
  clamp(x, 0, 1))`` (slope ``eps`` outside [0, 1]), so saturated neurons still pass gradient.
* ``velocity`` - joint-velocity proprioception: ``Bd_j += w_v vd_{j-1}`` (and ventral), with
  ``vh_j = clip(qdot_j tau_v / (2 pi / (N + 1)), -1, 1)``, ``vd = clip(vh, 0, 1)``,
  ``vv = clip(-vh, 0, 1)`` and ``tau_v`` = ``velocity_tau`` seconds; excitatory ``w_v``.
* ``gain_profile=K`` - a muscle gain along the body from ``K`` shared coefficients:
  ``g_j = exp(sum_k alpha_k P_k(u_j))`` with Legendre polynomials ``P_k`` and body position
  ``u_j = 2 (j - 1) / (N - 1) - 1`` (head -1, tail +1); ``Md_j = sigma(g_j (i Bd_j + c Bv_j) +
  w_tone)``. ``alpha = 0`` at init (``g = 1``), the same K numbers for any N.
* ``steering`` (navigation, ``ncap.md`` section 3) - speed ``s`` and turn inputs ``r, l`` in
  [0, 1]: a brake ``1 - s`` reaches every B-neuron through one inhibitory weight ``w_s`` (init
  -1), and ``r`` (``l``) excites the dorsal (ventral) B-neuron of the first ``n_turn_joints``
  joints through one excitatory weight ``w_t`` (init +1); both inside the B-neurons' ``sigma``:
  ``Bd_1 = sigma(o od + w_t r + w_s (1 - s))``, ``Bd_j = sigma(p qd_{j-1} + w_s (1 - s))``.

Sign constraints clamp the raw parameter in the forward pass (excitatory ``max(w, 0)``,
inhibitory ``min(w, 0)``) exactly as NCAP does; ``T``, ``d`` and ``alpha`` are not synapses and
carry no sign.
"""

from __future__ import annotations

import math

import torch
from torch import nn

EXCITATORY = ("o", "p", "i", "tone", "v", "turn")
INHIBITORY = ("c", "speed")
INIT = {"o": 1.0, "p": 1.0, "i": 1.0, "c": -1.0, "turn": 1.0, "speed": -1.0}
OSCILLATORS = ("square", "smooth", "proprioceptive")
PERIOD_RANGE = (4.0, 400.0)  # control steps, for the initial period
MAX_GAIN_TERMS = 4


def graded(x: torch.Tensor, leak: float = 0.0) -> torch.Tensor:
    """``clamp(x, 0, 1) + leak (x - clamp(x, 0, 1))``: NCAP's graded neuron, optionally leaky."""
    y = x.clamp(0.0, 1.0)
    return y if leak == 0.0 else y + leak * (x - y)


def oscillator_wave(t: torch.Tensor, period: torch.Tensor, duty: torch.Tensor,
                    sharpness: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(od, ov)`` at control steps ``t`` (module docstring); ``sharpness=None``: square wave."""
    if sharpness is None:
        half = torch.floor(period / 2)
        on_d, on_v = torch.floor(duty * period), torch.ceil(duty * period)
        od = (torch.remainder(t, period) < on_d).to(torch.float32)
        ov = (torch.remainder(t - half, period) < on_v).to(torch.float32)
        return od, ov
    f = t / period
    threshold = torch.cos(math.pi * duty)
    od = torch.sigmoid(sharpness * (torch.cos(2 * math.pi * (f - duty / 2)) - threshold))
    ov = torch.sigmoid(sharpness * (torch.cos(2 * math.pi * (f - 0.5 - duty / 2)) - threshold))
    return od, ov


def legendre(u: torch.Tensor, k: int) -> torch.Tensor:
    """``[P_0(u), ..., P_{k-1}(u)]`` stacked on a new last axis (Bonnet's recursion)."""
    polys = [torch.ones_like(u), u]
    for n in range(1, k - 1):
        polys.append(((2 * n + 1) * u * polys[n] - n * polys[n - 1]) / (n + 1))
    return torch.stack(polys[:k], dim=-1)


class NCAPPlusCircuit(nn.Module):
    """``forward(joint_angles [B, N], t [B], joint_vel=None, steer=None) -> torques [B, N]``.

    ``joint_vel`` (rad/s, ``[B, N]``) is required with ``velocity``; ``steer = (r, l, s)``
    (``[B, 3]``) with ``steering``. See the module docstring for every switch.
    """

    def __init__(self, oscillator: str = "square", period: float = 60.0, duty: float = 0.5,
                 learn_period: bool = False, learn_duty: bool = False, sharpness: float = 10.0,
                 muscle_tone: float | None = None, leak: float = 0.0, velocity: float | None = None,
                 velocity_tau: float = 0.3, gain_profile: int = 0, steering: bool = False,
                 n_turn_joints: int = 1, head_switch: float = 0.8, body_switch: float = 0.05):
        super().__init__()
        if oscillator not in OSCILLATORS:
            raise ValueError(f"oscillator must be one of {OSCILLATORS} (got {oscillator!r})")
        if oscillator == "proprioceptive":
            if velocity is not None or steering:
                raise ValueError("oscillator 'proprioceptive' replaces the graded B-neuron input "
                                 "that velocity and steering add to: switch them off")
            if not (0.0 < head_switch < 1.0 and 0.0 < body_switch < 1.0):
                raise ValueError("head_switch and body_switch must be in (0, 1) (normalised "
                                 f"bending; got {head_switch}, {body_switch})")
        if not PERIOD_RANGE[0] <= period <= PERIOD_RANGE[1]:
            raise ValueError(f"period must be in [{PERIOD_RANGE[0]:g}, {PERIOD_RANGE[1]:g}] "
                             f"control steps (got {period})")
        if not 0.0 < duty < 1.0:
            raise ValueError(f"duty must be in (0, 1) (got {duty})")
        if (learn_period or learn_duty) and oscillator != "smooth":
            raise ValueError("learn_period / learn_duty need oscillator 'smooth' (a square wave "
                             "has no gradient with respect to its timing)")
        if not 0 <= gain_profile <= MAX_GAIN_TERMS:
            raise ValueError(f"gain_profile must be in [0, {MAX_GAIN_TERMS}] (got {gain_profile})")
        if not 0.0 <= leak < 1.0:
            raise ValueError(f"leak must be in [0, 1) (got {leak})")
        if n_turn_joints < 1:
            raise ValueError(f"n_turn_joints must be >= 1 (got {n_turn_joints})")
        self.oscillator = oscillator
        self.head_switch, self.body_switch = float(head_switch), float(body_switch)
        self.sharpness = sharpness if oscillator == "smooth" else None
        self.period0 = float(period)
        self.leak = float(leak)
        self.velocity_tau = float(velocity_tau)
        self.gain_terms = gain_profile
        self.steering = steering
        self.n_turn_joints = n_turn_joints
        self.shared = True
        init = dict(INIT)
        names = ["o", "p", "i", "c"]
        if muscle_tone is not None:
            names.append("tone")
            init["tone"] = float(muscle_tone)
        if velocity is not None:
            names.append("v")
            init["v"] = float(velocity)
        if steering:
            names += ["turn", "speed"]
        self.weights = nn.ParameterDict(
            {k: nn.Parameter(torch.tensor(init[k])) for k in names})
        logit_duty = math.log(duty / (1.0 - duty))
        self.timing = nn.ParameterDict()
        self.register_buffer("log_period_fixed", torch.tensor(0.0))
        self.register_buffer("duty_logit_fixed", torch.tensor(logit_duty))
        if learn_period:
            self.timing["log_period"] = nn.Parameter(torch.tensor(0.0))
        if learn_duty:
            self.timing["duty_logit"] = nn.Parameter(torch.tensor(logit_duty))
        self.gain = nn.Parameter(torch.zeros(gain_profile)) if gain_profile else None

    # --- readable parameters ------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.weights

    def weight(self, name: str) -> torch.Tensor:
        """The effective (sign-clamped) weight ``name``; 0 for a pathway that is switched off."""
        if name not in self.weights:
            return torch.tensor(0.0)
        w = self.weights[name]
        return w.clamp(min=0.0) if name in EXCITATORY else w.clamp(max=0.0)

    def period(self) -> torch.Tensor:
        """Oscillator period in control steps."""
        rho = self.timing["log_period"] if "log_period" in self.timing else self.log_period_fixed
        return self.period0 * rho.exp()

    def duty(self) -> torch.Tensor:
        rho = self.timing["duty_logit"] if "duty_logit" in self.timing else self.duty_logit_fixed
        return torch.sigmoid(rho)

    def gains(self, n: int, device=None) -> torch.Tensor:
        """Muscle gain ``g_j`` for joints ``1..n`` (ones without a gain profile)."""
        if self.gain is None:
            return torch.ones(n, device=device)
        u = torch.linspace(-1.0, 1.0, n, device=self.gain.device)
        return (legendre(u, self.gain_terms) @ self.gain).exp()

    def readable(self) -> dict[str, float]:
        """Every trainable quantity as the forward pass uses it (for captions and diagrams)."""
        with torch.no_grad():
            out = {k: float(self.weight(k)) for k in self.weights}
            if self.oscillator != "proprioceptive":
                out["T"] = float(self.period())
                out["duty"] = float(self.duty())
        if self.gain is not None:
            out.update({f"alpha{k}": float(a) for k, a in enumerate(self.gain.detach())})
        return out

    # --- the circuit ----------------------------------------------------------------------
    def forward(self, joint_angles: torch.Tensor, t: torch.Tensor,
                joint_vel: torch.Tensor | None = None, steer: torch.Tensor | None = None,
                switches: torch.Tensor | None = None) -> torch.Tensor:
        return self.activity(joint_angles, t, joint_vel, steer, switches)["action"]

    def activity(self, joint_angles: torch.Tensor, t: torch.Tensor,
                 joint_vel: torch.Tensor | None = None, steer: torch.Tensor | None = None,
                 switches: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Every neuron's activity (module docstring), keyed as ``NCAPSwimmerCircuit``'s.

        ``switches [..., 2, N]`` (dorsal, ventral): the B-neurons' switch states, required by
        the proprioceptive rhythm (``circuits.proprioceptive.EpisodeSwitches``); its head
        states are reported as ``oscillator_d/_v`` (the head's rhythm source)."""
        n = joint_angles.shape[-1]
        limit = 2.0 * math.pi / (n + 1)
        q = (joint_angles / limit).clamp(-1.0, 1.0)
        qd, qv = q.clamp(0.0, 1.0), (-q).clamp(0.0, 1.0)
        w = {k: self.weight(k) for k in ("o", "p", "i", "c", "tone", "v", "turn", "speed")}
        out: dict[str, torch.Tensor] = {}
        if self.oscillator == "proprioceptive":
            if switches is None:
                raise ValueError("the proprioceptive rhythm needs the B-neurons' switch states")
            sd, sv = switches[..., 0, :], switches[..., 1, :]
            od, ov = sd[..., 0], sv[..., 0]
            drive_d, drive_v = w["p"] * sd[..., 1:], w["p"] * sv[..., 1:]
            out.update({"switch_d": sd, "switch_v": sv})
        else:
            od, ov = oscillator_wave(t, self.period(), self.duty(), self.sharpness)
            drive_d = w["p"] * qd[..., :-1]
            drive_v = w["p"] * qv[..., :-1]
        if self.has("v"):
            if joint_vel is None:
                raise ValueError("the velocity pathway needs joint velocities")
            vh = (joint_vel * (self.velocity_tau / limit)).clamp(-1.0, 1.0)
            vd, vv = vh.clamp(0.0, 1.0), (-vh).clamp(0.0, 1.0)
            drive_d = drive_d + w["v"] * vd[..., :-1]
            drive_v = drive_v + w["v"] * vv[..., :-1]
            out.update({"v_d": vd, "v_v": vv})
        head_d = (w["o"] * od).unsqueeze(-1)
        head_v = (w["o"] * ov).unsqueeze(-1)
        pre_d = torch.cat([head_d, drive_d], dim=-1)
        pre_v = torch.cat([head_v, drive_v], dim=-1)
        if self.steering:
            if steer is None:
                raise ValueError("the steering circuit needs steer = (r, l, s)")
            r, l, s = steer[..., 0:1], steer[..., 1:2], steer[..., 2:3]
            turn = (torch.arange(n, device=pre_d.device) < self.n_turn_joints).to(pre_d.dtype)
            brake = w["speed"] * (1.0 - s)
            pre_d = pre_d + w["turn"] * r * turn + brake
            pre_v = pre_v + w["turn"] * l * turn + brake
            out.update({"turn_r": r[..., 0], "turn_l": l[..., 0], "speed": s[..., 0]})
        bd, bv = graded(pre_d, self.leak), graded(pre_v, self.leak)
        g = self.gains(n, bd.device).to(bd.dtype)
        md = graded(g * (w["i"] * bd + w["c"] * bv) + w["tone"], self.leak)
        mv = graded(g * (w["i"] * bv + w["c"] * bd) + w["tone"], self.leak)
        out.update({"oscillator_d": od, "oscillator_v": ov, "q_d": qd, "q_v": qv,
                    "b_d": bd, "b_v": bv, "muscle_d": md, "muscle_v": mv, "action": md - mv})
        return out
