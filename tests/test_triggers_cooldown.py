"""A trigger's cool-down ends exactly on a check step (issue 40, item 6): the check at agent step
``fired step + cooldown`` is outside the cool-down and fires."""

from agents.plasticity.triggers import MetricTrigger


def test_a_check_on_the_last_step_of_the_cooldown_fires():
    # episodes of 1000 agent steps, a check at every episode end, the metric always above the
    # threshold; cooldown 2000: fire at 1000; 2000 < 1000 + 2000 is cool-down; 3000 is not
    # (3000 >= 3000): fire; 4000 < 5000 cool-down; 5000: fire
    t = MetricTrigger("m", "above", threshold=0.0, every=1, cooldown=2000)
    fired = []
    for episode in range(1, 6):
        t.observe({"m": 1.0})
        if t.end_episode(episode, episode * 1000):
            fired.append(episode * 1000)
    assert fired == [1000, 3000, 5000], fired
    assert [r["decision"] for r in t.pop_rows()] == ["fire", "cooldown", "fire", "cooldown",
                                                     "fire"]


def fires(t: MetricTrigger, values: list[float], every_steps: int) -> list[int]:
    out = []
    for episode, v in enumerate(values, start=1):
        t.observe({"m": v})
        if t.end_episode(episode, episode * every_steps):
            out.append(episode * every_steps)
    return out


def test_the_cooldown_is_added_to_the_fire_step():
    # checks every 500 steps, cooldown 1000, below the threshold at 500: fire at 1000, cool-down
    # at 1500 (< 1000 + 1000), fire at 2000, cool-down at 2500 (worked out by hand)
    t = MetricTrigger("m", "above", threshold=0.5, cooldown=1000)
    assert fires(t, [0.0, 1.0, 1.0, 1.0, 1.0], 500) == [1000, 2000]


def test_below_fires_strictly_below_the_threshold():
    t = MetricTrigger("m", "below", threshold=0.5)
    assert fires(t, [0.5, 0.49, 0.5], 1000) == [2000]


def test_above_and_below_record_no_previous_value_at_their_first_check():
    """Only ``levelled`` compares with a previous check; the others' first row has none."""
    for condition in ("above", "below"):
        t = MetricTrigger("m", condition, threshold=0.5)
        fires(t, [0.7, 0.2], 1000)
        first, second = t.pop_rows()
        assert first["previous"] is None and first["change"] is None, condition
        assert second["previous"] == 0.7 and abs(second["change"] - (0.2 - 0.7)) < 1e-12


def test_the_triggers_defaults_are_the_adaptive_rrs():
    """One rule, two users: a bare ``MetricTrigger`` is the Adaptive RR's default check."""
    from agents.plasticity.schedules_config import AdaptiveRRConfig

    t, cfg = MetricTrigger("fau/critic"), AdaptiveRRConfig()
    assert (t.condition, t.threshold, t.trough_guard) == ("levelled", cfg.threshold,
                                                          cfg.trough_guard)


def test_above_fires_strictly_above_and_levelled_needs_a_positive_threshold():
    import pytest

    assert fires(MetricTrigger("m", "above", threshold=0.5), [0.5, 0.51], 1000) == [2000]
    with pytest.raises(ValueError):
        MetricTrigger("m", "levelled", threshold=-0.001)
    assert MetricTrigger("m", "above").cooldown == 0       # no cool-down unless asked


def test_the_trough_guard_needs_a_rise_larger_than_the_threshold():
    # levelled with the guard, threshold 0.25 (binary fractions: exact): 1.0 recorded; 0.5
    # changing (|-0.5| > 0.25); 0.75 level (|0.25| is not > 0.25) but only 0.25 above the lowest
    # 0.5, not more: trough; 0.875 level and 0.375 above the lowest: fire (worked out by hand)
    t = MetricTrigger("m", "levelled", threshold=0.25, trough_guard=True)
    assert fires(t, [1.0, 0.5, 0.75, 0.875], 1000) == [4000]
    assert [r["decision"] for r in t.pop_rows()][2] == t.labels.trough
