#!/usr/bin/env python
"""Long-run health: resident memory of a training process over a long run, and log sizes.

Runs ``python train.py CONFIG key=value ...`` as a child process, samples its resident set size
(``VmRSS`` in ``/proc/<pid>/status``) every ``--every`` seconds beside the step it has reached
(the last row of ``metrics.csv``), and at the end checks that the run folder's files are bounded
by the configured intervals:

    metrics.csv rows = steps / trainer.log_every       eval.csv rows = steps / eval_every + 1
    checkpoints = keep_checkpoints periodic + last.pt (a hard link) + best.pt

The RSS figure to read is the growth after warm-up (from the sample at ``--warmup`` of the run
to the end); a replay buffer fills (its projected size is printed by the agent at start-up) and
then must stay flat. Prints a table and writes ``bench/results/memory_health.{json,md}`` and the
samples, as they are taken, to ``bench/results/memory_health_samples.csv``.

    nice -n 15 python bench/memory_health.py configs/ncap_swim_ppo.yaml steps=200000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from configs.loader import load_config  # noqa: E402
from trainer.files import read_csv_rows  # noqa: E402
from bench.outputs import beside  # noqa: E402


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


def last_step(metrics: Path) -> int:
    rows = read_csv_rows(metrics)[1]
    return int(float(rows[-1]["step"])) if rows else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("args", nargs="+", help="CONFIG.yaml and key=value overrides")
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/memory_health"))
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction of the run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory_health")
    args = parser.parse_args()
    import shutil

    shutil.rmtree(args.run_dir, ignore_errors=True)
    config, overrides = args.args[0], [*args.args[1:], f"run_dir={args.run_dir}",
                                       "trainer.progress=false"]
    cfg = load_config(config, overrides)
    log = args.run_dir.parent / f"{args.run_dir.name}.log"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    trace = args.out.with_name(args.out.name + "_samples.csv")  # written as it goes
    t0 = time.perf_counter()
    with log.open("w") as err, trace.open("w") as samples_csv:
        proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), config, *overrides],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        samples = []
        samples_csv.write("seconds,step,rss_mib\n")
        while proc.poll() is None:
            rss = rss_mib(proc.pid)
            if rss is not None:
                samples.append({"seconds": round(time.perf_counter() - t0, 1),
                                "step": last_step(args.run_dir / "metrics.csv"),
                                "rss_mib": round(rss, 1)})
                samples_csv.write(",".join(str(v) for v in samples[-1].values()) + "\n")
                samples_csv.flush()
            time.sleep(args.every)
    if proc.returncode != 0:
        raise SystemExit(f"training failed: {log.read_text()[-500:]}")
    tc = cfg.trainer
    after = [s for s in samples if s["step"] >= args.warmup * cfg.steps]
    ckpts = sorted(p.name for p in (args.run_dir / "checkpoints").iterdir())
    files = {"metrics.csv": {"rows": len(read_csv_rows(args.run_dir / "metrics.csv")[1]),
                             "expected": cfg.steps // tc.log_every,
                             "bytes": (args.run_dir / "metrics.csv").stat().st_size},
             "eval.csv": {"rows": len(read_csv_rows(args.run_dir / "eval.csv")[1]),
                          "expected": cfg.steps // tc.eval_every + int(tc.eval_at_start)
                          + int(cfg.steps % tc.eval_every != 0),
                          "bytes": (args.run_dir / "eval.csv").stat().st_size},
             "checkpoints": {"files": ckpts, "expected": tc.keep_checkpoints + 2}}
    result = {
        "command": "python train.py " + " ".join([config, *args.args[1:]]),
        "steps": cfg.steps, "wall_seconds": round(time.perf_counter() - t0, 1),
        "rss_start_mib": samples[0]["rss_mib"] if samples else None,
        "rss_after_warmup_mib": after[0]["rss_mib"] if after else None,
        "rss_max_mib": max(s["rss_mib"] for s in samples),
        "rss_end_mib": samples[-1]["rss_mib"],
        "rss_growth_after_warmup_mib": round(samples[-1]["rss_mib"] - after[0]["rss_mib"], 1)
        if after else None,
        "start_up_log": [line for line in log.read_text().splitlines() if "replay" in line],
        "files": files, "samples": trace.name,
    }
    table = "\n".join([
        f"Command: `{result['command']}` ({result['wall_seconds']} s)", "",
        "| RSS at first sample | after warm-up ({:.0%} of steps) | max | end | growth after "
        "warm-up |".format(args.warmup),
        "|---|---|---|---|---|",
        f"| {result['rss_start_mib']} MiB | {result['rss_after_warmup_mib']} MiB | "
        f"{result['rss_max_mib']} MiB | {result['rss_end_mib']} MiB | "
        f"{result['rss_growth_after_warmup_mib']} MiB |", "",
        "| file | rows / files | expected from the intervals | bytes |", "|---|---|---|---|",
        *[f"| {k} | {v.get('rows', len(v.get('files', [])))} | {v['expected']} | "
          f"{v.get('bytes', '')} |" for k, v in files.items()], ""])
    print(table)
    beside(args.out, ".json").write_text(json.dumps(result, indent=2) + "\n")
    beside(args.out, ".md").write_text(table)


if __name__ == "__main__":
    main()
