"""Representation metrics of a latent matrix on a fixed probe set (sec. 5 of
``../shared/reference/predictive_aux.md``), and the probe set itself.

For features ``Z`` (``N`` states x ``d`` units) with singular values ``sigma_1 >= ... >= 0``
and covariance eigenvalues ``lambda_i``:

* ``srank``: ``min{k : sum_{i<=k} sigma_i / sum_i sigma_i >= 1 - delta}``, ``delta = 0.01``, on
  the uncentred ``Z`` (Kumar et al. 2021); ``erank = exp(-sum p_i log p_i)``,
  ``p_i = sigma_i / sum sigma`` (Roy & Vetterli 2007); both 0 for an all-zero ``Z`` and at most
  ``min(N, d)`` (one definition, in ``agents/plasticity/weight_metrics.py``, for the agents'
  logs too);
* ``participation_ratio``: ``(sum lambda_i)^2 / sum lambda_i^2`` (1 = one direction; ``d`` =
  isotropic);
* ``pairwise_cos``: mean ``cos(z_i, z_j)`` over all pairs ``i != j`` (1 = collapse to one
  direction; F&S's collapse measure), ``feature_var``: mean over units of the variance across
  states (0 = collapse to one point);
* dormant units: ReDo's ``tau``-dormant fraction, unit ``i`` dormant when ``mean_x |z_i(x)|``
  divided by the layer's mean of that quantity is ``<= tau`` (``tau`` in {0, 0.025}); and F&S's
  silent units, ``sum_x max(z_i(x), 0) < 1e-4``;
* ``probe_r2``: ridge regression ``y ~ Z`` (inputs standardised with the fit set's statistics,
  penalty ``alpha``, intercept unpenalised) of the physics state ``y = (qpos, qvel)``, fit on
  the probe episodes of the first half and scored (``R^2 = 1 - SSE / SST`` per state dimension,
  averaged over dimensions that vary in the scored half) on the second half, so it measures
  what generalises across episodes; also for ``qpos`` and ``qvel`` separately.

The probe set (``ProbeSet``) is a fixed list of observations with their physics states, drawn
from held-out episodes of the run's own env: seeds ``probe_seed + e`` (disjoint from the
training seed and the evaluation seeds ``seed + 10000 + i``), uniform random actions from a
generator with the same seed, every ``stride``-th step kept. It depends on no agent, so every
checkpoint of every run on the same env and probe config is measured on the same states; it
is written once to ``<run>/probe.npz``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from agents.plasticity.weight_metrics import effective_rank as weight_effective_rank
from agents.plasticity.weight_metrics import stable_rank
from agents.common.checkpoint_file import check_archive
from configs.safe_files import replacing

PROBE_FILE = "probe.npz"
SILENT_THRESHOLD = 1e-4


# --- metrics --------------------------------------------------------------------------------
def srank(z: np.ndarray, delta: float = 0.01) -> int:
    """``srank_delta`` of ``z`` in float64: ``agents/plasticity/weight_metrics.py:stable_rank``,
    the one definition the agents log too (0 for an all-zero matrix)."""
    return int(stable_rank(np.asarray(z, np.float64), delta))


def effective_rank(z: np.ndarray) -> float:
    """``erank`` of ``z`` in float64: ``agents/plasticity/weight_metrics.py:effective_rank`` (0 for
    an all-zero matrix)."""
    return float(weight_effective_rank(np.asarray(z, np.float64)))


def participation_ratio(z: np.ndarray) -> float:
    """``(sum lambda)^2 / sum lambda^2`` of the covariance; 0 when there is no variance
    (relative to the features' own scale: a collapse up to float rounding counts as none)."""
    z = np.asarray(z, np.float64)
    zc = z - z.mean(axis=0)
    lam = np.linalg.svd(zc, compute_uv=False) ** 2
    if lam.sum() <= 1e-20 * max(np.square(z).sum(), 1e-300):
        return 0.0
    return float(lam.sum() ** 2 / (lam ** 2).sum())


def pairwise_cosine(z: np.ndarray) -> float:
    """Mean cosine similarity over all pairs ``i != j``, in O(N d)."""
    z = np.asarray(z, np.float64)
    zhat = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    n = len(z)
    return float((np.square(zhat.sum(0)).sum() - n) / max(n * (n - 1), 1))


def dormant_fraction(z: np.ndarray, tau: float) -> float:
    """ReDo's ``tau``-dormant fraction of the units (columns) of ``z``."""
    score = np.abs(np.asarray(z, np.float64)).mean(axis=0)
    return float((score <= tau * max(score.mean(), 1e-12)).mean())


def silent_fraction(z: np.ndarray, threshold: float = SILENT_THRESHOLD) -> float:
    """F&S's silent units: rectified activity summed over all states below ``threshold``."""
    return float((np.maximum(np.asarray(z, np.float64), 0).sum(axis=0) < threshold).mean())


def ridge_r2(z_fit: np.ndarray, y_fit: np.ndarray, z_test: np.ndarray, y_test: np.ndarray,
             alpha: float = 1.0) -> float:
    """Mean ``R^2`` on the test set of a ridge regression fit on the fit set (module
    docstring); dimensions without variance in the test set are left out (NaN if none)."""
    z_fit, z_test = np.asarray(z_fit, np.float64), np.asarray(z_test, np.float64)
    y_fit, y_test = np.asarray(y_fit, np.float64), np.asarray(y_test, np.float64)
    mu, sd = z_fit.mean(0), z_fit.std(0) + 1e-8
    x_fit, x_test = (z_fit - mu) / sd, (z_test - mu) / sd
    y_mu = y_fit.mean(0)
    w = np.linalg.solve(x_fit.T @ x_fit + alpha * np.eye(x_fit.shape[1]), x_fit.T @ (y_fit - y_mu))
    pred = x_test @ w + y_mu
    sst = np.square(y_test - y_test.mean(0)).sum(0)
    varies = sst > 1e-10 * len(y_test)
    if not varies.any():
        return float("nan")
    r2 = 1.0 - np.square(y_test - pred).sum(0)[varies] / sst[varies]
    return float(r2.mean())


# --- the probe set --------------------------------------------------------------------------
@dataclass
class ProbeSet:
    """Observations ``obs`` ``(N, ...)`` with physics states ``qpos`` ``(N, nq)``, ``qvel``
    ``(N, nv)`` and the probe ``episode`` ``(N,)`` each came from (module docstring)."""

    obs: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    episode: np.ndarray
    meta: dict[str, Any]

    @property
    def fit(self) -> np.ndarray:
        """Rows of the first half of the episodes (the probe's fit set)."""
        return self.episode < (self.episode.max() + 1) // 2

    def save(self, path: Path) -> None:
        with replacing(path) as tmp:   # never through a link planted at probe.npz
            np.savez_compressed(tmp, obs=self.obs, qpos=self.qpos, qvel=self.qvel,
                                episode=self.episode,
                                meta=np.array(json.dumps(self.meta)))

    @classmethod
    def load(cls, path: Path) -> "ProbeSet":
        check_archive(path)   # a zip bomb is refused before numpy inflates it
        with np.load(path) as f:
            meta = json.loads(str(f["meta"]))
            return cls(f["obs"], f["qpos"], f["qvel"], f["episode"], meta)


def collect_probe_set(env, episodes: int, stride: int, seed: int) -> ProbeSet:
    """Roll out ``episodes`` uniform-random-action episodes of ``env`` (seeds ``seed + e``)
    and keep the observation and physics state of every ``stride``-th step."""
    obs_list, qpos, qvel, episode = [], [], [], []
    low, high = env.action_space.low, env.action_space.high
    for e in range(episodes):
        rng = np.random.default_rng(seed + e)
        obs, _ = env.reset(seed=seed + e)
        t, done = 0, False
        while not done:
            if t % stride == 0:
                data = env.physics.data
                obs_list.append(np.array(obs))
                qpos.append(np.array(data.qpos))
                qvel.append(np.array(data.qvel))
                episode.append(e)
            obs, _, terminated, truncated, _ = env.step(rng.uniform(low, high).astype(np.float32))
            done = terminated or truncated
            t += 1
    meta = {"episodes": episodes, "stride": stride, "seed": seed,
            "obs_shape": list(np.shape(obs_list[0]))}
    return ProbeSet(np.stack(obs_list), np.stack(qpos), np.stack(qvel), np.array(episode), meta)


def load_or_collect(run_dir: Path, make_env: Callable[[int], Any], episodes: int, stride: int,
                    seed: int) -> ProbeSet:
    """``<run_dir>/probe.npz`` if it was drawn with these settings, else collect and save it."""
    path = Path(run_dir) / PROBE_FILE
    want = {"episodes": episodes, "stride": stride, "seed": seed}
    if path.exists():
        probe = ProbeSet.load(path)
        if all(probe.meta.get(k) == v for k, v in want.items()):
            return probe
    env = make_env(seed)
    try:
        probe = collect_probe_set(env, episodes, stride, seed)
    finally:
        env.close()
    probe.save(path)
    return probe


def representation_metrics(z: np.ndarray, probe: ProbeSet, ridge: float = 1.0,
                           prefix: str = "repr/") -> dict[str, float]:
    """Every metric of the module docstring for latents ``z`` of ``probe.obs``."""
    z = np.asarray(z, np.float64)
    fit, test = probe.fit, ~probe.fit
    state = np.concatenate([probe.qpos, probe.qvel], axis=1)
    out = {"srank": float(srank(z)), "erank": effective_rank(z),
           "participation_ratio": participation_ratio(z), "pairwise_cos": pairwise_cosine(z),
           "feature_var": float(z.var(axis=0).mean()), "dormant_0": dormant_fraction(z, 0.0),
           "dormant_0.025": dormant_fraction(z, 0.025), "silent": silent_fraction(z),
           "probe_r2": ridge_r2(z[fit], state[fit], z[test], state[test], ridge),
           "probe_r2_qpos": ridge_r2(z[fit], probe.qpos[fit], z[test], probe.qpos[test], ridge),
           "probe_r2_qvel": ridge_r2(z[fit], probe.qvel[fit], z[test], probe.qvel[test], ridge)}
    return {prefix + k: v for k, v in out.items()}


class RepresentationLog:
    """When the agent logs representation metrics during training: every ``every`` agent steps
    (the first at ``every``), on the run's probe set, drawn at first use. Needs the run folder
    (``attach``); a run without one (a notebook's bare agent) logs none."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.next_step = cfg.every
        self.run_dir: Path | None = None
        self.make_env: Callable[[int], Any] | None = None
        self.probe: ProbeSet | None = None

    def attach(self, run_dir: Path, make_env: Callable[[int], Any]) -> None:
        self.run_dir, self.make_env = Path(run_dir), make_env

    def due(self, step: int) -> bool:
        return self.next_step is not None and self.run_dir is not None and step >= self.next_step

    def measure(self, latents: Callable[[np.ndarray], np.ndarray], step: int) -> dict[str, float]:
        """The metrics of ``latents(probe.obs)``; schedules the next measurement."""
        cfg = self.cfg
        if self.probe is None:
            self.probe = load_or_collect(self.run_dir, self.make_env, cfg.probe_episodes,
                                         cfg.probe_stride, cfg.probe_seed)
        self.next_step = (step // cfg.every + 1) * cfg.every
        return representation_metrics(latents(self.probe.obs), self.probe, cfg.ridge)

    def after_update(self, agent) -> dict[str, float]:
        """Post-update hook of the agent: the metrics of ``agent.latents`` when due, else none."""
        return self.measure(agent.latents, agent.step) if self.due(agent.step) else {}

    def state_dict(self) -> dict[str, Any]:
        return {"next_step": self.next_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_step = state["next_step"]
