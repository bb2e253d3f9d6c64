"""The observation normaliser against a plainly written tonic ``MeanStd`` (the NCAP paper's
trainer): the paper presets normalise exactly as tonic does; the defaults clip at 10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from configs.loader import load_config
from trainer.api import build

ROOT = Path(__file__).resolve().parent.parent


class TonicMeanStd:
    """tonic 48a7b72 ``normalizers.MeanStd()``, written out: running mean and mean of squares
    merged per segment, ``std = max(sqrt(max(E[x^2] - E[x]^2, 0)), 1e-2)``, no clip."""

    def __init__(self, dim: int):
        self.mean, self.mean_sq, self.std = np.zeros(dim), np.zeros(dim), np.ones(dim)
        self.count = 0

    def update(self, batch: np.ndarray) -> None:
        n = self.count + len(batch)
        w_old, w_new = self.count / n, len(batch) / n
        self.mean = w_old * self.mean + w_new * batch.mean(0)
        self.mean_sq = w_old * self.mean_sq + w_new * (batch ** 2).mean(0)
        self.std = np.maximum(np.sqrt(np.maximum(self.mean_sq - self.mean ** 2, 0)), 1e-2)
        self.count = n

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def segments(rng: np.random.Generator, dim: int) -> list[np.ndarray]:
    """Batches with a near-constant column (std 1e-3 < 0.01) and rare outliers (> 10 std)."""
    out = []
    for _ in range(3):
        b = rng.normal(0.0, 1.0, (64, dim))
        b[:, 0] = 0.5 + 1e-3 * rng.normal(size=64)
        b[0, 1] = 40.0
        out.append(b)
    return out


@pytest.mark.parametrize("preset, part", [("ncap_swim_ppo_paper", "normalizer"),
                                          ("mlp_swim_ppo_paper", "normalizer"),
                                          ("ncap_swim_ddpg", "encoder"), ("mlp_swim_ddpg", "encoder")])
def test_paper_presets_normalise_like_tonic_mean_std(preset, part):
    _, agent, _ = build(load_config(ROOT / f"configs/{preset}.yaml"))
    normalizer = getattr(agent, part)
    dim = normalizer.mean.numel()
    rng = np.random.default_rng(0)
    tonic = TonicMeanStd(dim)
    probe = np.concatenate([np.full((1, dim), 0.5), np.full((1, dim), 60.0)])
    for batch in segments(rng, dim):
        normalizer.update(torch.as_tensor(batch, dtype=torch.float32))
        tonic.update(batch)
        ours = normalizer(torch.as_tensor(probe, dtype=torch.float32)).double().numpy()
        np.testing.assert_allclose(ours, tonic(probe), rtol=1e-4, atol=1e-4)
    assert np.abs(tonic(probe)).max() > 10, "the probe lies outside any clip"


def test_default_preset_clips_at_ten_with_a_tiny_std_floor():
    _, agent, _ = build(load_config(ROOT / "configs/ncap_swim_ppo.yaml"))
    dim = agent.normalizer.mean.numel()
    for batch in segments(np.random.default_rng(0), dim):
        agent.normalizer.update(torch.as_tensor(batch, dtype=torch.float32))
    y = agent.normalizer(torch.full((1, dim), 60.0))
    assert y.max().item() == 10.0 and y.min().item() == 10.0
