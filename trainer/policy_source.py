"""One line naming the policy a command acts with: which checkpoint, its step, its evaluation.

``evaluate``, ``transfer``, ``render`` and ``activity`` load a run folder's ``best.pt`` (the
best evaluation so far; ``last.pt`` before the first evaluation wrote one), a named checkpoint,
or a config's untrained initial policy. A ``best.pt`` of step 0 is the initial policy (no later
evaluation beat it), so it acts exactly as the untrained policy does: the line says so. Each
source is announced once per process (a transfer loads the policy once per body).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_ANNOUNCED: set[str] = set()


def describe(path: Path | None, target: str | Path, state: dict[str, Any] | None) -> str:
    """``policy: <checkpoint> (step N, evaluation return R)`` or the untrained policy's line."""
    if path is None or state is None:
        return f"policy: the untrained initial policy of {target}"
    step = int(state.get("step", 0))
    best = state.get("trainer", {}).get("best_eval")
    score = (f", evaluation return {best:.1f}" if path.name == "best.pt" and best is not None
             and math.isfinite(best) else "")
    line = f"policy: {path} (step {step:,}{score})"
    if step == 0:
        line += ("; this is the initial policy (no later evaluation beat it), so it acts as "
                 "the untrained policy does")
    return line


def announce(path: Path | None, target: str | Path, state: dict[str, Any] | None) -> None:
    """Log ``describe(...)`` at INFO, once per source per process."""
    key = str(Path(path).resolve()) if path is not None else f"untrained:{target}"
    if key not in _ANNOUNCED:
        _ANNOUNCED.add(key)
        log.info(describe(path, target, state))
