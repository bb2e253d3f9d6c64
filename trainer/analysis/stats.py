"""Aggregate statistics over seeds (numpy only): mean, median, IQM and bootstrap intervals.

Follows Agarwal et al. (2021), "Deep RL at the edge of the statistical precipice" (rliable):

* **IQM** (interquartile mean) is the 25% trimmed mean: sort the ``n`` scores, drop
  ``floor(0.25 n)`` from each end, average the rest (``scipy.stats.trim_mean(x, 0.25)``). It is
  robust to an outlier seed yet, unlike the median, uses half of the runs. With fewer than 4
  scores nothing is dropped and the IQM equals the mean.
* **Confidence intervals** are percentile bootstrap intervals: resample the seeds with
  replacement ``n_boot`` times, compute the statistic on each resample, take the
  ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles. With one task per config the
  stratified bootstrap of rliable (resampling runs within each task) reduces to this.

* **Paired comparisons** (two arms run on the same seeds): the per-seed differences
  ``d_k = score_B(seed k) - score_A(seed k)``, their median and a percentile-bootstrap interval
  of that median (seeds resampled as pairs, so each resample keeps the pairing). The arms
  *separate* at level ``level`` when the interval excludes zero (``low > 0`` or ``high < 0``:
  an interval that ends at 0 touches zero and does not exclude it) and there are at least
  ``MIN_PAIRS`` = 5 pairs. Below that the percentile bootstrap of the median is too coarse to
  read: with 4 positive differences every resample's median is positive, so the interval
  excludes zero whatever the seeds did, while an exact sign test gives p = 2 / 2^4 = 0.125.
  ``ties`` counts the exact zeros among the differences: with many of them the median and
  both ends of its interval are 0.0, which says "most seeds tie", not "no effect, measured
  precisely". A non-finite difference is refused (``ValueError``): it is neither a win nor a
  tie, and ``np.median`` of an array with a NaN is NaN.
* **Contrast of two paired comparisons** (is the effect of B over A larger in one cell, e.g. one
  network width, than in another?): ``median(d_cell2) - median(d_cell1)`` with a percentile
  bootstrap that resamples each cell's differences on its own (the cells are separate runs).

Every function but ``difference_summary`` ignores non-finite scores (failed or diverged runs
are counted elsewhere); ``paired_comparison`` pairs only the seeds where both arms are finite.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Curve = dict[int, float]  # x (agent step or frame) -> value, one run's logged metric
Statistic = Callable[[np.ndarray], np.ndarray]  # (..., n) -> (...), reduces the last axis

DEFAULT_BOOTSTRAP = 2000
DEFAULT_LEVEL = 0.95
MIN_PAIRS = 5  # fewer paired seeds never "separate" (module docstring)


def finite(x) -> np.ndarray:
    """The finite entries of ``x`` as a float array."""
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: mean after dropping ``floor(n / 4)`` from each end."""
    a = np.sort(np.asarray(x, dtype=float), axis=axis)
    n = a.shape[axis]
    cut = n // 4
    return np.take(a, np.arange(cut, n - cut), axis=axis).mean(axis=axis)


def mean(x: np.ndarray) -> np.ndarray:
    return np.mean(x, axis=-1)


def median(x: np.ndarray) -> np.ndarray:
    return np.median(x, axis=-1)


def bootstrap_ci(x, statistic: Statistic, n_boot: int = DEFAULT_BOOTSTRAP,
                 level: float = DEFAULT_LEVEL, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap ``(low, high)`` interval of ``statistic`` over the finite ``x``.

    ``statistic`` reduces the last axis (it receives an ``(n_boot, n)`` array of resamples).
    Returns ``(nan, nan)`` without scores; a single score gives the degenerate ``(x, x)``.
    """
    a = finite(x)
    if a.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    resamples = a[rng.integers(0, a.size, size=(n_boot, a.size))]
    values = statistic(resamples)
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def summarize(x, n_boot: int = DEFAULT_BOOTSTRAP, level: float = DEFAULT_LEVEL,
              seed: int = 0) -> dict[str, float | int | list[float]]:
    """``n``, ``mean``, ``median``, ``iqm`` and the bootstrap ``iqm_ci`` of the finite ``x``."""
    a = finite(x)
    if a.size == 0:
        nan = float("nan")
        return {"n": 0, "mean": nan, "median": nan, "iqm": nan, "iqm_ci": [nan, nan]}
    return {"n": int(a.size), "mean": float(a.mean()), "median": float(np.median(a)),
            "iqm": float(iqm(a)), "iqm_ci": list(bootstrap_ci(a, iqm, n_boot, level, seed))}


def curve_band(values: np.ndarray, n_boot: int = DEFAULT_BOOTSTRAP,
               level: float = DEFAULT_LEVEL, seed: int = 0) -> dict[str, np.ndarray]:
    """Mean over seeds at each step with a percentile-bootstrap band of the mean.

    ``values`` is ``(seeds, steps)``; NaN marks a step a seed did not reach (a failed run's
    curve stops early). Each step uses the seeds that reached it; ``n`` counts them.
    """
    v = np.asarray(values, dtype=float)
    n = np.isfinite(v).sum(axis=0)
    centre = np.full(v.shape[1], np.nan)
    low, high = centre.copy(), centre.copy()
    for j in np.flatnonzero(n):
        column = finite(v[:, j])
        centre[j] = column.mean()
        low[j], high[j] = bootstrap_ci(column, mean, n_boot, level, seed)
    return {"mean": centre, "low": low, "high": high, "n": n}


def curves_band(curves: list[Curve], n_boot: int = DEFAULT_BOOTSTRAP,
                level: float = DEFAULT_LEVEL, seed: int = 0) -> dict[str, np.ndarray]:
    """``curve_band`` of runs' curves logged at possibly different x: ``x`` (every x any run
    logged, ascending) with ``mean``, ``low``, ``high`` and ``n`` at each, over the runs that
    logged a finite value there."""
    xs = sorted(set().union(*curves)) if curves else []
    values = np.full((len(curves), len(xs)), np.nan)
    column = {x: j for j, x in enumerate(xs)}
    for i, curve in enumerate(curves):
        for x, v in curve.items():
            values[i, column[x]] = v
    if not xs:
        empty = np.array([])
        return {"x": empty, "mean": empty, "low": empty, "high": empty, "n": empty}
    return {"x": np.array(xs), **curve_band(values, n_boot, level, seed)}


def paired_comparison(a: dict[int, float], b: dict[int, float], n_boot: int = DEFAULT_BOOTSTRAP,
                      level: float = DEFAULT_LEVEL, seed: int = 0) -> dict:
    """Paired differences ``b[k] - a[k]`` over the seeds both arms have (module docstring).

    Returns ``difference_summary``'s keys (``seeds``, ``differences``, ``n``,
    ``median_difference`` with its bootstrap ``median_ci``, ``mean_difference``, ``wins``,
    ``ties``, ``separates``) and each arm's ``summarize`` on the paired seeds.
    Raises ``ValueError`` when the arms share no seed.
    """
    seeds = sorted(k for k in set(a) & set(b) if np.isfinite(a[k]) and np.isfinite(b[k]))
    if not seeds:
        raise ValueError("the two arms share no seed with a finite score")
    return {**difference_summary(seeds, [b[k] - a[k] for k in seeds], n_boot, level, seed),
            "a": summarize([a[k] for k in seeds], n_boot, level, seed),
            "b": summarize([b[k] for k in seeds], n_boot, level, seed)}


def difference_summary(seeds: list[int], differences, n_boot: int = DEFAULT_BOOTSTRAP,
                       level: float = DEFAULT_LEVEL, seed: int = 0) -> dict:
    """Per-seed paired differences ``b - a`` summarised: ``seeds``, ``differences``, ``n``,
    ``median_difference`` with its bootstrap ``median_ci``, ``mean_difference``, ``wins``
    (differences > 0), ``ties`` (differences == 0) and ``separates`` (at least ``MIN_PAIRS``
    pairs and an interval that excludes zero: ``low > 0 or high < 0``).
    Raises ``ValueError`` on a non-finite difference (module docstring) or none at all."""
    d = np.asarray(differences, dtype=float).ravel()
    if d.size == 0:
        raise ValueError("no paired difference to summarise")
    bad = [s for s, x in zip(seeds, d) if not np.isfinite(x)]
    if bad or not np.isfinite(d).all():
        raise ValueError(f"paired differences are not finite at seeds {bad}: leave those seeds "
                         "out rather than count them")
    low, high = bootstrap_ci(d, median, n_boot, level, seed)
    return {"seeds": list(seeds), "differences": d.tolist(), "n": int(d.size),
            "median_difference": float(np.median(d)), "median_ci": [low, high],
            "mean_difference": float(d.mean()), "wins": int((d > 0).sum()),
            "ties": int((d == 0).sum()),
            "separates": bool(d.size >= MIN_PAIRS and (low > 0 or high < 0))}


def contrast(d1, d2, n_boot: int = DEFAULT_BOOTSTRAP, level: float = DEFAULT_LEVEL,
             seed: int = 0) -> dict:
    """``median(d2) - median(d1)`` of two cells' paired differences, its bootstrap interval
    (each cell resampled on its own) and ``separates`` (the interval excludes zero)."""
    a, b = finite(d1), finite(d2)
    if a.size == 0 or b.size == 0:
        raise ValueError("a cell has no finite difference")
    rng = np.random.default_rng(seed)
    boot = (np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1)
            - np.median(a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return {"contrast": float(np.median(b) - np.median(a)), "ci": [float(low), float(high)],
            "n": [int(a.size), int(b.size)], "separates": bool(low > 0 or high < 0)}
