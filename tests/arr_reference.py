"""The Adaptive RR switch rule written plainly from the paper's code (Ma et al. 2024; our notes
sec. 8.4), with our two variants, as a reference for ``agents/plasticity/schedules.py`` and
``agents/plasticity/triggers.py``. Input: per-episode lists of per-update critic FAU values."""

from __future__ import annotations


def reference_checks(episodes: list[list[float]], interval: int, threshold: float,
                     window: int = 1, trough_guard: bool = False, length: int = 1000):
    """Rows ``(episode, step, fau, previous_fau, decision)`` and the switch step (or None).

    Paper rule (window 1): ``last`` = the first update's FAU; at the end of an episode
    ``e = 0 mod interval`` that had updates, ``avg`` = that episode's mean FAU; switch (once) if
    ``|avg - last| <= threshold``; ``last <- avg``. Window W: ``avg`` pools the updates of the
    last W episodes with updates, and the first check only records ``avg``. Trough guard:
    switching also needs ``avg - lowest > threshold``, ``lowest`` the lowest of ``last``'s
    values so far (the first included) and earlier ``avg``s."""
    rows, switch = [], None
    last = lowest = None
    history: list[list[float]] = []        # the episodes with updates, newest last
    for e, values in enumerate(episodes, start=1):
        if values and last is None and window == 1:
            last = values[0]
        if not values:
            continue
        history.append(values)
        if e % interval:
            continue
        pooled = [v for ep in history[-window:] for v in ep]
        avg = sum(pooled) / len(pooled)
        if last is None:
            rows.append((e, e * length, avg, None, "first window"))
            last = lowest = avg
            continue
        lowest = last if lowest is None else min(lowest, last)
        if switch is not None:
            decision = "already switched"
        elif abs(avg - last) > threshold:
            decision = "keep (changing)"
        elif trough_guard and not avg - lowest > threshold:
            decision = "keep (trough guard)"
        else:
            decision, switch = "switch", e * length
        rows.append((e, e * length, avg, last, decision))
        lowest = min(lowest, avg)
        last = avg
    return rows, switch
