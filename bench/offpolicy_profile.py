"""Where one state update of ``agents/offpolicy/agent.py`` spends its time (one torch thread).

The agent of ``bench/offpolicy_update.py`` (2x256, batch 256, 17 obs, 6 actions, no trunk,
1-step) and, with ``--preset cartpole``, the sizes of ``configs/offpolicy_cartpole_swingup.yaml``
(trunk 50, n-step 3). Method: the agent's own parts are wrapped in timers (exclusive times: a
part's time excludes the wrapped parts it calls), and ``update()`` is timed as a whole; what is
left is the update's inline code (batch to tensors, encoder, Polyak loop, bookkeeping). A
second pass with ``torch.profiler`` lists the operators by self CPU time.

    python bench/offpolicy_profile.py [--preset td3|cartpole] [--updates 300] [--out FILE]
        [--plasticity-metrics on|off] [--actor-loss min_q|td3]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import agents.offpolicy.agent as offpolicy  # noqa: E402
from bench.offpolicy_update import ours  # noqa: E402

TOTALS: dict[str, float] = defaultdict(float)
_STACK: list[list[float]] = []


def timed(name: str, fn):
    """``fn`` with its exclusive wall time added to ``TOTALS[name]``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _STACK.append([0.0])
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            inner = _STACK.pop()[0]
            TOTALS[name] += dt - inner
            if _STACK:
                _STACK[-1][0] += dt
    return wrapper


def instrument(agent) -> None:
    agent.replay.sample = timed("replay sample (numpy indexing, n-step sums)",
                                agent.replay.sample)
    agent.update_critic = timed("critic: target action + target Q, forward, loss, backward",
                                agent.update_critic)
    agent.update_actor = timed("actor: forward, critic pass, loss, backward",
                               agent.update_actor)
    if hasattr(offpolicy, "adam_step"):   # since issue 19: the kernels called directly
        offpolicy.adam_step = timed("Adam steps (critic + actor)", offpolicy.adam_step)
    else:
        agent.critic_opt.step = timed("Adam steps (critic + actor)", agent.critic_opt.step)
        agent.actor_opt.step = timed("Adam steps (critic + actor)", agent.actor_opt.step)
    agent.metrics.add = timed("metrics bookkeeping (DeviceMetrics.add, rr observe)",
                              agent.metrics.add)
    agent.rr_schedule.observe = timed("metrics bookkeeping (DeviceMetrics.add, rr observe)",
                                      agent.rr_schedule.observe)
    offpolicy.module_metrics = timed("plasticity metrics (FAU, dormant ratios)",
                                     offpolicy.module_metrics)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=["td3", "cartpole"], default="td3")
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--plasticity-metrics", choices=["on", "off"], default="on")
    ap.add_argument("--actor-loss", choices=["min_q", "td3"], default="min_q")
    ap.add_argument("--out", default=None, help="append the markdown tables to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    extra = dict(plasticity_metrics=args.plasticity_metrics == "on")
    if args.actor_loss != "min_q":
        extra["actor_loss"] = args.actor_loss
    if args.preset == "cartpole":
        extra.update(feature_dim=50, n_step=3, lr=3e-4, critic_tau=0.01, std_clip=0.3,
                     target_actor=False)
    update = ours(**extra)
    agent = update.__self__
    for _ in range(20):
        update()  # warm-up
    agent.pending_metrics()
    instrument(agent)
    total = 0.0
    for i in range(args.updates):
        t0 = time.perf_counter()
        agent.update()
        total += time.perf_counter() - t0
        if (i + 1) % 100 == 0:
            agent.pending_metrics()  # as the loop does at log time (not timed)
    rows = sorted(TOTALS.items(), key=lambda kv: -kv[1])
    rest = total - sum(TOTALS.values())
    rows.append(("rest of update() (batch to tensors, Polyak, inline bookkeeping)", rest))
    per = 1e3 / args.updates
    cmd = " ".join(["python bench/offpolicy_profile.py"] + sys.argv[1:])
    rule = "" if args.actor_loss == "min_q" else f", actor loss {args.actor_loss}"
    lines = [f"### preset `{args.preset}`{rule}, plasticity metrics {args.plasticity_metrics}: "
             f"{args.updates / total:.0f} updates/s ({per * total:.2f} ms per update)", "",
             f"Command: `{cmd}`", "", "| part | ms per update | share |", "|---|---:|---:|"]
    lines += [f"| {name} | {per * t:.3f} | {100 * t / total:.1f}% |" for name, t in rows]

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(50):
            agent.update()
    agent.pending_metrics()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:15]
    prof_total = sum(e.self_cpu_time_total for e in prof.key_averages())
    lines += ["", "torch.profiler, 50 updates, top operators by self CPU time "
              "(profiler overhead included):", "", "| operator | calls per update | "
              "self ms per update | share of profiled CPU |", "|---|---:|---:|---:|"]
    lines += [f"| `{e.key}` | {e.count / 50:.0f} | {e.self_cpu_time_total / 50e3:.3f} | "
              f"{100 * e.self_cpu_time_total / prof_total:.1f}% |" for e in events]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
