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
