"""PPO throughput: this toolkit's PPO vs stable-baselines3 PPO at identical settings, one run.

Both train an MLP Gaussian policy on the same swim env (N = 5, time feature on) with identical
settings: rollout 2048 steps, 10 epochs, minibatch 64, actor and critic 64x64 tanh (separate
networks), Adam lr 3e-4, gamma 0.99, GAE lambda 0.95, clip 0.2, no KL stop, no entropy bonus,
grad-norm clip 0.5, no observation normalisation, one env, one torch thread, no evaluation,
no TensorBoard. Each measurement runs in a fresh subprocess; the two alternate (ours, SB3, ours,
SB3, ...) so machine noise hits both alike. Throughput = env steps / wall time of the whole
training loop (rollouts + updates + logging), excluding start-up and evaluation on both sides
(SB3: wall time of ``learn()``; ours: the trainer's own training clock). Also measures the env wrapper overhead: our gymnasium
``DMCEnv.step`` vs raw dm_control ``env.step`` on the same task.

    python bench/ppo_throughput.py --steps 20480 --repeats 2

``--envs 1 4 8 16`` (issue 36) measures instead, at each number of envs N: ours with the N envs
in the trainer's process (``trainer.env_workers=1``) and over two worker processes (``=2``,
N > 1), SB3 with ``DummyVecEnv`` and with ``SubprocVecEnv`` (N processes), all at the same
total segment (ours ``agent.segment=2048``, SB3 ``n_steps=2048 / N`` per env), interleaved
arm by arm within each repeat; beside them raw dm_control swim stepping in 1 and in 2
processes at once (the physics limit, no policy):

    python bench/ppo_throughput.py --envs 1 4 8 16 --steps 8192 --repeats 2

``--preset PATH`` with ``--envs`` measures one of our presets as it is (e.g. the NCAP preset's
segment 4096 and 80 full-batch iterations, or ES with population 8) at each N, K = 1 and 2,
beside the same physics limit; SB3 has no counterpart, so no SB3 arms:

    python bench/ppo_throughput.py --preset configs/ncap_swim_ppo.yaml --envs 1 4 8 16 --steps 8192
    python bench/ppo_throughput.py --preset configs/ncap_swim_es.yaml --envs 1 4 8 --steps 16000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

SETTINGS = dict(n_steps=2048, epochs=10, minibatch=64, hidden=[64, 64], lr=3e-4, gamma=0.99,
                lam=0.95, clip=0.2, max_grad_norm=0.5)


def quiet(steps: int) -> list[str]:
    """Overrides that keep a measured run to training alone: no evaluation or checkpoint within
    ``steps``, no progress bar or TensorBoard, one torch thread."""
    return ["trainer.eval_at_start=false", f"trainer.eval_every={10 * steps}",
            f"trainer.checkpoint_every={10 * steps}", "trainer.progress=false",
            "trainer.tensorboard=false", "torch_threads=1"]


def run_ours(steps: int, run_dir: str, num_envs: int = 1, workers: int = 1) -> float:
    from configs.loader import load_config
    from trainer.api import train

    s = SETTINGS
    cfg = load_config(ROOT / "configs/mlp_swim_ppo.yaml", [
        f"trainer.num_envs={num_envs}", f"trainer.env_workers={workers}",
        f"steps={steps}", f"run_dir={run_dir}", "agent.actor.hidden=[64,64]",
        "agent.critic_hidden=[64,64]", f"agent.segment={s['n_steps']}",
        f"agent.iterations={s['epochs']}", f"agent.minibatch={s['minibatch']}",
        f"agent.actor_lr={s['lr']}", f"agent.critic_lr={s['lr']}", f"agent.gamma={s['gamma']}",
        f"agent.lam={s['lam']}", f"agent.clip={s['clip']}", "agent.kl_target=null",
        f"agent.max_grad_norm={s['max_grad_norm']}", "agent.normalize_observations=false",
        *quiet(steps)])
    # train_seconds covers acting, env steps, storage, updates and logging; it excludes
    # start-up (imports, env/agent construction) and the final evaluation, like SB3's learn().
    return train(cfg)["steps_per_second"]


def run_preset(preset: str, steps: int, run_dir: str, num_envs: int, workers: int) -> float:
    """A preset as it is, with only the run's length, envs, workers and quiet logging set."""
    from configs.loader import load_config
    from trainer.api import train

    cfg = load_config(ROOT / preset, [
        f"trainer.num_envs={num_envs}", f"trainer.env_workers={workers}", f"steps={steps}",
        f"run_dir={run_dir}", *quiet(steps)])
    return train(cfg)["steps_per_second"]


def update_seconds(repeats: int = 3, preset: str = "") -> float:
    """Median wall time of one PPO update of ours at the table's settings (a full 2048-step
    segment of real swim transitions, 10 epochs of minibatch 64), or of ``preset`` as it is: the
    part of every segment no number of envs or workers shortens, so ``segment /
    update_seconds`` bounds our steps/s."""
    import numpy as np
    import torch

    from agents import make_agent
    from agents.common.base import Transition
    from configs.loader import load_config
    from envs.factory import make_state_env

    torch.set_num_threads(1)
    s = SETTINGS
    cfg = load_config(ROOT / preset, ["torch_threads=1"]) if preset else load_config(
        ROOT / "configs/mlp_swim_ppo.yaml", [
            "agent.actor.hidden=[64,64]", "agent.critic_hidden=[64,64]",
            f"agent.segment={s['n_steps']}", f"agent.iterations={s['epochs']}",
            f"agent.minibatch={s['minibatch']}", "agent.kl_target=null",
            "agent.normalize_observations=false", "torch_threads=1"])
    env = make_state_env("swim", n_joints=5, seed=0, time_feature=cfg.env.time_feature)
    agent = make_agent(cfg, env.observation_space, env.action_space, env=env)
    times = []
    for _ in range(repeats):
        obs, _ = env.reset(seed=0)
        while not agent.buffer.full:
            a = agent.act(obs[None], explore=True)[0]
            nxt, r, term, trunc, _ = env.step(a)
            agent.observe(Transition(obs, a, r, nxt, term, trunc))
            obs = env.reset()[0] if term or trunc else nxt
        t0 = time.perf_counter()
        agent.update()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _swim():
    import gymnasium as gym

    import envs  # noqa: F401  (registers BioEmbodied/Swim-v0)

    return gym.make("BioEmbodied/Swim-v0", n_joints=5)


def run_sb3(steps: int, num_envs: int = 1, vec: str = "") -> float:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    torch.set_num_threads(1)
    s = SETTINGS
    if vec:  # the same total segment as ours: n_steps per env = 2048 / N
        env = (DummyVecEnv if vec == "dummy" else SubprocVecEnv)([_swim] * num_envs)
    else:
        env = _swim()
    model = PPO("MlpPolicy", env, n_steps=s["n_steps"] // num_envs, n_epochs=s["epochs"],
                batch_size=s["minibatch"], learning_rate=s["lr"], gamma=s["gamma"],
                gae_lambda=s["lam"], clip_range=s["clip"], ent_coef=0.0,
                max_grad_norm=s["max_grad_norm"], device="cpu", seed=0, verbose=0,
                policy_kwargs=dict(net_arch=dict(pi=s["hidden"], vf=s["hidden"]),
                                   activation_fn=torch.nn.Tanh))
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - t0)


def env_overhead(steps: int = 5000) -> dict[str, float]:
    import numpy as np

    from envs.factory import make_state_env
    from envs.swim import BodySpec, make_swim_dm_env

    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 5))
    raw = make_swim_dm_env(BodySpec(5), seed=0)
    raw.reset()
    t0 = time.perf_counter()
    for a in actions:
        if raw.step(a).last():
            raw.reset()
    raw_sps = steps / (time.perf_counter() - t0)
    ours = make_state_env("swim", n_joints=5, seed=0)
    ours.reset(seed=0)
    t0 = time.perf_counter()
    for a in actions:
        if any(ours.step(a)[2:4]):
            ours.reset()
    ours_sps = steps / (time.perf_counter() - t0)
    return {"raw_dm_control_steps_per_s": raw_sps, "wrapper_steps_per_s": ours_sps,
            "wrapper_overhead_pct": 100.0 * (raw_sps / ours_sps - 1.0)}


def raw_steps(steps: int, start_at: float) -> float:
    """Raw dm_control swim ``env.step`` rate (random actions), from wall-clock ``start_at`` (so
    that processes started together step together)."""
    import numpy as np

    from envs.swim import BodySpec, make_swim_dm_env

    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 5))
    raw = make_swim_dm_env(BodySpec(5), seed=0)
    raw.reset()
    while time.time() < start_at:
        time.sleep(0.01)
    t0 = time.perf_counter()
    for a in actions:
        if raw.step(a).last():
            raw.reset()
    return steps / (time.perf_counter() - t0)


def child(kind: str, steps: int, run_dir: str, num_envs: int = 1, workers: int = 1,
          start_at: float = 0.0, preset: str = "") -> None:
    if kind == "ours" and preset:
        sps = run_preset(preset, steps, run_dir, num_envs, workers)
    elif kind == "ours":
        sps = run_ours(steps, run_dir, num_envs, workers)
    elif kind == "raw":
        sps = raw_steps(steps, start_at)
    elif kind == "update":
        sps = update_seconds(preset=preset)  # seconds per update, not a rate
    else:
        sps = run_sb3(steps, num_envs, kind.removeprefix("sb3").lstrip("_"))
    print(json.dumps({"kind": kind, "steps_per_second": sps}))


def _child_cmd(kind: str, steps: int, run_dir: str, num_envs: int = 1, workers: int = 1,
               start_at: float = 0.0, preset: str = "") -> list[str]:
    return [sys.executable, __file__, "--child", kind, "--steps", str(steps), "--run-dir",
            run_dir, "--child-envs", str(num_envs), "--child-workers", str(workers),
            "--start-at", str(start_at)] + (["--preset", preset] if preset else [])


def _rate(out: str) -> float:
    return json.loads(out.strip().splitlines()[-1])["steps_per_second"]


def physics_limit(processes: int, steps: int = 20000) -> float:
    """Raw dm_control swim steps/s summed over ``processes`` processes stepping at once."""
    start_at = time.time() + 8.0  # after every process has imported and built its env
    procs = [subprocess.Popen(_child_cmd("raw", steps, "", start_at=start_at), cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return sum(_rate(p.communicate()[0]) for p in procs)


def main_envs(args) -> None:
    """``--envs``: the issue-36 table (module docstring)."""
    import tempfile

    arms = []
    for n in args.envs:
        arms += [("ours", n, 1)] + ([("ours", n, 2)] if n > 1 else [])
        if not args.preset:
            arms += [("sb3_dummy", n, 1), ("sb3_subproc", n, n)]
    results: dict[str, list[float]] = {f"{k}|{n}|{w}": [] for k, n, w in arms}
    t_start = time.perf_counter()
    for r in range(args.repeats):
        for kind, n, w in arms:
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run(_child_cmd(kind, args.steps, f"{tmp}/run", n, w,
                                                preset=args.preset or ""),
                                     capture_output=True, text=True, check=True, cwd=ROOT)
            sps = _rate(out.stdout)
            results[f"{kind}|{n}|{w}"].append(sps)
            print(f"repeat {r}: N={n:<2} {kind:<11} K={w:<2} {sps:8.0f} env steps/s", flush=True)
    limit = {p: physics_limit(p) for p in (1, 2)}
    med = {k: statistics.median(v) for k, v in results.items()}
    runs = lambda k: ", ".join(f"{v:.0f}" for v in results[k])  # noqa: E731
    if args.preset:
        _write_preset_table(args, results, med, runs, limit, time.perf_counter() - t_start)
        return
    lines = ["| N envs | ours K=1 | ours K=2 | SB3 DummyVecEnv | SB3 SubprocVecEnv | ours best / "
             "SB3 best | ours best / 2-process physics |", "|---|---|---|---|---|---|---|"]
    for n in args.envs:
        o1, o2 = med[f"ours|{n}|1"], med.get(f"ours|{n}|2")
        d, sp = med[f"sb3_dummy|{n}|1"], med[f"sb3_subproc|{n}|{n}"]
        best = max(o1, o2 or 0.0)
        cell = lambda k: f"{med[k]:.0f} ({runs(k)})"  # noqa: E731
        lines.append(f"| {n} | {cell(f'ours|{n}|1')} | "
                     f"{cell(f'ours|{n}|2') if o2 else '-'} | {cell(f'sb3_dummy|{n}|1')} | "
                     f"{cell(f'sb3_subproc|{n}|{n}')} | {best / max(d, sp):.2f}x | "
                     f"{100 * best / limit[2]:.0f}% |")
    lines.append(f"\nRaw dm_control swim `env.step` (no policy): {limit[1]:.0f} steps/s in 1 "
                 f"process, {limit[2]:.0f} steps/s summed over 2 processes at once.")
    upd = _rate(subprocess.run(_child_cmd("update", 0, ""), capture_output=True, text=True,
                               check=True, cwd=ROOT).stdout)
    ceiling = SETTINGS["n_steps"] / upd
    lines.append(f"\nOur PPO update alone (one {SETTINGS['n_steps']}-step segment, "
                 f"{SETTINGS['epochs']} epochs of minibatch {SETTINGS['minibatch']}, median of 3): "
                 f"{upd:.3f} s, so no number of envs or workers takes ours past "
                 f"{ceiling:.0f} env steps/s ({100 * ceiling / limit[2]:.0f}% of the 2-process "
                 f"physics limit) while the update and the env steps take turns.")
    table = "\n".join(lines)
    print(table)
    cmd = ("python bench/ppo_throughput.py --envs " + " ".join(map(str, args.envs)) +
           f" --steps {args.steps} --repeats {args.repeats}")
    res_dir = ROOT / "bench/results"
    res_dir.mkdir(exist_ok=True)
    (res_dir / "ppo_throughput_envs.md").write_text(
        f"Command: `{cmd}`\n\nSettings: {json.dumps(SETTINGS)} (segment total over envs)\n\n"
        f"Cells: median env steps/s (runs). Wall time of the whole command: "
        f"{time.perf_counter() - t_start:.0f} s.\n\n{table}\n")
    (res_dir / "ppo_throughput_envs.json").write_text(json.dumps(
        {"command": cmd, "settings": SETTINGS, "runs": results, "medians": med,
         "raw_dm_control_steps_per_s": {str(k): v for k, v in limit.items()},
         "update_seconds": upd, "update_ceiling_steps_per_s": ceiling}, indent=2) + "\n")


def _write_preset_table(args, results, med, runs, limit, wall: float) -> None:
    """``--preset`` with ``--envs``: ours at K = 1 and 2 against the physics limit."""
    lines = ["| N envs | ours K=1 | ours K=2 | ours best / 2-process physics |", "|---|---|---|---|"]
    for n in args.envs:
        o1, o2 = med[f"ours|{n}|1"], med.get(f"ours|{n}|2")
        k2 = f"{o2:.0f} ({runs(f'ours|{n}|2')})" if o2 else "-"
        lines.append(f"| {n} | {o1:.0f} ({runs(f'ours|{n}|1')}) | {k2} | "
                     f"{100 * max(o1, o2 or 0.0) / limit[2]:.0f}% |")
    lines.append(f"\nRaw dm_control swim `env.step` (no policy): {limit[1]:.0f} steps/s in 1 "
                 f"process, {limit[2]:.0f} steps/s summed over 2 processes at once.")
    from configs.loader import load_config

    cfg = load_config(ROOT / args.preset)
    upd = None
    if cfg.agent.name == "ppo":  # the update no number of envs shortens (update_seconds)
        upd = _rate(subprocess.run(_child_cmd("update", 0, "", preset=args.preset),
                                   capture_output=True, text=True, check=True, cwd=ROOT).stdout)
        lines.append(f"\nIts PPO update alone (one {cfg.agent.segment}-step segment, median of "
                     f"3): {upd:.3f} s, so no number of envs or workers takes it past "
                     f"{cfg.agent.segment / upd:.0f} env steps/s while the update and the env "
                     "steps take turns.")
    table = "\n".join(lines)
    print(table)
    cmd = (f"python bench/ppo_throughput.py --preset {args.preset} --envs "
           + " ".join(map(str, args.envs)) + f" --steps {args.steps} --repeats {args.repeats}")
    stem = "throughput_" + Path(args.preset).stem
    res_dir = ROOT / "bench/results"
    res_dir.mkdir(exist_ok=True)
    (res_dir / f"{stem}.md").write_text(
        f"Command: `{cmd}`\n\nCells: median env steps/s (runs). Wall time of the whole command: "
        f"{wall:.0f} s.\n\n{table}\n")
    (res_dir / f"{stem}.json").write_text(json.dumps(
        {"command": cmd, "runs": results, "medians": med, "update_seconds": upd,
         "raw_dm_control_steps_per_s": {str(k): v for k, v in limit.items()}}, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20480)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--envs", type=int, nargs="+", help="numbers of envs N to measure "
                    "(issue 36 table; each must divide the 2048-step segment)")
    ap.add_argument("--preset", help="with --envs: measure this preset of ours (no SB3 arms)")
    ap.add_argument("--child", choices=["ours", "sb3", "sb3_dummy", "sb3_subproc", "raw", "update"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--child-envs", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--child-workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.run_dir, args.child_envs, args.child_workers,
              args.start_at, args.preset or "")
        return
    if args.preset and not args.envs:
        ap.error("--preset needs --envs")
    if args.envs:
        main_envs(args)
        return
    import tempfile

    results: dict[str, list[float]] = {"ours": [], "sb3": []}
    for r in range(args.repeats):
        for kind in ("ours", "sb3"):
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run([sys.executable, __file__, "--child", kind, "--steps",
                                      str(args.steps), "--run-dir", f"{tmp}/run"],
                                     capture_output=True, text=True, check=True, cwd=ROOT)
            sps = json.loads(out.stdout.strip().splitlines()[-1])["steps_per_second"]
            results[kind].append(sps)
            print(f"repeat {r}: {kind:<4} {sps:8.0f} env steps/s", flush=True)
    ours, sb3 = statistics.median(results["ours"]), statistics.median(results["sb3"])
    overhead = env_overhead()
    table = "\n".join([
        "| measurement | env steps/s (median) | runs |",
        "|---|---|---|",
        f"| this toolkit PPO (MLP 64x64) | {ours:.0f} | {', '.join(f'{v:.0f}' for v in results['ours'])} |",
        f"| stable-baselines3 PPO (MLP 64x64) | {sb3:.0f} | {', '.join(f'{v:.0f}' for v in results['sb3'])} |",
        f"| **ratio ours / SB3** | **{ours / sb3:.2f}x** | |",
        f"| raw dm_control swim `env.step` | {overhead['raw_dm_control_steps_per_s']:.0f} | |",
        f"| our gymnasium wrapper `DMCEnv.step` | {overhead['wrapper_steps_per_s']:.0f} | "
        f"overhead {overhead['wrapper_overhead_pct']:.1f}% |"])
    print(table)
    res_dir = ROOT / "bench/results"
    res_dir.mkdir(exist_ok=True)
    cmd = f"python bench/ppo_throughput.py --steps {args.steps} --repeats {args.repeats}"
    (res_dir / "ppo_throughput.md").write_text(
        f"Command: `{cmd}`\n\nSettings: {json.dumps(SETTINGS)}\n\n{table}\n")
    (res_dir / "ppo_throughput.json").write_text(json.dumps(
        {"command": cmd, "settings": SETTINGS, "runs": results, "ours_median": ours,
         "sb3_median": sb3, "ratio": ours / sb3, **overhead}, indent=2) + "\n")


if __name__ == "__main__":
    main()
