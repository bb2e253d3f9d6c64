"""Metric triggers (issue 21): fire exactly where the rule says, never inside the cool-down, and
agree with the Adaptive RR's own switch rule on random FAU streams."""

import random

import pytest

from agents.plasticity.schedules import AdaptiveReplayRatio
from agents.plasticity.triggers import Labels, MetricTrigger
from arr_reference import reference_checks


def feed(trigger, episodes, length=1000, key="m"):
    """``episodes``: per-episode lists of per-update values; returns the fired episodes."""
    fired = []
    for e, values in enumerate(episodes, start=1):
        for v in values:
            trigger.observe({key: v})
        if trigger.end_episode(e, e * length):
            fired.append(e)
    return fired


def test_levelled_fires_at_the_first_check_within_threshold_of_the_previous_one():
    t = MetricTrigger("m", "levelled", threshold=0.001, every=2)
    # first update 0.5; checks at episodes 2, 4, 6 read that one episode's mean
    episodes = [[0.5, 0.5], [0.6, 0.6], [0.7, 0.7], [0.6004, 0.6006], [0.1], [0.6]]
    assert feed(t, episodes) == [4, 6]   # no cool-down, not once: fires again at 6
    rows = t.pop_rows()
    assert [r["episode"] for r in rows] == [2, 4, 6]
    assert [r["decision"] for r in rows] == ["keep (changing)", "fire", "fire"]
    assert rows[0]["previous"] == 0.5 and rows[0]["value"] == pytest.approx(0.6)
    assert rows[1]["change"] == pytest.approx(0.0005)


def test_levelled_window_pools_updates_and_first_check_only_records():
    t = MetricTrigger("m", "levelled", threshold=0.01, every=1, window=2)
    episodes = [[0.2], [0.4, 0.4, 0.4], [0.4], [0.4]]
    fired = feed(t, episodes)
    rows = t.pop_rows()
    assert rows[0]["decision"] == "first window" and rows[0]["value"] == pytest.approx(0.2)
    # episode 2: (0.2 + 3 * 0.4) / 4 = 0.35 against 0.2 -> changing
    assert rows[1]["value"] == pytest.approx(0.35) and rows[1]["decision"] == "keep (changing)"
    # episode 3: 4 * 0.4 / 4 = 0.4, change 0.05 -> changing; episode 4: 0.4 -> fire
    assert [r["decision"] for r in rows[2:]] == ["keep (changing)", "fire"]
    assert fired == [4]


def test_threshold_trigger_respects_its_cooldown_and_fires_again_after_it():
    t = MetricTrigger("dormant", "above", threshold=0.3, every=1, cooldown=2500)
    episodes = [[0.1], [0.35], [0.4], [0.5], [0.2], [0.45], [0.31]]
    assert feed(t, episodes, key="dormant") == [2, 6]
    decisions = [r["decision"] for r in t.pop_rows()]
    # fired at step 2000: steps 3000 and 4000 < 4500 are in the cool-down
    assert decisions == ["keep", "fire", "cooldown", "cooldown", "keep", "fire", "cooldown"]


def test_below_and_once():
    t = MetricTrigger("fau", "below", threshold=0.5, once=True)
    assert feed(t, [[0.9], [0.4], [0.3]], key="fau") == [2]
    assert t.pop_rows()[-1]["decision"] == "already fired"


def test_state_dict_resumes_to_the_same_decisions():
    stream = [[0.5 + 0.01 * ((i * 7) % 5) for _ in range(3)] for i in range(30)]
    whole = MetricTrigger("m", "levelled", threshold=0.015, every=3, cooldown=4000)
    feed(whole, stream)
    first = MetricTrigger("m", "levelled", threshold=0.015, every=3, cooldown=4000)
    feed(first, stream[:13])
    resumed = MetricTrigger("m", "levelled", threshold=0.015, every=3, cooldown=4000)
    resumed.load_state_dict(first.state_dict())
    for e, values in enumerate(stream[13:], start=14):
        for v in values:
            resumed.observe({"m": v})
        resumed.end_episode(e, e * 1000)
    assert resumed.rows == whole.rows and resumed.fired_steps == whole.fired_steps


@pytest.mark.parametrize("bad", [dict(condition="rising"), dict(every=0), dict(window=0),
                                 dict(cooldown=-1), dict(threshold=0.0)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        MetricTrigger("m", **bad)


def random_stream(seed: int) -> list[list[float]]:
    """40 episodes of per-update FAU: an early dip, drift and noise near the threshold; some
    episodes without updates."""
    rng = random.Random(seed)
    fau, episodes = 0.6, []
    for episode in range(1, 41):
        fau += rng.gauss(0.0, 0.003) - 0.002 * (episode < 8)
        episodes.append([fau + rng.gauss(0.0, 0.002)
                         for _ in range(rng.choice([0, 5, 5, 5]))])
    return episodes


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("window,guard", [(1, False), (3, False), (1, True)])
def test_trigger_and_adaptive_rr_follow_the_plainly_written_rule(seed, window, guard):
    """The same FAU stream through a plain reference of the paper's rule (tests/arr_reference.py),
    the Adaptive RR and a levelled trigger with once=True: the same checks, values and
    decisions, the same switch step."""
    episodes = random_stream(seed)
    ref_rows, ref_switch = reference_checks(episodes, 2, 0.002, window, guard)
    arr = AdaptiveReplayRatio(0.5, 2.0, interval=2, threshold=0.002, trough_guard=guard,
                              window=window)
    trig = MetricTrigger("fau/critic", "levelled", threshold=0.002, every=2, window=window,
                         once=True, trough_guard=guard,
                         labels=Labels(fire="switch", done="already switched"))
    for episode, values in enumerate(episodes, start=1):
        for value in values:
            arr.observe({"fau/critic": value})
            trig.observe({"fau/critic": value})
        arr.on_episode_end({"episode": episode, "step": episode * 1000})
        trig.end_episode(episode, episode * 1000)
    checks, rows = arr.pop_records()["rr_checks"], trig.pop_rows()
    assert len(checks) == len(rows) == len(ref_rows) > 0
    for c, r, (e, step, fau, previous, decision) in zip(checks, rows, ref_rows):
        assert (c["episode"], c["step"], c["decision"]) == (e, step, decision)
        assert (r["episode"], r["step"], r["decision"]) == (e, step, decision)
        assert c["fau"] == pytest.approx(fau, abs=1e-12) == r["value"]
    assert arr.switch_step == ref_switch == (trig.fired_steps[0] if trig.fired else None)


def test_the_random_streams_switch_at_different_places():
    """The agreement test above is not vacuous: the reference switches, early and late."""
    switches = {reference_checks(random_stream(s), 2, 0.002)[1] for s in range(6)}
    assert len(switches - {None}) >= 3
