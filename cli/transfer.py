"""Zero-shot transfer of one policy across swimmer bodies, beside two reference policies.

For every body of a grid (``envs.bodies``) the policy runs deterministically (``act(obs,
explore=False)``) for ``episodes`` episodes seeded ``seed, seed + 1, ...`` exactly as
``env.reset(seed=...)`` does, so every policy meets the same initial states on a body (common
random numbers). Reference rows on the same bodies and seeds:

* ``ncap_untrained`` - the default-initialised NCAP circuit (``configs/ncap_swim_ppo.yaml``,
  constant init o = p = i = 1, c = -1), the circuit's prior without any learning;
* ``random`` - actions drawn uniformly from the action box, the RNG seeded by the episode seed.

Only a body-independent policy (weight-shared NCAP: 4 weights for any N) can run on another
joint count; a policy whose parameter shapes depend on N (MLP, unshared circuit) is refused with
one line. Changing only the physical parameters (link length, density, viscosity) keeps the
shapes, so any policy may be evaluated on those.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from configs.loader import DEFAULT_PRESET, ConfigError
from envs.bodies import body_overrides
from envs.swim import BodySpec
from trainer.api import load_policy
from trainer.evaluation import run_episode

UNTRAINED = "ncap_untrained"
RANDOM = "random"


@dataclass
class TransferRow:
    """One policy on one body: returns of ``episodes`` deterministic episodes."""

    policy: str
    n_joints: int
    length_scale: float
    density: float
    viscosity: float
    mean_return: float
    std_return: float
    min_return: float
    max_return: float
    episodes: int
    seed: int
    returns: str


def default_out_dir(target: str | Path, cfg_name: str) -> Path:
    """Where a target's transfer files go: its run folder, else ``runs/<name>/untrained``."""
    p = Path(target)
    if p.is_dir():
        return p
    if p.suffix == ".pt":
        run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
        return run if (run / "config.yaml").exists() else p.parent
    return Path("runs") / cfg_name / "untrained"


def check_transferable(target: str | Path, overrides: list[str], bodies: Sequence[BodySpec]):
    """``(cfg, agent)`` of ``target`` on its own body; ``ConfigError`` if a body is out of reach."""
    cfg, agent, _ = load_policy(target, overrides)
    if cfg.env.id != "swim":
        raise ConfigError(f"transfer evaluates swimmer bodies; this policy runs on env.id="
                          f"'{cfg.env.id}', not 'swim'")
    other = sorted({b.n_joints for b in bodies} - {cfg.env.n_joints})
    if other and not getattr(agent, "body_independent", False):
        raise ConfigError(
            f"this policy's parameter shapes depend on the body (an MLP or an unshared circuit, "
            f"built for n_joints={cfg.env.n_joints}), so it cannot run on n_joints="
            f"{', '.join(map(str, other))}; only a weight-shared NCAP policy transfers "
            f"(or keep --joints {cfg.env.n_joints} and vary the physical parameters)")
    return cfg, agent


def uniform_random_policy(action_space, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Actions ~ U[low, high] per dimension, from a generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    low, high = action_space.low, action_space.high
    return lambda obs: rng.uniform(low, high)


def deterministic(agent) -> Callable[[int], Callable[[np.ndarray], np.ndarray]]:
    """Episode seed -> the agent's deterministic action function (the same for every seed)."""
    act = lambda obs: agent.act(obs, explore=False)  # noqa: E731
    return lambda seed: act


def _row(policy: str, body: BodySpec, env, returns: np.ndarray, seed: int) -> TransferRow:
    opt = env.physics.model.opt
    return TransferRow(policy=policy, n_joints=body.n_joints, length_scale=body.length_scale,
                       density=float(opt.density), viscosity=float(opt.viscosity),
                       mean_return=float(returns.mean()), std_return=float(returns.std()),
                       min_return=float(returns.min()), max_return=float(returns.max()),
                       episodes=len(returns), seed=seed,
                       returns=" ".join(f"{r:.1f}" for r in returns))


def transfer_rows(target: str | Path, bodies: Sequence[BodySpec], episodes: int, seed: int | None,
                  overrides: list[str] | None = None, references: bool = True,
                  progress: bool = True) -> tuple[str, list[TransferRow]]:
    """Evaluate ``target`` (and the references) on every body; returns ``(policy label, rows)``.

    ``seed=None`` uses the run's evaluation seeds (``seed + trainer.eval_seed_offset``), as
    ``train.py evaluate`` does.
    """
    overrides = list(overrides or [])
    cfg, _ = check_transferable(target, overrides, bodies)
    trained = Path(target).is_dir() or Path(target).suffix == ".pt"
    label = cfg.name if trained else f"{cfg.name}_untrained"
    seed = cfg.seed + cfg.trainer.eval_seed_offset if seed is None else seed
    seeds = range(seed, seed + episodes)
    n_policies = 3 if references else 1
    rows: list[TransferRow] = []
    bar = tqdm(total=len(bodies) * n_policies, desc="transfer", unit="body-policy",
               disable=None if progress else True, leave=False)
    with torch.inference_mode():
        for body in bodies:
            _, agent, env = load_policy(target, overrides + body_overrides(body))
            # policy name -> (episode seed -> action function)
            policies = {label: deterministic(agent)}
            if references:
                policies[UNTRAINED] = deterministic(
                    load_policy(DEFAULT_PRESET, body_overrides(body))[1])
                policies[RANDOM] = lambda s, space=env.action_space: uniform_random_policy(space, s)
            for name, policy_for_seed in policies.items():
                returns = np.array([run_episode(policy_for_seed(s), env, s) for s in seeds])
                rows.append(_row(name, body, env, returns, seed))
                bar.update()
            env.close()
    bar.close()
    return label, rows


# --- outputs ---------------------------------------------------------------------------------
BODY_KEYS = ("n_joints", "length_scale", "density", "viscosity")


def write_csv(rows: Sequence[TransferRow], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


def markdown_table(rows: Sequence[TransferRow]) -> str:
    """One line per body, one ``mean +- std`` column per policy (episodes and seeds noted)."""
    policies = list(dict.fromkeys(r.policy for r in rows))
    bodies = list(dict.fromkeys(tuple(getattr(r, k) for k in BODY_KEYS) for r in rows))
    cell = {(r.policy, tuple(getattr(r, k) for k in BODY_KEYS)): r for r in rows}
    head = ["N", "length scale", "density", "viscosity", *policies, "episodes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for body in bodies:
        n, s, d, v = body
        vals = [f"{cell[p, body].mean_return:.1f} ± {cell[p, body].std_return:.1f}"
                for p in policies]
        lines.append(f"| {n} | {s:g} | {d:g} | {v:g} | " + " | ".join(vals)
                     + f" | {cell[policies[0], body].episodes} |")
    first = rows[0]
    lines.append("")
    lines.append(f"Return over a 1000-step episode (max 1000), mean ± std over {first.episodes} "
                 f"deterministic episodes seeded {first.seed}..{first.seed + first.episodes - 1} "
                 "(the same initial states for every policy).")
    return "\n".join(lines) + "\n"


def plot_transfer(rows: Sequence[TransferRow], path: Path, title: str) -> None:
    """Return against N, one line (mean, std band) per policy, one panel per physical setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys((r.length_scale, r.density, r.viscosity) for r in rows))
    ncols = min(3, len(settings))
    nrows = -(-len(settings) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.5 * ncols, 3.4 * nrows), squeeze=False,
                             sharey=True)
    for ax, (s, d, v) in zip(axes.flat, settings):
        for policy in dict.fromkeys(r.policy for r in rows):
            sel = sorted((r for r in rows if r.policy == policy
                          and (r.length_scale, r.density, r.viscosity) == (s, d, v)),
                         key=lambda r: r.n_joints)
            n = np.array([r.n_joints for r in sel])
            mean = np.array([r.mean_return for r in sel])
            std = np.array([r.std_return for r in sel])
            ax.plot(n, mean, "o-", label=policy, ms=4)
            ax.fill_between(n, mean - std, mean + std, alpha=0.2)
        ax.set_title(f"length x{s:g}, density {d:g}, viscosity {v:g}", fontsize=9)
        ax.set_xlabel("joints N")
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(settings):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("episode return")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(rows: Sequence[TransferRow], out_dir: Path, title: str) -> dict[str, Path]:
    """``transfer.csv``, ``transfer.md`` and ``transfer.png`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "transfer.csv", "markdown": out_dir / "transfer.md",
             "plot": out_dir / "transfer.png"}
    write_csv(rows, paths["csv"])
    paths["markdown"].write_text(f"# Zero-shot transfer: {title}\n\n" + markdown_table(rows))
    plot_transfer(rows, paths["plot"], title)
    return paths
