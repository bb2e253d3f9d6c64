"""Undulation measures of a swimmer from its joint angles and its positions (numpy only).

The measures are the ones worm biologists use (Fang-Yen et al. 2010, PNAS; Berri et al. 2009),
read from a rollout of ``T`` control steps of ``dt`` seconds (``envs.swim``: 0.03 s):

* ``q[t, j]``: joint ``j``'s angle (rad) after step ``t + 1``; joint 0 is next to the head, so
  joint ``j`` sits ``(j + 1)`` links behind the nose and a body of ``N`` joints is ``N + 1``
  links long (``L = (N + 1) l``). Its discrete curvature is ``q / l``; ``q (N + 1) = kappa L``
  is the curvature in units of one over the body length (the kymograph's colour).
* **period** ``P`` (steps; ``P dt`` seconds; frequency ``f = 1 / (P dt)`` Hz): ``dominant_period``.
* **analysis window**: the first cycle is a transient (the body starts from random angles),
  the measures use the last ``n = floor(T / P) - 1 >= 2`` whole cycles (``whole_cycles``).
* **wavelength**, two ways that agree on a travelling wave ``q_j(t) = A sin(2 pi (t/P - j/l_w))``:
  ``phase_lag_wavelength`` (the table's wavelength: ``l_w = 2 pi / dphi`` segments from the mean
  phase lag ``dphi`` between neighbouring joints at the frequency ``1 / P``) and
  ``kymograph_wavelength`` (``l_w = P / tau`` from the time lag ``tau`` at which neighbouring
  rows of the kymograph best correlate: the slope of its diagonal bands). Positive: the wave
  runs head to tail. In body lengths: ``l_w / (N + 1)``.
* every reading takes a slow drift out (a joint relaxing from its random initial angle in a
  viscous medium): the period and the kymograph's lags use each column minus its least-squares
  line in time; amplitudes and phases come from a fit of a line plus a sine (``fundamental``).
* **amplitude** (rad): the amplitude of each joint angle's component at the frequency ``1 / P``
  over the window (``fundamental``; a sine's own amplitude), mean over joints.
* **forward speed** (body lengths/s): the displacement of the body's centroid (mean position of
  the ``N + 1`` links) over the window, along the mean heading of the head, over the window's
  duration and ``L``; negative when the body moves tail first.
* **wave speed** along the body ``V = l_w f`` (body lengths/s) and **slip** ``= U / V``: the
  forward speed over the wave's speed (1: the body advances as fast as its wave, as in a slot;
  0: the wave pushes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configs.errors import ConfigError

RHYTHM_MIN_CORRELATION = 0.25  # a signal is rhythmic when it correlates this well one period on
SPECTRUM_PAD = 16  # zero padding of the power spectrum (bins 1 / (16 T) cycles per step)


class GaitError(ConfigError):
    """No gait to read (no rhythm, too few steps): one line, exit 2 (a user error)."""


def _centred(x: np.ndarray) -> np.ndarray:
    """Each column minus its least-squares line in time (its mean and a slow drift, e.g. a
    joint relaxing from its random initial angle in a viscous medium)."""
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    t = np.arange(len(x), dtype=float)
    if len(x) < 2:
        return x - x.mean(axis=0)
    slope, intercept = np.polyfit(t, x, 1)
    return x - (np.outer(t, slope) + intercept)


def _parabolic_peak(values: np.ndarray, k: int) -> float:
    """The vertex of the parabola through ``values[k - 1 : k + 2]`` (``k`` when flat)."""
    a, b, c = values[k - 1], values[k], values[k + 1]
    denom = a - 2 * b + c
    return float(k) if denom == 0 else k + 0.5 * (a - c) / denom


def lag_correlation(x: np.ndarray, lag: int) -> float:
    """Pearson correlation of the columns of ``x`` pooled, between ``x[t]`` and ``x[t + lag]``."""
    x = _centred(x)
    a, b = x[:len(x) - lag].ravel(), x[lag:].ravel()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def power_spectrum(x: np.ndarray, pad: int = SPECTRUM_PAD) -> tuple[np.ndarray, np.ndarray]:
    """``(f, S(f))``: ``S(f) = sum_j |sum_t h(t) x_j(t) exp(-2 pi i f t)|^2`` of the detrended
    columns under a Hann window ``h``, at ``f = k / (pad T)`` cycles per step (zero padding)."""
    x = _centred(x)
    n = len(x) * pad
    spectrum = np.fft.rfft(x * np.hanning(len(x))[:, None], n=n, axis=0)
    return np.fft.rfftfreq(n), (np.abs(spectrum) ** 2).sum(axis=1)


def dominant_period(x: np.ndarray, what: str = "joint angles") -> float:
    """The period of ``x`` (``[T]`` or ``[T, J]``, steps), to a fraction of a step.

    Rule: the spectral period ``1 / f*``, ``f*`` the frequency of the highest
    ``power_spectrum`` peak (a local maximum: a slow drift's power, falling from ``f = 0``, is
    none) among ``f >= 1 / T``, refined by a parabola through ``log S`` at its bin and the two
    beside it; then, where
    ``c(k) = lag_correlation(x, k)`` (over the analysis window, ``whole_cycles``, and one
    period before it) peaks at the lag nearest that period, ``P`` = the vertex of the parabola
    through ``c`` at that lag and the two beside it (an exactly periodic signal, a square wave
    too, correlates 1 at its own period, where the spectrum's peak is pulled by its
    harmonics); otherwise (a slow drift tilts ``c``) the spectral period stands. ``GaitError``
    when nothing moves, when there is no peak (no rhythm), when ``f* < 2 / T`` or fewer than
    three periods fit (``whole_cycles``: too few steps to see two cycles after the first), or
    when ``c`` at
    the nearest lag is below ``RHYTHM_MIN_CORRELATION`` (no rhythm). ``what`` names the signal
    in those messages.
    """
    x = _centred(x)
    T = len(x)
    if T < 4 or float((x * x).sum()) <= 1e-12 * max(T, 1):
        raise GaitError(f"no rhythmic body: its {what} do not change")
    f, power = power_spectrum(x)
    lo = SPECTRUM_PAD  # f = 1 / T: one cycle seen
    inner = power[lo:-1]
    peaks = lo + np.nonzero((inner > power[lo - 1:-2]) & (inner >= power[lo + 1:]))[0]
    if len(peaks) == 0:
        raise GaitError(f"no rhythm in its {what} with a period of at most {T} steps")
    k = int(peaks[np.argmax(power[peaks])])
    if f[k] < 2.0 / T:
        raise GaitError(f"too few steps to see two cycles, or no rhythm: its {what}' "
                        f"strongest rhythm has a period of about {1 / f[k]:.0f} steps, more "
                        f"than half of {T} (need >= {int(np.ceil(3 / f[k]))} steps if it is one)")
    log_power = np.log(np.maximum(power, 1e-300))
    spectral = 1.0 / (f[k] + (_parabolic_peak(log_power, k) - k) * (f[1] - f[0]))
    w = whole_cycles(T, spectral)
    lag = int(round(spectral))
    corr = np.array([lag_correlation(x[max(0, w.start - lag - 1):], j)
                     for j in (lag - 1, lag, lag + 1)])
    period = lag - 1 + _parabolic_peak(corr, 1) if corr[0] <= corr[1] >= corr[2] else spectral
    corr = corr[1]
    if corr < RHYTHM_MIN_CORRELATION:
        raise GaitError(f"no rhythmic body: its {what} correlate {corr:.2f} with "
                        f"themselves one period ({period:.1f} steps) on (rhythmic: >= "
                        f"{RHYTHM_MIN_CORRELATION})")
    return period


def whole_cycles(T: int, period: float) -> slice:
    """The analysis window: the last ``n = floor(T / P) - 1`` whole cycles (the first cycle
    is a transient), ``round(n P)`` steps; ``GaitError`` when ``n < 2``."""
    n = int(T // period) - 1
    if n < 2:
        raise GaitError(f"too few steps to see two cycles after the first: {T} steps "
                        f"hold "
                        f"{T / period:.1f} periods of {period:.1f} steps (need >= "
                        f"{int(np.ceil(3 * period))} steps)")
    return slice(T - int(round(n * period)), T)


def fundamental(x: np.ndarray, period: float) -> np.ndarray:
    """Complex amplitude of each column at frequency ``1 / P``: the least-squares fit
    ``x_j(t) = a_j + b_j t + c_j cos(2 pi t / P) + d_j sin(2 pi t / P)`` gives
    ``z_j = c_j - i d_j`` (``|z_j|`` the sine's amplitude, ``arg z_j`` its phase; the line
    ``a_j + b_j t`` takes a slow drift out)."""
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    t = np.arange(len(x), dtype=float)
    design = np.stack([np.ones_like(t), t, np.cos(2 * np.pi * t / period),
                       np.sin(2 * np.pi * t / period)], axis=1)
    coef = np.linalg.lstsq(design, x, rcond=None)[0]
    return coef[2] - 1j * coef[3]


def phase_lag_wavelength(q: np.ndarray, period: float) -> float:
    """Wavelength in segments ``2 pi / dphi``, ``dphi = arg sum_j z_j conj(z_{j+1})`` (in
    ``(-pi, pi]``; ``z`` from ``fundamental``): the phase by which each joint lags the one in
    front of it, weighted by amplitude. ``inf`` for a standing wave (``dphi = 0``)."""
    z = fundamental(q, period)
    dphi = float(np.angle((z[:-1] * np.conj(z[1:])).sum()))
    return np.inf if dphi == 0 else 2 * np.pi / dphi


def kymograph_wavelength(q: np.ndarray, period: float) -> float:
    """Wavelength in segments ``P / tau`` from the curvature kymograph: ``tau`` (steps) is the
    circular mean (lags are defined modulo ``P``; the mean is taken in ``(-P/2, P/2]``) over
    neighbouring rows ``j, j + 1`` of the lag ``|tau_j| <= P / 2`` that maximises
    ``mean_t q_j(t) q_{j+1}(t + tau_j)`` (detrended; parabolic refinement), i.e. the time the
    wave takes to travel one segment."""
    q = _centred(q)
    T, half = len(q), int(period // 2)
    lags = np.arange(-half, half + 1)
    taus = []
    for j in range(q.shape[1] - 1):
        a, b = q[:, j], q[:, j + 1]
        c = np.array([np.mean(a[max(0, -s):T - max(0, s)] * b[max(0, s):T - max(0, -s)])
                      for s in lags])
        i = int(np.argmax(c))
        taus.append(lags[i] if i in (0, len(c) - 1) else
                    lags[0] + _parabolic_peak(c, i))
    # lags are defined modulo P: their circular mean, in (-P/2, P/2] like the phase lag's
    tau = period / (2 * np.pi) * float(np.angle(np.exp(2j * np.pi * np.array(taus) / period).sum()))
    return np.inf if tau == 0 else period / tau


def amplitude(q: np.ndarray, period: float) -> float:
    """``|z_j|`` (``fundamental``: the amplitude of each joint's component at ``1 / P``), mean
    over joints (rad)."""
    return float(np.mean(np.abs(fundamental(q, period))))


def forward_speed(centroid: np.ndarray, heading: np.ndarray, seconds: float,
                  body_length: float) -> float:
    """``(c_end - c_start) . h / seconds / L``: centroid displacement along the mean unit
    heading ``h`` of the head (body lengths/s)."""
    h = np.asarray(heading, dtype=float).mean(axis=0)
    h = h / np.linalg.norm(h)
    return float((centroid[-1] - centroid[0]) @ h / seconds / body_length)


@dataclass
class Kymograph:
    """Curvature ``kappa L`` (``[T, N]``, one over body length) against time (s, ``[T]``) and
    position along the body from the head (``s / L``, ``[N]``: joint ``j`` at
    ``(j + 1) / (N + 1)``)."""

    curvature: np.ndarray
    time_s: np.ndarray
    position: np.ndarray


def kymograph(q: np.ndarray, dt: float) -> Kymograph:
    """The curvature kymograph of joint angles ``q [T, N]`` (module docstring)."""
    q = np.asarray(q, dtype=float)
    T, N = q.shape
    return Kymograph(curvature=q * (N + 1), time_s=np.arange(1, T + 1) * dt,
                     position=np.arange(1, N + 1) / (N + 1))


SWIM_MEASURES = ("period_steps", "period_s", "frequency_hz", "wavelength_segments",
                 "wavelength_body", "wavelength_kymo_segments", "amplitude_rad", "speed_bl_s",
                 "wave_speed_bl_s", "slip")


def swim_gait(q: np.ndarray, centroid: np.ndarray, heading: np.ndarray, dt: float,
              link_length: float) -> dict[str, float]:
    """Every swim measure (``SWIM_MEASURES``, module docstring) of one rollout: joint angles
    ``q [T, N]``, link centroid ``[T, 2]`` and head heading ``[T, 2]`` (world xy) after each
    control step of ``dt`` seconds, links ``link_length`` long."""
    q = np.asarray(q, dtype=float)
    T, N = q.shape
    period = dominant_period(q)
    w = whole_cycles(T, period)
    qw = q[w]
    seconds = (len(qw) - 1) * dt
    wavelength = phase_lag_wavelength(qw, period)
    body = wavelength / (N + 1)
    frequency = 1.0 / (period * dt)
    speed = forward_speed(centroid[w], heading[w], seconds, (N + 1) * link_length)
    wave_speed = body * frequency
    return {"period_steps": period, "period_s": period * dt, "frequency_hz": frequency,
            "wavelength_segments": wavelength, "wavelength_body": body,
            "wavelength_kymo_segments": kymograph_wavelength(qw, period),
            "amplitude_rad": amplitude(qw, period), "speed_bl_s": speed,
            "wave_speed_bl_s": wave_speed,
            "slip": speed / wave_speed if np.isfinite(wave_speed) else 0.0}
