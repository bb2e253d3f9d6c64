"""Sweep specs: a base config, seeds and a grid of overrides, expanded into validated trials.

A sweep runs every grid point (the cartesian product of the ``--grid`` values) for every seed.
Trial ``(point, seed)`` trains in the ordinary run folder ``<sweep>/<label>/seed<seed>/``, where
the label names the point's values, e.g. ``agent.actor_lr=0.001,agent.clip=0.1`` (``base``
without a grid). The sweep folder holds ``sweep.yaml``, the resolved spec, which is itself a
sweep file (``python train.py sweep <sweep>/sweep.yaml`` resumes the sweep). A sweep file::

    base: configs/ncap_swim_ppo.yaml   # a preset (path) or a mapping of config keys
    overrides: [steps=20000]           # optional key=value overrides of the base
    seeds: 10                          # a count (seeds seed, seed+1, ...) or a list
    grid:                              # optional: key -> list of values
      agent.actor_lr: [1.0e-3, 3.0e-4]
    run_dir: runs/sweeps/lr            # optional sweep folder

Trials never show progress bars, and ``torch_threads: null`` becomes 1 (one core per trial).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from configs.loader import (ALIASES, DEFAULT_PRESET, ConfigError, apply_overrides, config_to_dict,
                            parse_value, plugins_source, read_yaml, resolve_preset, validate)
from configs.plugins import on_command_line
from configs.schema import RunConfig
from trainer.files import read_json, write_atomic
from trainer.rundir import RunDir, first_config_difference

SPEC_FILE = "sweep.yaml"
SWEEP_KEYS = ("base", "overrides", "seeds", "grid", "run_dir")
RESERVED_GRID_KEYS = {"seed": "use --seeds", "run_dir": "the sweep folder is run_dir="}
NO_GRID_LABEL = "base"


@dataclass(frozen=True)
class SweepSpec:
    """A resolved sweep: the base config (no seed, no run folder), seeds and grid."""

    base: dict[str, Any]
    seeds: list[int]
    grid: dict[str, list[Any]]
    run_dir: Path

    def to_yaml(self) -> str:
        return yaml.safe_dump({"run_dir": str(self.run_dir), "seeds": self.seeds,
                               "grid": self.grid, "base": self.base}, sort_keys=False)


@dataclass(frozen=True)
class Trial:
    """One grid point and seed, with its validated config."""

    label: str
    seed: int
    cfg: RunConfig

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.resolved_run_dir())

    @property
    def name(self) -> str:
        return f"{self.label}/seed{self.seed}"

    def is_finished(self) -> bool:
        """``summary.json`` says complete, at this config's ``steps``."""
        summary = read_json(RunDir(self.run_dir).summary_file)
        if summary is None:
            return False
        return summary.get("status") == "complete" and summary.get("env_steps") == self.cfg.steps


# --- parsing -------------------------------------------------------------------------------
def split_values(text: str) -> list[str]:
    """Split ``v1,v2`` at top-level commas, so ``[64,64],[256,256]`` gives two lists."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def canonical_key(key: str) -> str:
    return ALIASES.get(key, key)


def add_grid_axis(grid: dict[str, list[Any]], key: str, values: list[Any], where: str) -> None:
    """Add ``key -> values`` to ``grid`` after checking the key and the values."""
    key = canonical_key(key)
    if key in RESERVED_GRID_KEYS:
        raise ConfigError(f"{where}: '{key}' cannot be a grid key ({RESERVED_GRID_KEYS[key]})")
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: '{key}' needs a non-empty list of values")
    labels = [value_label(v) for v in values]
    for label in labels:
        if labels.count(label) > 1:
            raise ConfigError(f"{where}: value {label} of '{key}' is given twice")
    grid[key] = values


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["agent.actor_lr=1e-3,3e-4", ...]`` -> ``{"agent.actor_lr": [0.001, 0.0003]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or not raw:
            raise ConfigError(f"bad --grid '{item}': expected key=v1,v2,... "
                              "(e.g. --grid agent.actor_lr=1e-3,3e-4)")
        values = split_values(raw)
        if "" in values:
            raise ConfigError(f"bad --grid '{item}': empty value")
        if canonical_key(key) in grid:
            raise ConfigError(f"bad --grid '{item}': '{key}' already has a --grid")
        add_grid_axis(grid, key, [parse_value(v) for v in values], f"bad --grid '{item}'")
    return grid


def parse_seeds(text: str, first: int) -> list[int]:
    """``"10"`` -> ``first .. first + 9``; ``"0,3,7"`` -> ``[0, 3, 7]``."""
    try:
        if "," in text:
            seeds = [int(s) for s in split_values(text)]
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = list(range(first, first + count))
    except ValueError:
        raise ConfigError(f"bad --seeds '{text}': expected a count (e.g. 10) or a list "
                          "(e.g. 0,3,7) of seeds >= 0") from None
    return checked_seeds(seeds, f"bad --seeds '{text}'")


def checked_seeds(seeds: list[int], where: str) -> list[int]:
    if any(not isinstance(s, int) or s < 0 for s in seeds) or not seeds:
        raise ConfigError(f"{where}: seeds must be integers >= 0")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: a seed is given twice")
    return seeds


def value_label(value: Any) -> str:
    """A grid value as it appears in a folder name: ``0.001``, ``true``, ``[64,64]``, ``swim``."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text.replace("/", "_")


# --- resolving -----------------------------------------------------------------------------
def read_sweep_file(path: Path) -> dict[str, Any] | None:
    """The sweep-file keys of ``path``, or None when it is an ordinary config preset."""
    data = read_yaml(path)
    if not any(k in data for k in ("overrides", "grid", "seeds")) \
            and not isinstance(data.get("base"), dict):
        return None  # a preset (which may name its own base preset)
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise ConfigError(f"sweep file {path}: unknown key '{unknown[0]}' "
                          f"(expected {', '.join(SWEEP_KEYS)})")
    return data


def base_data(sweep: dict[str, Any], path: Path) -> dict[str, Any]:
    base = sweep.get("base", str(DEFAULT_PRESET))
    if isinstance(base, dict):
        return base
    if isinstance(base, str):
        return resolve_preset(base)
    raise ConfigError(f"sweep file {path}: 'base' must be a preset path or a mapping of keys")


def file_grid(sweep: dict[str, Any], path: Path) -> dict[str, list[Any]]:
    raw = sweep.get("grid") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep file {path}: 'grid' must map keys to lists of values")
    grid: dict[str, list[Any]] = {}
    for key, values in raw.items():
        add_grid_axis(grid, str(key), values, f"sweep file {path}: grid")
    return grid


def resolve_spec(config: str | None, overrides: list[str], seeds: str | None,
                 grid_args: list[str], trust_plugins: bool = False) -> SweepSpec:
    """Preset or sweep file + ``key=value`` overrides + ``--seeds`` + ``--grid`` -> spec.

    ``run_dir=`` names the sweep folder (default ``runs/sweeps/<name>``) and ``seed=`` the
    first seed of ``--seeds N``. Later sources win: sweep file, then the command line.
    Plug-ins the sweep file or its base preset names load only with ``trust_plugins``;
    those a command-line override names always do (``configs/plugins.py``).
    """
    path = Path(config) if config else DEFAULT_PRESET
    sweep = read_sweep_file(path) or {"base": str(path)}
    file_overrides = sweep.get("overrides") or []
    if not isinstance(file_overrides, list):
        raise ConfigError(f"sweep file {path}: 'overrides' must be a list of key=value strings")
    run_dir = sweep.get("run_dir")
    plain = []
    for item in [*map(str, file_overrides), *overrides]:
        key, _, value = item.partition("=")
        if key == "run_dir":
            run_dir = value
        else:
            plain.append(item)
    data = apply_overrides(base_data(sweep, path), plain)
    preset = sweep.get("base", str(DEFAULT_PRESET))   # plug-ins named there, else in the file
    named_in = path if on_command_line(file_overrides) or not isinstance(preset, str) \
        else plugins_source(preset) if data.get("plugins") else preset
    cfg = validate(data, named_in, trust_plugins or on_command_line(overrides))
    grid = file_grid(sweep, path)
    grid.update(parse_grid(grid_args))
    if seeds is not None:
        seed_list = parse_seeds(seeds, cfg.seed)
    elif "seeds" in sweep:
        raw = sweep["seeds"]
        seed_list = (parse_seeds(str(raw), cfg.seed) if isinstance(raw, int)
                     else checked_seeds(list(raw), f"sweep file {path}: seeds"))
    else:
        seed_list = [cfg.seed]
    base = config_to_dict(cfg)
    for key in ("seed", "run_dir"):
        base.pop(key)
    base["trainer"]["progress"] = False
    base["torch_threads"] = base["torch_threads"] or 1
    folder = Path(run_dir) if run_dir else Path("runs") / "sweeps" / cfg.name
    return SweepSpec(base=base, seeds=seed_list, grid=grid, run_dir=folder.resolve())


def grid_points(grid: dict[str, list[Any]]) -> list[tuple[str, list[str]]]:
    """``(label, overrides)`` of every grid point, in ``--grid`` order."""
    if not grid:
        return [(NO_GRID_LABEL, [])]
    points = []
    for values in itertools.product(*grid.values()):
        pairs = list(zip(grid, values))
        label = ",".join(f"{k}={value_label(v)}" for k, v in pairs)
        points.append((label, [f"{k}={json.dumps(v)}" for k, v in pairs]))
    return points


def expand(spec: SweepSpec) -> list[Trial]:
    """Every ``(grid point, seed)`` trial, each config validated (nothing is written)."""
    return [make_trial(spec.base, overrides, label, seed, spec.run_dir / label / f"seed{seed}",
                       f"grid point {label}")
            for label, overrides in grid_points(spec.grid) for seed in spec.seeds]


def make_trial(base: dict[str, Any], overrides: list[str], label: str, seed: int,
               run_dir: Path, where: str) -> Trial:
    """The trial of ``base`` + ``overrides`` at ``seed`` in ``run_dir``, its config validated;
    an invalid one is a ``ConfigError`` starting with ``where`` (which grid point or arm)."""
    data = apply_overrides(base, [*overrides, f"seed={seed}"])
    data["run_dir"] = str(run_dir)
    try:
        cfg = validate(data)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    return Trial(label=label, seed=seed, cfg=cfg)


# --- the sweep folder ----------------------------------------------------------------------
def check_folder(spec: SweepSpec, trials: list[Trial]) -> None:
    """Refuse a sweep folder that holds another sweep, or a run folder with another config.

    The seeds, the grid values and ``steps`` may change between runs of a sweep (to add seeds
    or grid points, or to train longer); the base config and the grid keys may not.
    """
    spec_file = spec.run_dir / SPEC_FILE
    if spec_file.exists():
        old = read_yaml(spec_file)
        old_keys, new_keys = list(old.get("grid") or {}), list(spec.grid)
        if old_keys != new_keys:
            raise ConfigError(
                f"sweep folder {spec.run_dir} holds a sweep over {old_keys or 'no grid'}, not "
                f"{new_keys or 'no grid'}; use another run_dir= or the same grid keys")
        diff = first_config_difference(old.get("base") or {}, spec.base)
        if diff:
            k, there, now = diff
            raise ConfigError(
                f"sweep folder {spec.run_dir} holds a sweep with another base config ({k}: "
                f"{there!r} there, {now!r} now); use another run_dir= or the same settings")
    for trial in trials:
        RunDir(trial.run_dir).check_same_config(trial.cfg)


def write_spec(spec: SweepSpec) -> None:
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(spec.run_dir / SPEC_FILE, spec.to_yaml())
