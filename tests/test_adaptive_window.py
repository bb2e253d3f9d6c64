"""The windowed Adaptive-RR check (our variant, issue 22) on a synthetic FAU stream, by hand;
window 1 is the paper's rule."""

from __future__ import annotations

import pytest

from agents.plasticity.schedules import AdaptiveReplayRatio

# per-episode FAU (2 updates each): noisy around 0.5 at first, then settled
STREAM = [0.50, 0.60, 0.40, 0.605, 0.41, 0.60]


def run(schedule: AdaptiveReplayRatio, stream=STREAM, start: int = 1) -> AdaptiveReplayRatio:
    for episode, fau in enumerate(stream, start):
        for _ in range(2):
            schedule.observe({"fau/critic": fau})
        schedule.on_episode_end({"episode": episode, "step": 100 * episode})
    return schedule


def test_window_one_is_the_papers_rule():
    """Paper: ``last`` = the first update's FAU (0.50); the first check sees episode 1's mean
    0.50, a change of 0 <= 0.01: it switches at episode 1."""
    s = run(AdaptiveReplayRatio(interval=1, threshold=0.01))
    assert s.switch_episode == 1 and s.checks[0]["decision"] == "switch"


def test_window_two_compares_pooled_means_of_the_last_two_episodes():
    """By hand, window 2: e1 records 0.50 (first window); e2: (0.50 + 0.60) / 2 = 0.55, change
    +0.05 keep; e3: (0.60 + 0.40) / 2 = 0.50, -0.05 keep; e4: (0.40 + 0.605) / 2 = 0.5025,
    +0.0025 <= 0.01: switch at episode 4 (step 400)."""
    s = run(AdaptiveReplayRatio(interval=1, threshold=0.01, window=2))
    decisions = [c["decision"] for c in s.checks]
    assert decisions[:4] == ["first window", "keep (changing)", "keep (changing)", "switch"]
    assert [c["fau"] for c in s.checks[:4]] == pytest.approx([0.50, 0.55, 0.50, 0.5025])
    assert (s.switch_episode, s.switch_step, s.rr) == (4, 400, 2.0)


def test_windowed_schedule_resumes_exactly_mid_stream():
    whole = run(AdaptiveReplayRatio(interval=1, threshold=0.01, window=2))
    first = run(AdaptiveReplayRatio(interval=1, threshold=0.01, window=2), STREAM[:2])
    resumed = AdaptiveReplayRatio(interval=1, threshold=0.01, window=2)
    resumed.load_state_dict(first.state_dict())
    run(resumed, STREAM[2:], start=3)
    assert resumed.switch_episode == whole.switch_episode == 4
    assert [c["fau"] for c in resumed.checks] == pytest.approx([c["fau"] for c in whole.checks])


def test_window_below_one_is_refused():
    with pytest.raises(ValueError, match="window must be >= 1"):
        AdaptiveReplayRatio(window=0)
