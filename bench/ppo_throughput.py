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


def run_ours(steps: int, run_dir: str) -> float:
    from configs.loader import load_config
    from trainer.api import train

    s = SETTINGS
    cfg = load_config(ROOT / "configs/mlp_swim_ppo.yaml", [
        f"steps={steps}", f"run_dir={run_dir}", "agent.actor.hidden=[64,64]",
        "agent.critic_hidden=[64,64]", f"agent.segment={s['n_steps']}",
        f"agent.iterations={s['epochs']}", f"agent.minibatch={s['minibatch']}",
        f"agent.actor_lr={s['lr']}", f"agent.critic_lr={s['lr']}", f"agent.gamma={s['gamma']}",
        f"agent.lam={s['lam']}", f"agent.clip={s['clip']}", "agent.kl_target=null",
        f"agent.max_grad_norm={s['max_grad_norm']}", "agent.normalize_observations=false",
        "trainer.eval_at_start=false", f"trainer.eval_every={10 * steps}",
        f"trainer.checkpoint_every={10 * steps}", "trainer.progress=false",
        "trainer.tensorboard=false", "torch_threads=1"])
    # train_seconds covers acting, env steps, storage, updates and logging; it excludes
    # start-up (imports, env/agent construction) and the final evaluation, like SB3's learn().
    return train(cfg)["steps_per_second"]


def run_sb3(steps: int) -> float:
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO

    import envs  # noqa: F401  (registers BioEmbodied/Swim-v0)

    torch.set_num_threads(1)
    s = SETTINGS
    env = gym.make("BioEmbodied/Swim-v0", n_joints=5)
    model = PPO("MlpPolicy", env, n_steps=s["n_steps"], n_epochs=s["epochs"],
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


def child(kind: str, steps: int, run_dir: str) -> None:
    sps = run_ours(steps, run_dir) if kind == "ours" else run_sb3(steps)
    print(json.dumps({"kind": kind, "steps_per_second": sps}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20480)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", choices=["ours", "sb3"], help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.run_dir)
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
