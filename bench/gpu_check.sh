#!/usr/bin/env bash
# GPU check for pixel envs + DrQ-v2, sized to finish in under 8 minutes on one GPU node:
#   1. GL backend / renderer and pixel env frames/s (standard, fast, dm_control's wrapper), 84x84;
#   2. DrQ-v2 update time on the GPU at batch 256 and 512 (ours vs the reference update);
#   3. training frames/s at DrQ-v2 size and a short cartpole_swingup learning check
#      (standard profile, paper hyperparameters, stopped by SIGINT after 270 s).
# Results go to $OUT/gpu_check if OUT is set, else bench/results/gpu_check; a summary is printed
# and written to gpu_check.json there.
#   bash bench/gpu_check.sh            (PYTHON=/path/to/python to choose the interpreter)
#   bash bench/gpu_check.sh --aux      instead: predictive auxiliary losses on the GPU, < 8 min:
#     1. update time of every auxiliary loss vs none at DrQ-v2 size (84x84, batch 256);
#     2. a short none-vs-A (one-step latent prediction) pair on cartpole_swingup, same seed,
#        AUX_SECONDS (default 150) of training each, representation metrics every 2500 agent
#        steps; the summary (aux/gpu_check_aux.json) compares frames/s, evaluations and metrics
#        (too short to rank the arms: a check that A runs, logs and costs what it should).
#   bash bench/gpu_check.sh --arr      replay-ratio check instead: stage 2, then three short
#       cheetah_run runs from pixels (paper hyperparameters, SIGINT after ARR_SECONDS = 100 s
#       each): fixed RR 0.5, fixed RR 2, and adaptive RR with a 2-episode check interval (ours,
#       so a short run checks at all; the paper checks every 50 episodes). Reports updates/s at
#       RR 0.5 and 2 and the adaptive run's checks (worst case 90 + 3 x 120 s < 8 min).
#   bash bench/gpu_check.sh --bf16     mixed precision instead (agent.precision: bf16), < 6 min:
#     1. DrQ-v2 update time on cuda at batch 256 and 512: reference, ours fp32, ours bf16;
#     2. a short cartpole_swingup run in bf16 (BF16_SECONDS = 200 s of training, then SIGINT):
#        frames/s and evaluations, and whether every logged loss is finite.
set -uo pipefail                      # no -e: a failed stage is reported, the next still runs
cd "$(dirname "$0")/.."
MODE=default
case "${1:-}" in
  "") ;;
  --arr) MODE=arr ;;
  --aux) MODE=aux ;;
  --bf16) MODE=bf16 ;;
  *) echo "usage: bash bench/gpu_check.sh [--arr | --aux | --bf16]" >&2; exit 2 ;;
esac

export MUJOCO_GL=egl                  # GPU EGL; must be set before Python imports mujoco
DEST="${OUT:-bench/results}/gpu_check"
mkdir -p "$DEST"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
TRAIN_SECONDS=${TRAIN_SECONDS:-270}   # worst case 90 + 90 + 270 + 20 s < 8 min
RUN="$DEST/cartpole_swingup"

if [[ "$MODE" == aux ]]; then
  AUX_SECONDS=${AUX_SECONDS:-150}     # worst case 90 + 2 x (150 + 20) + 20 s < 8 min
  DEST="$DEST/aux"; mkdir -p "$DEST"
  echo "== 1/2 auxiliary-loss update time on cuda (84x84, batch 256)"
  timeout 90 "$PYTHON" bench/aux_cost.py --device cuda --size 84 --batch 256 --reps 10 --no-probe \
    --out "$DEST" 2>&1 | tee "$DEST/aux_cost.log"
  for arm in none one_step; do
    echo "== 2/2 cartpole_swingup, aux: $arm (${AUX_SECONDS}s of training, then SIGINT)"
    losses="[]"; [[ $arm == one_step ]] && losses="[{type: one_step, weight: 1.0}]"
    rm -rf "$DEST/$arm"
    timeout -s INT -k 20 "$AUX_SECONDS" "$PYTHON" train.py configs/drqv2_cartpole_swingup.yaml \
      steps=20000 device=cuda run_dir="$DEST/$arm" "agent.aux.losses=$losses" \
      agent.representation.every=2500 trainer.eval_every=2500 trainer.eval_episodes=5 \
      trainer.log_every=500 trainer.checkpoint_every=1000000 trainer.save_replay=false \
      trainer.progress=false trainer.tensorboard=false 2>&1 | tail -n 12 | tee "$DEST/$arm.log"
  done
  "$PYTHON" - "$DEST" <<'EOF'
"""none vs A: frames/s, evaluation returns and the last representation metrics of each arm."""
import csv, json, sys
from pathlib import Path

dest = Path(sys.argv[1])
out = {"aux_cost": json.loads((dest / "aux_cost.json").read_text())
       if (dest / "aux_cost.json").exists() else "missing (see aux_cost.log)"}
for arm in ("none", "one_step"):
    run = dest / arm
    if not (run / "summary.json").exists():
        out[arm] = "missing (see its log)"
        continue
    s = json.loads((run / "summary.json").read_text())
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    measured = [r for r in rows if r.get("repr/srank")]
    per_step = s["frames"] / max(s["env_steps"], 1)
    out[arm] = {"frames": s["frames"], "frames_per_s": per_step * (s["steps_per_second"] or 0.0),
                "eval": [(int(r["frames"]), float(r["mean_return"]))
                         for r in csv.DictReader((run / "eval.csv").open())],
                "last_representation": {k: float(v) for k, v in measured[-1].items()
                                        if k.startswith("repr/") and v} if measured else None}
(dest / "gpu_check_aux.json").write_text(json.dumps(out, indent=2) + "\n")
print(json.dumps(out, indent=2))
EOF
  exit 0
fi

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true; } \
  > "$DEST/gpu.txt" 2>&1
if [[ "$MODE" == bf16 ]]; then
  BF16_SECONDS=${BF16_SECONDS:-200}   # worst case 120 + 200 + 20 s < 6 min
  DEST="$DEST/bf16"; mkdir -p "$DEST"
  echo "== 1/2 DrQ-v2 update time on cuda: reference, ours fp32, ours bf16"
  timeout 120 "$PYTHON" bench/drqv2_update.py --device cuda --batches 256 512 --reps 10 --bf16 \
    --out "$DEST" 2>&1 | tee "$DEST/drqv2_update_bf16.log"
  echo "== 2/2 cartpole_swingup in bf16 (${BF16_SECONDS}s of training, then SIGINT)"
  rm -rf "$DEST/train_bf16"
  timeout -s INT -k 20 "$BF16_SECONDS" "$PYTHON" train.py configs/drqv2_cartpole_swingup.yaml \
    steps=20000 device=cuda agent.precision=bf16 run_dir="$DEST/train_bf16" \
    trainer.eval_every=2500 trainer.eval_episodes=5 trainer.log_every=500 \
    trainer.checkpoint_every=1000000 trainer.save_replay=false trainer.progress=false \
    trainer.tensorboard=false 2>&1 | tail -n 12 | tee "$DEST/train_bf16.log"
  "$PYTHON" - "$DEST" <<'EOF'
"""Update times (fp32 vs bf16) and the bf16 run's frames/s, evaluations and finite losses."""
import csv, json, math, sys
from pathlib import Path

dest = Path(sys.argv[1])
f = dest / "drqv2_update_bf16.json"
out = {"drqv2_update_bf16": json.loads(f.read_text()) if f.exists() else "missing (see log)"}
run = dest / "train_bf16"
if (run / "summary.json").exists():
    s = json.loads((run / "summary.json").read_text())
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    losses = [float(r[k]) for r in rows for k in ("loss/critic", "loss/actor") if r.get(k)]
    out["train_bf16"] = {
        "frames": s["frames"],
        "frames_per_s": s["frames"] / max(s["env_steps"], 1) * (s["steps_per_second"] or 0.0),
        "eval": [(int(r["frames"]), float(r["mean_return"]))
                 for r in csv.DictReader((run / "eval.csv").open())],
        "losses_logged": len(losses), "losses_finite": all(map(math.isfinite, losses))}
else:
    out["train_bf16"] = "missing (see train_bf16.log)"
(dest / "gpu_check_bf16.json").write_text(json.dumps(out, indent=2) + "\n")
print(json.dumps(out, indent=2))
EOF
  exit 0
fi
if [[ "$MODE" == arr ]]; then
  ARR_SECONDS=${ARR_SECONDS:-100}
  echo "== 1/2 DrQ-v2 update time on cuda"
  timeout 90 "$PYTHON" bench/drqv2_update.py --device cuda --batches 256 --reps 10 \
    --out "$DEST" 2>&1 | tee "$DEST/drqv2_update.log"
  for variant in rr0.5 rr2 arr; do
    case $variant in
      rr0.5) schedule="agent.rr_schedule.type=fixed agent.rr_schedule.rr=0.5" ;;
      rr2)   schedule="agent.rr_schedule.type=fixed agent.rr_schedule.rr=2" ;;
      arr)   schedule="agent.rr_schedule.type=adaptive agent.rr_schedule.interval=2" ;;
    esac
    echo "== 2/2 cheetah_run $variant (${ARR_SECONDS}s of training, then SIGINT)"
    rm -rf "$DEST/arr_$variant"
    # shellcheck disable=SC2086
    timeout -s INT -k 20 "$ARR_SECONDS" "$PYTHON" train.py configs/drqv2_cheetah_run.yaml \
      steps=100000 device=cuda run_dir="$DEST/arr_$variant" $schedule trainer.eval_at_start=false \
      trainer.eval_every=1000000 trainer.log_every=250 trainer.checkpoint_every=1000000 \
      trainer.save_replay=false trainer.progress=false trainer.tensorboard=false 2>&1 \
      | tail -n 5 | tee "$DEST/arr_$variant.log"
  done
  "$PYTHON" - "$DEST" <<'EOF'
"""updates/s = steps/s x rr over the metrics.csv rows with updates; the adaptive run's checks."""
import csv, json, sys
from pathlib import Path

def table(path):
    return list(csv.DictReader(path.open())) if path.exists() else []

dest = Path(sys.argv[1])
out = {"gpu": (dest / "gpu.txt").read_text().strip(), "runs": {}}
for variant in ("rr0.5", "rr2", "arr"):
    run = dest / f"arr_{variant}"
    rows = [r for r in table(run / "metrics.csv") if r.get("rr") and r.get("loss/critic")]
    by_rr = {}
    for r in rows:
        by_rr.setdefault(float(r["rr"]), []).append(float(r["steps_per_second"]) * float(r["rr"]))
    out["runs"][variant] = {
        "frames": int(rows[-1]["frames"]) if rows else 0,
        "updates_per_s_by_rr": {rr: sum(v) / len(v) for rr, v in by_rr.items()},
        "checks": [{k: c[k] for k in ("episode", "frame", "fau", "change", "decision")}
                   for c in table(run / "rr_checks.csv")]}
(dest / "gpu_check.json").write_text(json.dumps(out, indent=2) + "\n")
print("\n== summary:", dest / "gpu_check.json")
for variant, r in out["runs"].items():
    rates = ", ".join(f"RR {rr:g}: {u:.1f} updates/s"
                      for rr, u in sorted(r["updates_per_s_by_rr"].items()))
    print(f"  {variant:<6} {r['frames']:>7} frames; {rates or 'no updates logged (see log)'}")
for c in out["runs"]["arr"]["checks"]:
    print(f"  check episode {c['episode']} frame {c['frame']}: FAU {float(c['fau']):.4f}, "
          f"change {float(c['change']):+.4f} -> {c['decision']}")
EOF
  exit 0
fi
echo "== 1/3 render throughput (84x84, action repeat 2)"
timeout 90 "$PYTHON" bench/pixel_fps.py --task cheetah-run --steps 300 --rounds 3 --out "$DEST" \
  2>&1 | tee "$DEST/pixel_fps.log"
echo "== 2/3 DrQ-v2 update time on cuda"
timeout 90 "$PYTHON" bench/drqv2_update.py --device cuda --batches 256 512 --reps 10 \
  --out "$DEST" 2>&1 | tee "$DEST/drqv2_update.log"
echo "== 3/3 cartpole_swingup learning check (${TRAIN_SECONDS}s of training, then SIGINT)"
rm -rf "$RUN"
timeout -s INT -k 20 "$TRAIN_SECONDS" "$PYTHON" train.py configs/drqv2_cartpole_swingup.yaml \
  steps=20000 device=cuda run_dir="$RUN" trainer.eval_every=2500 trainer.eval_episodes=5 \
  trainer.log_every=500 trainer.checkpoint_every=1000000 trainer.save_replay=false \
  trainer.progress=false trainer.tensorboard=false 2>&1 | tail -n 25 | tee "$DEST/train.log"

"$PYTHON" - "$DEST" "$RUN" <<'EOF'
"""Summarise the three checks into gpu_check.json; learning passes if the best evaluation beats
max(150, 3 x the untrained policy's return) (DrQ-v2 reaches ~750 by 100k frames)."""
import csv, json, sys
from pathlib import Path

dest, run = Path(sys.argv[1]), Path(sys.argv[2])
out = {"gpu": (dest / "gpu.txt").read_text().strip()}
for name in ("pixel_fps", "drqv2_update"):
    f = dest / f"{name}.json"
    out[name] = json.loads(f.read_text()) if f.exists() else "missing (see log)"
summary = run / "summary.json"
evals = list(csv.DictReader((run / "eval.csv").open())) if (run / "eval.csv").exists() else []
if summary.exists() and evals:
    s = json.loads(summary.read_text())
    returns = [(int(r["frames"]), float(r["mean_return"])) for r in evals]
    initial, best = returns[0][1], max(r for _, r in returns)
    frames_per_step = s["frames"] / max(s["env_steps"], 1)
    out["training"] = {"frames": s["frames"],
                       "train_frames_per_s": frames_per_step * (s["steps_per_second"] or 0.0),
                       "eval_returns_by_frame": returns, "learning_check_passed":
                       best >= max(150.0, 3.0 * initial)}
else:
    out["training"] = "missing (see train.log)"
(dest / "gpu_check.json").write_text(json.dumps(out, indent=2) + "\n")
t = out["training"]
print("\n== summary:", dest / "gpu_check.json")
if isinstance(out["pixel_fps"], dict):
    for row in out["pixel_fps"]["rows"]:
        print(f"  render  {row['path']:<28} {row['frames_per_s']:8.0f} frames/s")
if isinstance(out["drqv2_update"], dict):
    for row in out["drqv2_update"]["rows"]:
        print(f"  update  batch {row['batch']:<4} ours {row['ours_wall_ms']:6.1f} ms, "
              f"reference {row['reference_wall_ms']:6.1f} ms")
if isinstance(t, dict):
    print(f"  train   {t['train_frames_per_s']:.0f} frames/s over {t['frames']} frames; "
          f"eval returns {t['eval_returns_by_frame']}")
    print(f"  learning check: {'PASS' if t['learning_check_passed'] else 'FAIL'}")
EOF
