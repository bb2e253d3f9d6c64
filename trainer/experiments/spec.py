"""Experiment specs: named arms over a base preset, a control, seeds and outcome metrics fixed in
advance, read from YAML and validated before anything runs (torch-free).

An experiment file (``python train.py compare SPEC``)::

    name: aux_fd8                        # the experiment folder's name (runs/experiments/<name>)
    base: ../offpolicy_cartpole_swingup.yaml   # a preset, relative to this file's folder
    overrides: [steps=15000, agent.feature_dim=8]   # common to every arm
    arms:                                # arm -> key=value overrides of base + overrides
      none: []                           # [] = the base unchanged
      A: [agent.aux.losses=[{type: one_step}]]
      mlp: {preset: ../mlp_swim_ppo.yaml, overrides: [agent.lr=1e-3]}   # an arm's own preset
    control: none                        # every other arm is compared with it, paired by seed
                                         # (a one-arm experiment: its IQM and curves only)
    seeds: [0, 1, 2]                     # a list, or a count N (seeds seed .. seed + N - 1)
    replication: [10, 11, 12]            # optional: a replication set declared in advance
    metrics:                             # outcome metrics, fixed before any run
      - final: 3                         # mean of the last 3 evaluation returns
      - auc                              # area under the evaluation curve / the steps it spans
      - {metric: fau/critic, at: 15000}  # a logged metric as it stood at agent step 15000
      - {table: transfer.csv, column: mean_return, where: {policy: trained, n_joints: 9}}
    posthoc:                             # optional: train.py subcommands per finished run
      - [transfer, --episodes, "2", --joints, "5", "9"]   # run as: train.py transfer <run> ...
      - [transfer, "{run}/checkpoints/last.pt", --joints, "5"]   # a target of its own
    run_dir: runs/experiments/aux_fd8    # optional (the default)

Trial ``(arm, seed)`` trains in ``<run_dir>/<arm>/seed<seed>/`` with config
``preset + overrides + arm overrides + seed=<seed>`` (later overrides win; the preset is the arm's
own ``preset:`` when it names one, else ``base:``), progress bars off and
``torch_threads: null`` made 1 (one core per trial), as a sweep's trials.

**Metric rules** (``trainer.experiments.scores``): ``final: k`` is the mean of the run's last ``k``
evaluation returns (``eval.csv`` ``mean_return``); ``auc`` is the trapezoid area under the
evaluation curve divided by the steps it spans, i.e. the curve's average return
(``trainer.analysis.runs.curve_area``); ``{metric: NAME, at: STEP}`` is the last value of
``NAME`` (``return``, ``eval/<eval.csv column>`` or a ``metrics.csv`` column) logged at an agent
step ``<= STEP``; ``{table: FILE, column: COL, where: {KEY: VALUE, ...}}`` is column ``COL`` of the
one row of ``<run>/FILE`` whose columns equal every ``where`` value (numbers compared as floats),
a table a post-hoc command of the spec writes into the run folder (``TABLES``: ``transfer.csv``
from ``transfer``); no such row, or more than one, scores the run NaN (left out, and said).
Each has a ``name`` (default ``final``, ``auc``, ``NAME@STEP``, ``COL[KEY=VALUE,...]``).

Refused on load, one line naming the file and the key, before anything is run or written: an
unknown key, a key given twice in a mapping (e.g. two arms of one name), no ``control`` or one
that is not an arm, an arm override the config schema does not know (``configs.loader.validate``
on every arm's config), a metric the base config's agent never logs (``LOGGED``), a step past an
arm's budget, a ``posthoc`` subcommand outside ``POSTHOC_SUBCOMMANDS``, a table metric whose
table no post-hoc command writes into the run folder (or whose columns it does not have), an arm
with no ``preset:`` when there is no ``base:``. Plug-ins the spec or its
base preset names load only with ``--trust-plugins`` (``configs/plugins.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from configs.errors import ConfigError
from configs.loader import (apply_overrides, compose_yaml, config_to_dict, plugins_source,
                            read_yaml, resolve_preset, validate)
from configs.plugins import on_command_line
from configs.schema import RunConfig
from trainer.analysis.runs import SKIPPED_DIRS
from trainer.sweep.spec import checked_seeds

EXPERIMENTS_DIR = Path("runs") / "experiments"
RESERVED_KEYS = {"seed": "give seeds: in the spec", "run_dir": "give run_dir: in the spec"}
ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
POSTHOC_SUBCOMMANDS = ("evaluate", "transfer", "represent", "activity", "render")
RUN_PLACEHOLDER = "{run}"

# Tables a post-hoc subcommand writes into the run folder (unless given --out): file ->
# (subcommand, its columns). transfer.csv: ``trainer.posthoc.transfer`` (TransferRow.csv_row:
# policy, env, ``envs.bodies.BODY_COLUMNS``, ``STAT_COLUMNS``; tests/test_compare.py checks
# these against a real transfer.csv).
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "transfer.csv": ("transfer", (
        "policy", "env", "n_joints", "length_scale", "density", "viscosity", "length", "mass",
        "gear", "damping", "friction", "mean_return", "std_return", "min_return", "max_return",
        "episodes", "seed")),
}

# What every run logs: eval.csv's columns and metrics.csv's loop columns.
EVAL_COLUMNS = ("mean_return", "std_return", "min_return", "max_return", "episodes", "seconds")
LOOP_COLUMNS = ("episodes", "steps_per_second", "train_seconds", "episode_return",
                "episode_length", "updates")
DORMANT = ("dormant0", "dormant0.025")   # agents.plasticity.metrics.DORMANT_TAUS
WEIGHT_PREFIXES = ("weight/", "weight_change/", "grad_norm/", "srank/", "erank/")


# --- the file's schema ------------------------------------------------------------------------
class Metric(BaseModel):
    """One outcome metric (module docstring: the rules)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    kind: Literal["final", "auc", "at", "table"]
    k: int | None = None
    metric: str | None = None
    at: int | None = None
    table: str | None = None
    column: str | None = None
    where: dict[str, str | int | float] | None = None

    def rule(self) -> str:
        """The metric's rule in words (for compare.md)."""
        if self.kind == "final":
            return (f"mean of the last {self.k} evaluation returns" if self.k > 1
                    else "the last evaluation return")
        if self.kind == "auc":
            return "area under the evaluation-return curve / the steps it spans (trapezoids)"
        if self.kind == "table":
            where = ", ".join(f"{k} = {v}" for k, v in (self.where or {}).items())
            return (f"{self.column} of the {self.table} row with {where}" if where
                    else f"{self.column} of the one {self.table} row")
        return f"{self.metric} as last logged at agent step <= {self.at}"


def parse_table_metric(item: dict[str, Any], name: str | None) -> Metric:
    """``{table: FILE, column: COL, where: {KEY: VALUE}}`` (``where`` optional)."""
    if not set(item) <= {"table", "column", "where"} or "column" not in item:
        raise ValueError(f"a table metric is {{table: FILE, column: COL, where: {{KEY: VALUE}}}} "
                         f"(got keys {sorted(item)})")
    table, column, where = item["table"], item["column"], item.get("where") or {}
    if table not in TABLES:
        raise ValueError(f"table: {table!r} is not a table a post-hoc command writes (tables: "
                         f"{', '.join(TABLES)})")
    columns = TABLES[table][1]
    if not isinstance(where, dict):
        raise ValueError(f"where: needs a mapping of column: value (got {where!r})")
    for key in [column, *where]:
        if key not in columns:
            raise ValueError(f"{table} has no column {key!r} (columns: {', '.join(columns)})")
    for key, value in where.items():
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"where: {key}: needs a string or a number (got {value!r})")
    label = ",".join(f"{k}={v}" for k, v in where.items())
    return Metric(name=name or (f"{column}[{label}]" if label else column), kind="table",
                  table=table, column=column, where=dict(where))


def parse_metric(item: Any) -> Metric:
    """``auc`` | ``{final: k}`` | ``{metric: NAME, at: STEP}`` | ``{table: FILE, column: COL,
    where: {...}}``, each with an optional ``name``."""
    if item == "auc":
        return Metric(name="auc", kind="auc")
    if not isinstance(item, dict):
        raise ValueError(f"expected auc, {{final: k}} or {{metric: NAME, at: STEP}} (got {item!r})")
    item = dict(item)
    name = item.pop("name", None)
    if "final" in item:
        k = item.pop("final")
        if item or not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"final: needs only a count k >= 1 of last evaluations (got "
                             f"{k!r}{', ' + str(sorted(item)) if item else ''})")
        return Metric(name=name or "final", kind="final", k=k)
    if "auc" in item:
        if item.pop("auc") is not True or item:
            raise ValueError("auc: takes no settings (write auc, or {auc: true, name: ...})")
        return Metric(name=name or "auc", kind="auc")
    if "table" in item:
        return parse_table_metric(item, name)
    if set(item) != {"metric", "at"}:
        raise ValueError(f"a logged metric is {{metric: NAME, at: STEP}} (got keys {sorted(item)})")
    metric, at = item["metric"], item["at"]
    if not isinstance(metric, str) or not metric or not isinstance(at, int) or at < 0:
        raise ValueError(f"metric: needs a name and at: an agent step >= 0 (got {metric!r}, {at!r})")
    return Metric(name=name or f"{metric}@{at}", kind="at", metric=metric, at=at)


class ArmFile(BaseModel):
    """An arm with its own preset: ``{preset: PATH, overrides: [key=value, ...]}``."""

    model_config = ConfigDict(extra="forbid")
    preset: str
    overrides: list[str] = []


class ExperimentFile(BaseModel):
    """The keys of an experiment file (module docstring)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    base: str | None = None
    arms: dict[str, list[str] | ArmFile]
    control: str
    seeds: int | list[int]
    metrics: list[Metric]
    overrides: list[str] = []
    replication: list[int] | None = None
    posthoc: list[list[str]] = []
    run_dir: str | None = None
    description: str = ""

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, value: Any) -> list[Metric]:
        if not isinstance(value, list) or not value:
            raise ValueError("needs a list of at least one outcome metric")
        metrics = []
        for i, item in enumerate(value):
            try:
                metrics.append(parse_metric(item))
            except ValueError as e:
                raise ValueError(f"[{i}] {e}") from None
        names = [m.name for m in metrics]
        twice = next((n for n in names if names.count(n) > 1), None)
        if twice:
            raise ValueError(f"two metrics are named {twice!r} (give one a name:)")
        return metrics

    @field_validator("arms", mode="before")
    @classmethod
    def _arm_forms(cls, arms: Any) -> Any:
        """Each arm is a list of overrides or ``{preset, overrides}``: said in one message."""
        if not isinstance(arms, dict):
            return arms
        out = {}
        for arm, given in arms.items():
            if isinstance(given, dict):
                unknown = sorted(set(given) - set(ArmFile.model_fields))
                if unknown or "preset" not in given:
                    raise ValueError(f"{arm}: an arm is a list of key=value overrides or "
                                     f"{{preset: PATH, overrides: [...]}} (got keys "
                                     f"{sorted(given)})")
                overrides = given.get("overrides") or []
                if not isinstance(given["preset"], str) or not isinstance(overrides, list):
                    raise ValueError(f"{arm}: preset: needs a path and overrides: a list")
                out[arm] = ArmFile(preset=given["preset"], overrides=[str(o) for o in overrides])
            elif isinstance(given, list):
                out[arm] = [str(o) for o in given]
            else:
                raise ValueError(f"{arm}: an arm is a list of key=value overrides or "
                                 f"{{preset: PATH, overrides: [...]}} (got {given!r})")
        return out

    @field_validator("arms")
    @classmethod
    def _arms(cls, arms: dict[str, list[str] | ArmFile]) -> dict[str, list[str] | ArmFile]:
        if not arms:
            raise ValueError("needs at least one arm (one arm alone: its IQM and curves, no "
                             "paired comparison)")
        for arm in arms:
            if not ARM_NAME.match(arm) or arm in SKIPPED_DIRS:
                raise ValueError(f"arm name {arm!r} is not a folder name (letters, digits, "
                                 f"_ . + -; not {', '.join(sorted(SKIPPED_DIRS))})")
        return arms

    @field_validator("posthoc")
    @classmethod
    def _posthoc(cls, commands: list[list[str]]) -> list[list[str]]:
        for command in commands:
            if not command or command[0] not in POSTHOC_SUBCOMMANDS:
                raise ValueError(f"each command starts with one of {', '.join(POSTHOC_SUBCOMMANDS)}"
                                 f" (got {command[:1]})")
        return commands


# --- duplicate keys ---------------------------------------------------------------------------
def duplicate_key(path: Path) -> str | None:
    """The first key given twice in one mapping of ``path`` (``a.b``), or None.

    ``read_yaml`` has bounded the file already; this composes it again with the same loader
    and walks the nodes, since a plain YAML load keeps the last of two equal keys silently."""
    def walk(node: yaml.Node, prefix: str) -> str | None:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    return f"{prefix}{key}"
                seen.add(key)
                found = walk(value_node, f"{prefix}{key}.")
                if found:
                    return found
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                found = walk(child, f"{prefix}{i}.")
                if found:
                    return found
        return None

    root = compose_yaml(path.read_text())
    return walk(root, "") if root is not None else None


# --- the resolved experiment ------------------------------------------------------------------
@dataclass(frozen=True)
class Experiment:
    """A validated experiment: each arm's config (no seed, no run folder) and the rest."""

    path: Path
    name: str
    base: Path | None
    arms: dict[str, dict[str, Any]]   # arm -> config data, validated
    overrides: dict[str, list[str]]   # arm -> its own overrides, as given
    presets: dict[str, Path]          # arm -> the preset it starts from (its own, or base)
    control: str
    seeds: list[int]
    replication: list[int] | None
    metrics: list[Metric]
    posthoc: list[list[str]]
    run_dir: Path
    description: str

    def arm_dir(self, arm: str, seed: int) -> Path:
        return self.run_dir / arm / f"seed{seed}"

    def to_yaml(self) -> str:
        """The resolved experiment (``experiment.yaml`` in the experiment folder)."""
        return yaml.safe_dump({
            "name": self.name, "spec": str(self.path),
            "base": str(self.base) if self.base else None,
            "control": self.control, "seeds": self.seeds, "replication": self.replication,
            "metrics": [m.model_dump(exclude_none=True) for m in self.metrics],
            "posthoc": self.posthoc, "arms": self.overrides,
            "presets": {arm: str(p) for arm, p in self.presets.items()}, "configs": self.arms},
            sort_keys=False)


def _where(path: Path, loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


def read_file(path: Path) -> ExperimentFile:
    data = read_yaml(path)
    twice = duplicate_key(path)
    if twice:
        raise ConfigError(f"experiment {path}: key '{twice}' is given twice (each arm, metric "
                          "and key once)")
    if "control" not in data:
        raise ConfigError(f"experiment {path}: no 'control' (the arm every other arm is "
                          "compared with)")
    try:
        spec = ExperimentFile.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        loc = _where(path, e["loc"])
        if e["type"] == "extra_forbidden":
            raise ConfigError(f"experiment {path}: unknown key '{loc}' (expected "
                              f"{', '.join(ExperimentFile.model_fields)})") from None
        msg = e["msg"].removeprefix("Value error, ")
        raise ConfigError(f"experiment {path}: {loc}: {msg}") from None
    if spec.control not in spec.arms:
        raise ConfigError(f"experiment {path}: control: {spec.control!r} is not an arm "
                          f"(arms: {', '.join(spec.arms)})")
    return spec


def check_overrides(path: Path, where: str, overrides: list[str]) -> None:
    for item in overrides:
        key = item.partition("=")[0]
        if key in RESERVED_KEYS:
            raise ConfigError(f"experiment {path}: {where}: '{key}' is set by the experiment "
                              f"({RESERVED_KEYS[key]})")


def logged_metrics(cfg: RunConfig) -> tuple[set[str], tuple[str, ...]] | None:
    """``(names, prefixes)`` of the ``metrics.csv`` columns a run of ``cfg`` logs, or None when
    this module does not know its agent (a plug-in's: then any name is accepted).

    PPO logs its update statistics, and with ``agent.weight_metrics`` the weight, gradient and
    rank metrics, the critic's dormant ratios and (ReLU critic only) ``fau/critic``. The
    off-policy agents log their per-update statistics, ``rr``, ``fau/critic`` unless
    ``critic_fau: false``, the actor's, critic's (and encoder's) plasticity metrics with
    ``plasticity_metrics``, and what auxiliary losses, interventions and weight metrics add
    (``aux/``, ``loss/aux``, ``redo/``, ... by prefix). ES and plug-in agents: None."""
    agent = cfg.agent
    name = getattr(agent, "name", None)
    if name == "ppo":
        names = {"loss/actor", "loss/critic", "kl", "clip_fraction", "actor_steps", "std",
                 "value_mean", "advantage_std"}
        prefixes: tuple[str, ...] = ()
        if getattr(agent, "weight_metrics", False):
            names |= {f"{d}/critic" for d in DORMANT}
            if getattr(agent, "critic_activation", "") == "relu":
                names.add("fau/critic")
            prefixes = WEIGHT_PREFIXES
        return names, prefixes
    if name in ("offpolicy", "drqv2"):
        names = {"loss/critic", "q", "target_q", "loss/actor", "batch_reward", "actor_std", "rr"}
        if getattr(agent, "critic_fau", True):
            names.add("fau/critic")
        if getattr(agent, "plasticity_metrics", False):
            names |= {f"{d}/critic" for d in DORMANT} | {"fau/actor", "fau/encoder"}
            names |= {f"{d}/actor" for d in DORMANT} | {f"{d}/encoder" for d in DORMANT}
        return names, ("aux/", "loss/aux", "redo/", "reset/", "shrink_perturb/",
                       "plasticity_injection/", "trigger/", "repr/", *WEIGHT_PREFIXES)
    return None


def check_table(path: Path, metric: Metric, posthoc: list[list[str]]) -> None:
    """A table metric needs a post-hoc command that writes its table into the run folder."""
    sub = TABLES[metric.table][0]
    writers = [c for c in posthoc if c[0] == sub and "--out" not in c]
    if not writers:
        raise ConfigError(f"experiment {path}: metrics: {metric.name}: no post-hoc command "
                          f"writes {metric.table} into the run folder (add posthoc: "
                          f"[[{sub}, ...]] without --out)")


def check_metric(path: Path, metric: Metric, arm: str, cfg: RunConfig) -> None:
    """A metric the run never logs, or a step past the arm's budget, is a ``ConfigError``."""
    if metric.kind != "at":
        return
    where = f"experiment {path}: metrics: {metric.name}"
    if metric.at > cfg.steps:
        raise ConfigError(f"{where}: at: {metric.at} is past arm {arm!r}'s budget "
                          f"(steps={cfg.steps})")
    name = metric.metric
    if name == "return":
        return
    if name.startswith("eval/"):
        if name[len("eval/"):] not in EVAL_COLUMNS:
            raise ConfigError(f"{where}: eval.csv has no column {name[5:]!r} (columns: "
                              f"{', '.join(EVAL_COLUMNS)})")
        return
    logged = logged_metrics(cfg)
    if logged is None or name in LOOP_COLUMNS:
        return
    names, prefixes = logged
    if name in names or name.startswith(prefixes):
        return
    raise ConfigError(f"{where}: {name!r} is never logged by arm {arm!r} (agent "
                      f"{getattr(cfg.agent, 'name', '?')}; logged: return, eval/<column>, "
                      f"{', '.join(sorted(names | set(LOOP_COLUMNS)))})")


def preset_path(path: Path, key: str, given: str) -> Path:
    """``given`` relative to the experiment file's folder, which must be a file."""
    preset = (path.resolve().parent / given).resolve()
    if not preset.is_file():
        raise ConfigError(f"experiment {path}: {key}: {given} not found (a path relative to "
                          f"the experiment file's folder, {path.parent})")
    return preset


def load_experiment(path: str | Path, trust_plugins: bool = False) -> Experiment:
    """Read and validate ``path`` (module docstring); nothing is written."""
    path = Path(path)
    spec = read_file(path)
    base = preset_path(path, "base", spec.base) if spec.base is not None else None
    check_overrides(path, "overrides", spec.overrides)
    for metric in spec.metrics:
        if metric.kind == "table":
            check_table(path, metric, spec.posthoc)
    arms: dict[str, dict[str, Any]] = {}
    own_overrides: dict[str, list[str]] = {}
    presets: dict[str, Path] = {}
    first_seed = None
    for arm, given in spec.arms.items():
        own = given.overrides if isinstance(given, ArmFile) else given
        if isinstance(given, ArmFile):
            preset = preset_path(path, f"arms.{arm}.preset", given.preset)
        elif base is None:
            raise ConfigError(f"experiment {path}: arms.{arm}: no preset (give base: for the "
                              "arms that are lists of overrides, or {preset: ..., overrides: "
                              "[...]})")
        else:
            preset = base
        check_overrides(path, f"arms.{arm}", own)
        own_overrides[arm], presets[arm] = list(own), preset
        preset_data = resolve_preset(preset)
        items = [*spec.overrides, *own]
        named_in = path if on_command_line(items) else (
            plugins_source(preset) if preset_data.get("plugins") else preset)
        try:
            cfg = validate(apply_overrides(preset_data, items), named_in, trust_plugins)
        except ConfigError as e:
            raise ConfigError(f"experiment {path}: arms.{arm}: {e}") from None
        for metric in spec.metrics:
            check_metric(path, metric, arm, cfg)
        first_seed = cfg.seed if first_seed is None else first_seed
        data = config_to_dict(cfg)
        for key in ("seed", "run_dir"):
            data.pop(key)
        data["trainer"]["progress"] = False
        data["torch_threads"] = data["torch_threads"] or 1
        arms[arm] = data
    where = f"experiment {path}: seeds"
    if isinstance(spec.seeds, int) and spec.seeds < 1:
        raise ConfigError(f"{where}: a count must be >= 1 (got {spec.seeds})")
    seeds = (list(range(first_seed, first_seed + spec.seeds)) if isinstance(spec.seeds, int)
             else checked_seeds(list(spec.seeds), where))
    replication = None
    if spec.replication is not None:
        replication = checked_seeds(list(spec.replication), f"experiment {path}: replication")
        if set(replication) & set(seeds):
            raise ConfigError(f"experiment {path}: replication: seeds "
                              f"{sorted(set(replication) & set(seeds))} are in seeds: too")
    run_dir = Path(spec.run_dir) if spec.run_dir else EXPERIMENTS_DIR / spec.name
    return Experiment(path=path, name=spec.name, base=base, arms=arms, overrides=own_overrides,
                      presets=presets, control=spec.control, seeds=seeds, replication=replication,
                      metrics=spec.metrics, posthoc=spec.posthoc, run_dir=run_dir.resolve(),
                      description=spec.description)
