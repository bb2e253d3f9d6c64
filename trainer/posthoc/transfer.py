"""Zero-shot transfer of one policy across bodies of its own task, beside two reference policies.

For every body of a grid (``envs.bodies``: swimmers by joint count, link length and medium; a
dm_control domain by limb length, mass, gear, damping and friction multipliers) the policy runs
deterministically exactly as ``train.py evaluate`` runs it (``trainer.evaluation.evaluate`` on
``trainer.api.load_policy(target, body overrides)``): ``episodes`` episodes seeded
``seed, seed + 1, ...`` through ``env.reset(seed=...)``, so every policy meets the same initial
states on a body (common random numbers). Reference rows on the same bodies and seeds:

* ``untrained`` - the run's own config at its initialisation (same seed, no checkpoint): what
  the architecture does before learning (for the swimmer's NCAP, the circuit's prior);
* ``random`` - actions drawn uniformly from the action box, the RNG seeded by the episode seed.

Every row carries the body read back from the env its episodes ran on, after they ran
(``envs.bodies.measured_columns``: the swimmer's N, length scale and medium, which the task sets
at each reset; a domain's multipliers as ratios to its stock model, only those it defines), so a
row's label cannot drift from the body it describes.

A pixel policy sees its observations rendered from the changed body. Only a body-independent
policy (weight-shared NCAP: 4 weights for any N) runs on a swimmer with another joint count; a
policy whose observation or action shapes do not fit a body is refused with one line. Body
multipliers keep every shape, so any dm_control policy may be evaluated on them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from configs import figure_layout
from configs.loader import ConfigError
from envs.bodies import BODY_COLUMNS, Body, body_overrides, measured_columns
from envs.dmc_bodies import DOMAINS, BodyChanges, check_changes
from envs.factory import parse_dmc_id
from trainer.analysis import stats
from trainer.api import load_policy, load_run_config, untrained_agent
from trainer.evaluation import evaluate, run_episode
from trainer.files import replacing, write_atomic

UNTRAINED = "untrained"
RANDOM = "random"
STAT_COLUMNS = ("mean_return", "std_return", "min_return", "max_return", "episodes", "seed",
                "returns")
HEADERS = {"n_joints": "N", "length_scale": "length scale", "density": "density",
           "viscosity": "viscosity", "length": "length ×", "mass": "mass ×", "gear": "gear ×",
           "damping": "damping ×", "friction": "friction ×"}


@dataclass
class TransferRow:
    """One policy on one body of task ``env``: returns of ``episodes`` deterministic episodes."""

    policy: str
    env: str
    body: dict[str, float]
    mean_return: float
    std_return: float
    min_return: float
    max_return: float
    episodes: int
    seed: int
    returns: str

    def as_dict(self) -> dict[str, Any]:
        """The CSV row: policy, env, the body's columns, then the statistics."""
        return {"policy": self.policy, "env": self.env, **self.body,
                **{k: getattr(self, k) for k in STAT_COLUMNS}}


def default_out_dir(target: str | Path, cfg_name: str) -> Path:
    """Where a target's transfer files go: its run folder, else ``runs/<name>/untrained``."""
    p = Path(target)
    if p.is_dir():
        return p
    if p.suffix == ".pt":
        run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
        return run if (run / "config.yaml").exists() else p.parent
    return Path("runs") / cfg_name / "untrained"


def check_bodies(env_id: str, bodies: Sequence[Body]) -> None:
    """``ConfigError`` when a body is not of the policy's task (swimmer vs dm_control)."""
    for body in bodies:
        if isinstance(body, BodyChanges) == (env_id == "swim"):
            kind = "dm_control body multipliers" if isinstance(body, BodyChanges) else \
                "swimmer bodies"
            raise ConfigError(f"this policy runs on env.id='{env_id}'; {kind} do not apply to it "
                              "(swim: joints, length scale, density, viscosity; dm_control: "
                              "length, mass, gear, damping, friction)")


def uniform_random_policy(action_space, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Actions ~ U[low, high] per dimension, from a generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    low, high = action_space.low, action_space.high
    return lambda obs: rng.uniform(low, high)


def _row(policy: str, env_id: str, columns: dict[str, float], returns: np.ndarray,
         seed: int) -> TransferRow:
    return TransferRow(policy=policy, env=env_id, body=columns,
                       mean_return=float(returns.mean()), std_return=float(returns.std()),
                       min_return=float(returns.min()), max_return=float(returns.max()),
                       episodes=len(returns), seed=seed,
                       returns=" ".join(f"{r:.1f}" for r in returns))


def transfer_rows(target: str | Path, bodies: Sequence[Body], episodes: int, seed: int | None,
                  overrides: list[str] | None = None, references: bool = True,
                  progress: bool = True, trust_plugins: bool = False
                  ) -> tuple[str, list[TransferRow]]:
    """Evaluate ``target`` (and the references) on every body; returns ``(policy label, rows)``.

    ``target`` is a run folder, a checkpoint or a config (its untrained policy, then no separate
    ``untrained`` row). ``seed=None`` uses the run's evaluation seeds (``seed +
    trainer.eval_seed_offset``), as ``train.py evaluate`` does. Every body is checked before
    the first episode runs. The three policies of a body share its env (reset by seed).
    ``trust_plugins``: as in ``trainer.api.load_run_config``.
    """
    overrides = list(overrides or [])
    cfg, ckpt = load_run_config(target, overrides, trust_plugins)
    check_bodies(cfg.env.id, bodies)
    if cfg.env.id == "swim":  # another N may not fit the policy: refuse before any episode
        _, agent, env = load_policy(target, overrides, trust_plugins=trust_plugins)
        env.close()
        other = sorted({b.n_joints for b in bodies} - {cfg.env.n_joints})
        if other and not getattr(agent, "body_independent", False):
            raise ConfigError(
                f"this policy's parameter shapes depend on the body (an MLP or an unshared "
                f"circuit, built for n_joints={cfg.env.n_joints}), so it cannot run on n_joints="
                f"{', '.join(map(str, other))}; only a weight-shared NCAP policy transfers (or "
                f"keep --joints {cfg.env.n_joints} and vary the physical parameters)")
    else:
        domain = parse_dmc_id(cfg.env.id)[0]
        for body in bodies:
            check_changes(domain, body)
        if domain not in DOMAINS:  # only the stock body: nothing to transfer to
            raise ConfigError(f"config error: transfer: body changes are defined for "
                              f"{', '.join(DOMAINS)}; the {domain} domain has no other body")
    label = cfg.name if ckpt is not None else f"{cfg.name}_untrained"
    seed = cfg.seed + cfg.trainer.eval_seed_offset if seed is None else seed
    policies = [label] + ([UNTRAINED] if references and ckpt is not None else []) + \
        ([RANDOM] if references else [])
    rows: list[TransferRow] = []
    bar = tqdm(total=len(bodies) * len(policies), desc="transfer", unit="body-policy",
               disable=None if progress else True, leave=False)
    with torch.inference_mode():
        for body in bodies:
            body_cfg, agent, env = load_policy(target, overrides + body_overrides(body),
                                               trust_plugins=trust_plugins)
            actors = {label: lambda: agent, UNTRAINED: lambda: untrained_agent(body_cfg, env),
                      RANDOM: None}
            rows += body_rows(env, cfg.env.id, {p: actors[p] for p in policies}, episodes,
                              seed, on_row=bar.update)
            env.close()
    bar.close()
    return label, rows


def random_returns(env, episodes: int, seed: int) -> np.ndarray:
    """Returns of the ``random`` reference: episode ``s`` (``s = seed .. seed + episodes - 1``)
    from ``env.reset(seed=s)`` with actions ~ U[low, high] drawn by a generator seeded ``s``, so
    an episode's actions depend on its own seed only (the same whatever the first seed)."""
    return np.array([run_episode(uniform_random_policy(env.action_space, s), env, s)
                     for s in range(seed, seed + episodes)])


def body_rows(env, env_id: str, actors: dict[str, Callable[[], Any] | None], episodes: int,
              seed: int, on_row: Callable[[], Any] = lambda: None) -> list[TransferRow]:
    """One row per policy on the body ``env`` is built on, each from ``evaluate(agent, env,
    episodes, seed)``: ``actors`` maps a row's name to a function that returns its agent (called
    when its turn comes), or to None for uniform random actions (``random_returns``). Each
    row's body is read back from ``env`` after its episodes (``envs.bodies.measured_columns``:
    the medium the episodes ran in, never the config's values)."""
    rows = []
    for name, actor in actors.items():
        if actor is None:
            returns = random_returns(env, episodes, seed)
        else:
            returns = evaluate(actor(), env, episodes, seed)
        rows.append(_row(name, env_id, measured_columns(env, env_id), returns, seed))
        on_row()
    return rows


# --- outputs ---------------------------------------------------------------------------------
def body_keys(rows: Sequence[TransferRow]) -> list[str]:
    """The body columns of ``rows``, in ``envs.bodies.BODY_COLUMNS`` order."""
    present = {k for r in rows for k in r.body}
    return [k for k in BODY_COLUMNS if k in present]


def varied_keys(rows: Sequence[TransferRow]) -> list[str]:
    """The body columns that take more than one value."""
    return [k for k in body_keys(rows) if len({r.body[k] for r in rows}) > 1]


def write_csv(rows: Sequence[TransferRow], path: Path) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0].as_dict()))
    writer.writeheader()
    writer.writerows(r.as_dict() for r in rows)
    write_atomic(path, text.getvalue())


def markdown_table(rows: Sequence[TransferRow]) -> str:
    """One line per body, one ``mean +- std`` column per policy (episodes and seeds noted)."""
    keys = body_keys(rows)
    policies = list(dict.fromkeys(r.policy for r in rows))
    bodies = list(dict.fromkeys(tuple(r.body[k] for k in keys) for r in rows))
    cell = {(r.policy, tuple(r.body[k] for k in keys)): r for r in rows}
    head = [HEADERS[k] for k in keys] + policies + ["episodes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for body in bodies:
        vals = [f"{cell[p, body].mean_return:.1f} ± {cell[p, body].std_return:.1f}"
                for p in policies]
        lines.append("| " + " | ".join(f"{v:g}" for v in body) + " | " + " | ".join(vals)
                     + f" | {cell[policies[0], body].episodes} |")
    first = rows[0]
    n, seeds = first.episodes, f"{first.seed}"
    if first.episodes > 1:
        seeds += f"..{first.seed + first.episodes - 1}"
    lines.append("")
    lines.append(f"Episode return on {first.env} (at most 1000), mean ± std over {n} "
                 f"deterministic episode{'s' * (n != 1)} seeded {seeds} (the same initial "
                 "states for every policy).")
    return "\n".join(lines) + "\n"


def plot_transfer(rows: Sequence[TransferRow], path: Path, title: str) -> None:
    """Return against each changed body parameter, one line per policy: the mean episode
    return with the 95% percentile-bootstrap interval of that mean over the episodes
    (``trainer.analysis.stats.bootstrap_ci``, the interval of every plot and table).

    With several parameters varied, a panel's point pools the episodes of the rows with that
    value (the other parameters averaged out; every row has the same episode count, so the
    pooled mean is the mean of the rows' means).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = varied_keys(rows) or body_keys(rows)[:1]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False,
                             sharey=True)
    policies = list(dict.fromkeys(r.policy for r in rows))
    colours = dict(zip(policies, figure_layout.colours(len(policies))))
    for ax, key in zip(axes[0], keys):
        for policy in policies:
            sel = [r for r in rows if r.policy == policy]
            xs = sorted({r.body[key] for r in sel})
            mean = np.array([np.mean([r.mean_return for r in sel if r.body[key] == x])
                             for x in xs])
            low, high = np.array([stats.bootstrap_ci(
                [float(v) for r in sel if r.body[key] == x for v in r.returns.split()],
                stats.mean) for x in xs]).T
            ax.plot(xs, mean, "o-", label=policy, ms=4, color=colours[policy])
            ax.fill_between(xs, low, high, alpha=0.2, color=colours[policy])
        others = [k for k in keys if k != key]
        ax.set_title(f"averaged over {', '.join(HEADERS[k] for k in others)}" if others else "",
                     fontsize=8)
        ax.set_xlabel(HEADERS[key])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("episode return (mean, 95% bootstrap CI)")
    # the key below the axes, the title in at most two lines (shortened in the middle)
    figure_layout.finish(fig, *figure_layout.handles_and_labels(axes[0]), title=title,
                         key_fontsize=8)
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_outputs(rows: Sequence[TransferRow], out_dir: str | Path, title: str) -> dict[str, Path]:
    """``transfer.csv``, ``transfer.md`` and ``transfer.png`` in ``out_dir`` (a string or a path)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "transfer.csv", "markdown": out_dir / "transfer.md",
             "plot": out_dir / "transfer.png"}
    write_csv(rows, paths["csv"])
    write_atomic(paths["markdown"], f"# Zero-shot transfer: {title}\n\n" + markdown_table(rows))
    plot_transfer(rows, paths["plot"], title)
    return paths
