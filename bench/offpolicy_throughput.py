"""Whole-run throughput from states: our off-policy agent vs stable-baselines3 TD3 ``learn()``.

Both train on the same env, ``dmc:cartpole-swingup`` built by ``envs.make_env`` from
``configs/offpolicy_cartpole_swingup.yaml`` (1000-step episodes), at the preset's settings:
batch 256, Adam lr 3e-4, gamma 0.99, Polyak 0.01, 2x256 ReLU MLPs, n-step 3, one update per env
step after ``--seed-steps`` uniform-random steps (SB3: ``learning_starts``), one actor step per
critic step (SB3 ``policy_delay=1``), a replay as long as the run, one torch thread, no
evaluation, no checkpoints, no TensorBoard. Kinds (``--kinds``):

* ``ours``: the preset as it is (LayerNorm-tanh trunk of 50 before actor and critic, the
  DrQ-v2 actor loss ``min(Q1, Q2)`` of a noisy action, plasticity metrics on, logging every
  1000 steps);
* ``ours_td3``: the preset with TD3's networks and rule (``feature_dim: null``,
  ``actor_loss: td3``, ``target_actor: true``, ``plasticity_metrics: false``), like SB3;
* ``sb3_td3``: SB3 TD3 (target noise 0.2 clipped 0.5, Gaussian exploration 0.1; these
  change no arithmetic).

Each run is a fresh subprocess; kinds alternate within each repeat (order reversed every other
repeat), and a ratio is the median over repeats of the ratio within a repeat. Throughput = env
steps / wall time of the training loop (acting, env steps, storage, updates, logging),
excluding start-up and evaluation: SB3's ``learn()``; ours: the trainer's own training clock.

    python bench/offpolicy_throughput.py [--steps 4000] [--seed-steps 1000] [--repeats 2]

``--envs 1 8 --rr 0.5`` (issue 36) measures instead ``ours`` at each number of envs N
(``trainer.num_envs``, the N envs in the trainer's process) at a fixed replay ratio (updates per
env step), and where the time goes: the seconds inside the agent's ``update`` and inside the
envs' ``step`` (wrapped with a timer in the child), the rest being acting, storage and logging:

    python bench/offpolicy_throughput.py --envs 1 8 --rr 0.5 --steps 8000 --seed-steps 1000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")
from bench.outputs import beside  # noqa: E402

PRESET = ROOT / "configs/offpolicy_cartpole_swingup.yaml"
KINDS = {"ours": [], "ours_td3": ["agent.feature_dim=null", "agent.actor_loss=td3",
                                  "agent.target_actor=true", "agent.plasticity_metrics=false"]}


def run_ours(kind: str, steps: int, seed_steps: int, run_dir: str) -> float:
    from configs.loader import load_config
    from trainer.api import train

    cfg = load_config(PRESET, [
        f"steps={steps}", f"run_dir={run_dir}", f"agent.seed_frames={seed_steps}",
        f"agent.explore_steps={seed_steps}", f"agent.replay_capacity={steps + 10}",
        "trainer.eval_at_start=false", f"trainer.eval_every={10 * steps}",
        "trainer.eval_episodes=1", f"trainer.checkpoint_every={10 * steps}",
        "trainer.save_replay=false", "trainer.progress=false", "trainer.tensorboard=false",
        "torch_threads=1", *KINDS[kind]])
    return train(cfg)["steps_per_second"]


def run_envs(num_envs: int, rr: float, steps: int, seed_steps: int, run_dir: str) -> dict:
    """``ours`` at N envs and replay ratio ``rr``, with the update and env-step seconds."""
    from agents.offpolicy.agent import OffPolicyAgent
    from configs.loader import load_config
    from envs import vector
    from trainer.api import train

    spent = {"update": 0.0, "env_step": 0.0, "updates": 0}

    def timed(fn, key, count=False):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t0
                spent["updates"] += count
        return wrapper

    OffPolicyAgent.update = timed(OffPolicyAgent.update, "update", count=True)
    if num_envs > 1:  # the loop steps all N at once (acting excluded)
        vector.VectorEnv.step = timed(vector.VectorEnv.step, "env_step")
    else:  # the one-env loop steps the env itself
        from envs.dmc import DMCEnv
        DMCEnv.step = timed(DMCEnv.step, "env_step")
    cfg = load_config(PRESET, [
        f"steps={steps}", f"run_dir={run_dir}", f"agent.seed_frames={seed_steps}",
        f"agent.explore_steps={seed_steps}", f"agent.replay_capacity={steps + 10 * num_envs}",
        f"agent.rr_schedule.rr={rr}", f"trainer.num_envs={num_envs}", "trainer.env_workers=1",
        "trainer.eval_at_start=false", f"trainer.eval_every={10 * steps}",
        "trainer.eval_episodes=1", f"trainer.checkpoint_every={10 * steps}",
        "trainer.save_replay=false", "trainer.progress=false", "trainer.tensorboard=false",
        "torch_threads=1"])
    summary = train(cfg)
    wall = steps / summary["steps_per_second"]
    return {"steps_per_second": summary["steps_per_second"], "wall": wall,
            "updates": spent["updates"], "update_seconds": spent["update"],
            "env_step_seconds": spent["env_step"]}


def main_envs(args) -> None:
    """``--envs``: ours at each N and one replay ratio (module docstring)."""
    results: dict[int, list[dict]] = {n: [] for n in args.envs}
    for r in range(args.repeats):
        for n in (args.envs if r % 2 == 0 else args.envs[::-1]):
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run([sys.executable, __file__, "--child-envs", str(n), "--rr",
                                      str(args.rr), "--steps", str(args.steps), "--seed-steps",
                                      str(args.seed_steps), "--run-dir", f"{tmp}/run"],
                                     capture_output=True, text=True, check=True, cwd=ROOT)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            results[n].append(res)
            print(f"repeat {r}: N={n:<2} {res['steps_per_second']:7.1f} env steps/s, "
                  f"{res['updates'] / res['wall']:6.1f} updates/s", flush=True)
    cmd = " ".join(["python bench/offpolicy_throughput.py"] + sys.argv[1:])
    lines = [f"Command: `{cmd}`", "", f"`configs/offpolicy_cartpole_swingup.yaml` from states, "
             f"{args.steps} env steps per run, updates from env step {args.seed_steps} at "
             f"{args.rr} updates per env step, the N envs in the trainer's process; "
             f"{args.repeats} repeats, medians (runs in brackets).", "",
             "| N envs | env steps/s | updates/s | time in update | in env steps | rest |",
             "|---|---:|---:|---:|---:|---:|"]
    for n, rs in results.items():
        med = lambda f: statistics.median(f(x) for x in rs)  # noqa: E731
        share = lambda k: med(lambda x: x[k] / x["wall"])  # noqa: E731
        runs = ", ".join(f"{x['steps_per_second']:.0f}" for x in rs)
        lines.append(f"| {n} | {med(lambda x: x['steps_per_second']):.0f} ({runs}) | "
                     f"{med(lambda x: x['updates'] / x['wall']):.0f} | "
                     f"{100 * share('update_seconds'):.0f}% | {100 * share('env_step_seconds'):.0f}% | "
                     f"{100 * (1 - share('update_seconds') - share('env_step_seconds')):.0f}% |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench/results/offpolicy_throughput_envs"
    beside(out, ".md").write_text(text)
    beside(out, ".json").write_text(json.dumps(
        {"command": cmd, "rr": args.rr, "steps": args.steps, "seed_steps": args.seed_steps,
         "runs": {str(n): rs for n, rs in results.items()}}, indent=2) + "\n")


def run_sb3(steps: int, seed_steps: int) -> float:
    import numpy as np
    import torch
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise

    from configs.loader import load_config
    from envs import make_env

    torch.set_num_threads(1)
    cfg = load_config(PRESET)
    env = make_env(cfg.env, seed=0)
    a = cfg.agent
    act = env.action_space.shape[0]
    model = TD3("MlpPolicy", env, learning_rate=a.lr, buffer_size=steps + 10,
                learning_starts=seed_steps, batch_size=a.batch_size, tau=a.critic_tau,
                gamma=a.gamma, train_freq=1, gradient_steps=1, n_steps=a.n_step,
                action_noise=NormalActionNoise(np.zeros(act), 0.1 * np.ones(act)),
                policy_delay=1, target_policy_noise=0.2, target_noise_clip=0.5,
                policy_kwargs={"net_arch": [a.hidden_dim, a.hidden_dim]}, device="cpu",
                seed=0, verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--seed-steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--kinds", nargs="+", default=["ours", "ours_td3", "sb3_td3"],
                    choices=[*KINDS, "sb3_td3"])
    ap.add_argument("--child", choices=[*KINDS, "sb3_td3"], help=argparse.SUPPRESS)
    ap.add_argument("--run-dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--envs", type=int, nargs="+", help="numbers of envs N (issue 36 table)")
    ap.add_argument("--rr", type=float, default=0.5, help="with --envs: updates per env step")
    ap.add_argument("--child-envs", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_envs:
        print(json.dumps(run_envs(args.child_envs, args.rr, args.steps, args.seed_steps,
                                  args.run_dir)))
        return
    if args.envs:
        main_envs(args)
        return
    if args.child:
        sps = (run_sb3(args.steps, args.seed_steps) if args.child == "sb3_td3" else
               run_ours(args.child, args.steps, args.seed_steps, args.run_dir))
        print(json.dumps({"steps_per_second": sps}))
        return
    results: dict[str, list[float]] = {k: [] for k in args.kinds}
    for r in range(args.repeats):
        for kind in (args.kinds if r % 2 == 0 else args.kinds[::-1]):
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run([sys.executable, __file__, "--child", kind, "--steps",
                                      str(args.steps), "--seed-steps", str(args.seed_steps),
                                      "--run-dir", f"{tmp}/run"], capture_output=True,
                                     text=True, check=True, cwd=ROOT)
            results[kind].append(json.loads(out.stdout.strip().splitlines()[-1])
                                 ["steps_per_second"])
            print(f"repeat {r}: {kind:<9} {results[kind][-1]:7.1f} env steps/s", flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    ratio = ({k: statistics.median(a / b for a, b in zip(v, results["sb3_td3"]))
              for k, v in results.items()} if "sb3_td3" in results else {})
    cmd = " ".join(["python bench/offpolicy_throughput.py"] + sys.argv[1:])
    lines = [f"Command: `{cmd}`", "", f"{args.steps} env steps per run, updates from step "
             f"{args.seed_steps} ({args.steps - args.seed_steps} updates), {args.repeats} "
             "repeats", "", "| kind | env steps/s (median) | runs | / SB3 TD3 (paired median) |",
             "|---|---:|---|---:|"]
    lines += [f"| `{k}` | {med[k]:.1f} | {', '.join(f'{v:.1f}' for v in results[k])} | "
              f"{ratio.get(k, float('nan')):.2f}x |" for k in results]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench/results/offpolicy_throughput"
    beside(out, ".md").write_text(text)
    beside(out, ".json").write_text(json.dumps(
        {"steps": args.steps, "seed_steps": args.seed_steps, "repeats": args.repeats,
         "steps_per_second": results, "median": med, "ratio_over_sb3": ratio}, indent=2) + "\n")


if __name__ == "__main__":
    main()
