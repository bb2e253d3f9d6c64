"""Replay-ratio schedules: exact update counts of fixed ratios and the Adaptive RR rule (Ma et al.
2024, notes sec. 8.4) on synthetic FAU streams, including its exact resume."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import torch

from agents.plasticity.schedules import AdaptiveReplayRatio, FixedReplayRatio

EPISODE = 20  # agent steps per synthetic episode


@pytest.mark.parametrize("rr, updates", [(0.25, 250), (0.5, 500), (1, 1000), (2, 2000),
                                         (4, 4000)])
def test_fixed_fractional_ratios_give_exact_update_counts_over_1000_steps(rr, updates):
    s = FixedReplayRatio(rr)
    assert sum(s.updates_due(t) for t in range(1, 1001)) == updates


def drive(s: AdaptiveReplayRatio, fau: Callable[[int], float], episodes: range,
          as_tensor: bool = False) -> list[int]:
    """Run ``episodes`` (1-based episode numbers) of EPISODE steps; every update's critic FAU is
    ``fau(episode)``. Returns the updates per episode."""
    per_episode = []
    for e in episodes:
        n = 0
        for t in range((e - 1) * EPISODE + 1, e * EPISODE + 1):
            for _ in range(s.updates_due(t)):
                value = fau(e)
                s.observe({"fau/critic": torch.tensor(value) if as_tensor else value})
                n += 1
            if t == e * EPISODE:
                s.on_episode_end({"episode": e, "step": t})
        per_episode.append(n)
    return per_episode


def settling(e: int) -> float:
    """Falls 0.01 per episode until episode 120, flat afterwards; episodes outside the check
    windows (not 50k) get wild values that the rule must ignore."""
    if e % 50:
        return 0.9 if e % 2 else 0.1
    return 0.6 - 0.01 * min(e, 120)


def test_adaptive_rr_switches_on_a_flat_stream_at_the_episode_the_rule_implies():
    s = AdaptiveReplayRatio(interval=50, frames_per_step=2)
    drive(s, settling, range(1, 301))
    checks = s.pop_records()["rr_checks"]
    assert [c["episode"] for c in checks] == [50, 100, 150, 200, 250, 300]
    # first check vs the very first update (episode 1's 0.9); then 0.1 -> -0.4 -> ... flat
    assert [c["decision"] for c in checks] == ["keep (changing)", "keep (changing)",
                                                "keep (changing)", "switch",
                                                "already switched", "already switched"]
    assert checks[0]["previous_fau"] == pytest.approx(0.9)
    assert checks[0]["fau"] == pytest.approx(0.1) and checks[3]["change"] == pytest.approx(0)
    assert (s.switch_episode, s.switch_step, s.switch_frame) == (200, 200 * EPISODE,
                                                                 400 * EPISODE)
    assert [c["rr"] for c in checks] == [0.5, 0.5, 0.5, 2.0, 2.0, 2.0]


def test_adaptive_rr_never_switches_on_a_changing_stream():
    s = AdaptiveReplayRatio(interval=50)
    counts = drive(s, lambda e: 0.5 + 0.002 * (e // 50) * (-1) ** (e // 50), range(1, 501))
    assert not s.switched and s.rr == 0.5
    assert all(c["decision"] == "keep (changing)" for c in s.pop_records()["rr_checks"])
    assert sum(counts) == 500 * EPISODE // 2


def test_adaptive_rr_updates_go_from_low_to_high_with_no_update_lost_at_the_switch():
    s = AdaptiveReplayRatio(interval=5)
    counts = drive(s, lambda e: 0.5, range(1, 11))
    assert s.switch_episode == 5, "the first check (episode 5) sees no change from update 1"
    assert counts == [EPISODE // 2] * 5 + [2 * EPISODE] * 5


def test_adaptive_rr_threshold_is_inclusive_and_absolute():
    at = AdaptiveReplayRatio(interval=2, threshold=0.25)
    drive(at, lambda e: [0.5, 0.75][e - 1], range(1, 3))
    assert at.switch_episode == 2, "|0.75 - 0.5| = 0.25 <= 0.25 switches"
    for values in ([0.5, 0.8], [0.8, 0.5]):
        above = AdaptiveReplayRatio(interval=2, threshold=0.25)
        drive(above, lambda e: values[e - 1], range(1, 3))
        assert not above.switched, f"{values}: a change of 0.3 either way keeps RR 0.5"


def test_adaptive_rr_waits_for_updates_before_its_first_check():
    s = AdaptiveReplayRatio(interval=2)
    for e in range(1, 5):
        s.on_episode_end({"episode": e, "step": e * EPISODE})  # no update yet (seed frames)
    assert s.pop_records()["rr_checks"] == [] and not s.switched


def trough(e: int) -> float:
    """Falls to 0.37 by episode 10, flat in the trough to 16, recovers to 0.46 by 22, flat."""
    if e <= 10:
        return 0.49 - 0.012 * e
    if e <= 16:
        return 0.37
    return min(0.37 + 0.015 * (e - 16), 0.46)


def test_trough_guard_defers_the_switch_until_fau_has_risen_from_its_minimum():
    plain, guarded = AdaptiveReplayRatio(interval=2), AdaptiveReplayRatio(interval=2,
                                                                          trough_guard=True)
    drive(plain, trough, range(1, 41))
    drive(guarded, trough, range(1, 41))
    assert plain.switch_episode == 12, "the paper's rule switches in the trough"
    assert guarded.switch_episode == 24, "the guard waits for the recovered plateau"
    assert "keep (trough guard)" in [c["decision"] for c in guarded.pop_records()["rr_checks"]]


def test_adaptive_rr_reads_device_tensors_like_floats():
    a, b = AdaptiveReplayRatio(interval=50), AdaptiveReplayRatio(interval=50)
    drive(a, settling, range(1, 251))
    drive(b, settling, range(1, 251), as_tensor=True)
    for x, y in zip(a.pop_records()["rr_checks"], b.pop_records()["rr_checks"], strict=True):
        assert x == pytest.approx(y, abs=1e-6), "float32 tensors, same decisions"


def test_adaptive_rr_state_survives_checkpoint_and_resume_bit_identically():
    def stream(e: int) -> float:
        """Noisy (+-0.1) until episode 30, then within 1e-4 of 0.4."""
        u = torch.rand((), generator=torch.Generator().manual_seed(e)).item()
        return 0.4 + (0.2 if e < 30 else 1e-4) * u
    full = AdaptiveReplayRatio(interval=3, threshold=0.001, frames_per_step=2)
    counts_full = drive(full, stream, range(1, 61), as_tensor=True)
    first = AdaptiveReplayRatio(interval=3, threshold=0.001, frames_per_step=2)
    counts = drive(first, stream, range(1, 26), as_tensor=True)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = AdaptiveReplayRatio(interval=3, threshold=0.001, frames_per_step=2)
    resumed.load_state_dict(torch.load(buffer))
    counts += drive(resumed, stream, range(26, 61), as_tensor=True)
    assert counts == counts_full
    assert resumed.state_dict() == full.state_dict(), "continuation differs after resume"
    assert full.switch_episode == 33, "the first check pair inside the flat part (30, 33)"


def test_every_episode_mean_fau_is_recorded_for_the_noise_measurement():
    s = AdaptiveReplayRatio(interval=50, frames_per_step=2)
    for e in range(1, 3):   # before updates start: no episode row, no check
        s.on_episode_end({"episode": e, "step": e * EPISODE})
    drive(s, settling, range(3, 61), as_tensor=True)
    rows = s.pop_records()["fau_episodes"]
    assert [r["episode"] for r in rows] == list(range(3, 61))
    assert [r["fau"] for r in rows] == pytest.approx([settling(e) for e in range(3, 61)])
    assert all(r["updates"] == EPISODE // 2 and r["frame"] == 2 * r["step"] for r in rows)
    assert s.pop_records() == {"rr_checks": [], "fau_episodes": []}
