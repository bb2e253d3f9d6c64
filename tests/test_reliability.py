"""Run folders under concurrent use, full disks, crashes and corrupt files.

Real runs (tiny PPO on the N=5 swimmer, tiny DrQ-v2 from 32x32 pixels); the long SIGKILL
campaign is ``bench/crash_kill.py``.
"""

from __future__ import annotations

import csv
import errno
import logging
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train as cli
from trainer.sweep.trial import run_trial
from configs.loader import config_to_dict, load_config
from trainer import checkpoint, logger
from trainer.api import train
from trainer.checkpoint import load_checkpoint
from trainer.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow   # every test here trains or runs processes (pytest -m "not slow")
TIMING_COLUMNS = {"steps_per_second", "train_seconds", "seconds"}
PIXEL_PRESET = ROOT / "configs" / "drqv2_tiny.yaml"
# tests/test_drqv2_e2e.py's tiny pixel run, checkpointing every 100 steps
PIXEL = ["env.pixels.size=32", "agent.batch_size=16", "agent.replay_capacity=2000",
         "agent.explore_steps=100", "agent.seed_frames=200", "trainer.eval_every=200",
         "trainer.eval_episodes=1", "trainer.log_every=100", "trainer.checkpoint_every=100",
         "trainer.progress=false", "trainer.tensorboard=false", "steps=300"]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(f)]


def assert_same_tensors(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys differ"
        for k in a:
            assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f"{where}[{i}]")


def assert_same_run(a: Path, b: Path) -> None:
    """Same final agent state (weights, optimisers, normalisers, replay) and the same logs."""
    sa, sb = (load_checkpoint(p / "checkpoints" / "last.pt") for p in (a, b))
    assert sa["step"] == sb["step"]
    assert_same_tensors(sa["agent"], sb["agent"], "agent")
    assert rows(a / "metrics.csv") == rows(b / "metrics.csv"), "metrics.csv differs"
    assert rows(a / "eval.csv") == rows(b / "eval.csv"), "eval.csv differs"


def listing(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every file's size and modification time, and every folder."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            if p.is_file() else None for p in root.rglob("*")}


def run_cli(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted 1500-step tiny PPO run (checkpoints at 500, 1000, 1500)."""
    from conftest import TINY_PPO

    run = tmp_path_factory.mktemp("reference")
    train(load_config(None, [*TINY_PPO, "steps=1500", f"run_dir={run}"]))
    return run


def ppo_args(tiny_ppo, run: Path, steps: int = 1500) -> list[str]:
    return [*tiny_ppo, f"steps={steps}", f"run_dir={run}"]


def start_lock_holder(run: Path) -> subprocess.Popen:
    """A process that holds ``run``'s writer lock until it is killed."""
    code = ("import sys; from trainer.rundir import RunDir\n"
            f"with RunDir({str(run)!r}).exclusive():\n"
            "    print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


# --- one writer per run folder --------------------------------------------------------------
def test_second_writer_stops_at_once_and_a_killed_holder_never_blocks(tmp_path, tiny_ppo, capsys):
    run = tmp_path / "run"
    holder = start_lock_holder(run)
    before = listing(tmp_path)
    t0 = time.perf_counter()
    code, _, err = run_cli(ppo_args(tiny_ppo, run, 500), capsys)
    assert code == 2 and time.perf_counter() - t0 < 5
    assert err.count("\n") == 1 and err.startswith("error: run folder "), err
    assert str(run) in err and f"pid {holder.pid}" in err
    assert listing(tmp_path) == before, "the refused process wrote into the folder"
    # a sweep trial holds its folder too: refused before it writes its trial.json
    cfg = config_to_dict(load_config(None, ppo_args(tiny_ppo, run, 500)))
    with pytest.raises(Exception, match=f"pid {holder.pid}"):
        run_trial(cfg, str(tmp_path / "no-stop-file"))
    assert listing(tmp_path) == before

    holder.send_signal(signal.SIGKILL)
    holder.wait()
    code, _, err = run_cli(ppo_args(tiny_ppo, run, 500), capsys)
    assert code == 0, err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 500


def test_read_only_commands_work_on_a_folder_being_trained(tmp_path, tiny_ppo, capsys):
    run = tmp_path / "run"
    args = [*ppo_args(tiny_ppo, run, 20000), "trainer.checkpoint_every=250"]
    proc = subprocess.Popen([sys.executable, "train.py", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run / "checkpoints" / "last.pt").exists() and time.time() < deadline:
            time.sleep(0.05)
        code, _, err = run_cli(args, capsys)
        assert code == 2 and f"pid {proc.pid}" in err
        commands = [["evaluate", str(run), "--episodes", "1"],
                    ["transfer", str(run), "--joints", "5", "--episodes", "1", "--no-references",
                     "--out", str(tmp_path / "transfer")],
                    ["plot", str(run), "--out", str(tmp_path / "curves.png")],
                    ["report", str(tmp_path)]]
        for argv in commands:
            code, _, err = run_cli(argv, capsys)
            assert code == 0, f"{argv[0]} on a folder being trained: {err}"
        assert proc.poll() is None, "the run finished before the readers were checked"
    finally:
        proc.kill()
        proc.wait()


# --- SIGKILL at any point: the same command resumes bit for bit -----------------------------
def kill_at(cmd: list[str], until) -> None:
    """Start ``cmd`` and SIGKILL it as soon as ``until(seconds since start)`` holds."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    while proc.poll() is None and not until(time.perf_counter() - t0):
        time.sleep(0.0002)
    assert proc.poll() is None, "the run ended before the kill point"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def writing_checkpoint(run: Path, or_exists: str):
    """While a checkpoint is being written (its ``.tmp`` exists), or else once ``or_exists``
    is (a write can be too quick to catch)."""
    ckpt = run / "checkpoints"
    return lambda _: (ckpt / or_exists).exists() or any(p.suffix == ".tmp" for p in ckpt.glob("*"))


def test_sigkilled_ppo_run_resumes_bit_identically(tmp_path, tiny_ppo, reference):
    run = tmp_path / "run"
    cmd = [sys.executable, "train.py", *ppo_args(tiny_ppo, run)]
    kill_at(cmd, lambda _: (run / "metrics.csv").exists())  # mid-training, before a checkpoint
    kill_at(cmd, writing_checkpoint(run, "step_0000001000.pt"))
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-500:]
    assert not list(run.rglob("*.tmp")), "temporary files left behind"
    assert_same_run(reference, run)


def test_sigkilled_pixel_run_resumes_bit_identically_with_its_replay(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    train(load_config(PIXEL_PRESET, [*PIXEL, f"run_dir={ref}"]))
    cmd = [sys.executable, "train.py", str(PIXEL_PRESET), *PIXEL, f"run_dir={run}"]
    kill_at(cmd, writing_checkpoint(run, "step_0000000200.pt"))
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-500:]
    assert_same_run(ref, run)
    replay = load_checkpoint(run / "checkpoints" / "last.pt")["agent"]["replay"]
    assert replay["size"] == 301, "300 transitions + 1 reset frame"


# --- write failures -------------------------------------------------------------------------
def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_checkpoint_that_cannot_be_written_stops_cleanly_and_resumes(tmp_path, tiny_ppo,
                                                                     reference, capsys):
    """A real kernel write error (files capped at 100 kB, checkpoints are ~220 kB): one line
    naming the checkpoint, exit 1, no temporary file; the same command then completes."""
    run = tmp_path / "run"
    cmd = [sys.executable, "train.py", *ppo_args(tiny_ppo, run)]
    failed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                            preexec_fn=limit_file_size(100_000))
    assert failed.returncode == 1, failed.stderr[-500:]
    expected = f"error: {run / 'checkpoints' / 'step_0000000500.pt'}: File too large\n"
    assert failed.stderr == expected
    assert not list(run.rglob("*.tmp")) and not (run / "checkpoints" / "last.pt").exists()
    code, _, err = run_cli(cmd[2:], capsys)  # the same command, with the cause gone
    assert code == 0, err
    assert_same_run(reference, run)


def test_full_disk_keeps_the_last_good_checkpoint_and_consistent_logs(
        tmp_path, tiny_ppo, reference, capsys, caplog, monkeypatch):
    """ENOSPC in the middle of the second checkpoint, then of a metrics.csv row."""
    run = tmp_path / "run"
    args = ppo_args(tiny_ppo, run)
    class FullDisk:
        """A file whose disk fills up 50 kB into the checkpoint of step 1000."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            if self.f.name.endswith("step_0000001000.pt.tmp") and self.f.tell() > 50_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def flush(self):
            self.f.flush()

    real_init = checkpoint._Writer.__init__
    monkeypatch.setattr(checkpoint._Writer, "__init__", lambda w, f: real_init(w, FullDisk(f)))
    code, _, err = run_cli(args, capsys)
    assert code == 1
    assert err == (f"error: {run / 'checkpoints' / 'step_0000001000.pt'}: "
                   f"No space left on device\n")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best.pt", "last.pt", "step_0000000500.pt"]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 500
    monkeypatch.undo()

    class HalfRowThenFull(csv.DictWriter):
        def writerow(self, row):
            if row.get("step") == 1250:
                self.writer.writerow(list(row.values())[:3])  # part of the row reaches disk
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().writerow(row)

    monkeypatch.setattr(logger.csv, "DictWriter", HalfRowThenFull)
    code, _, err = run_cli(args, capsys)
    assert code == 1 and err == f"error: {run / 'metrics.csv'}: No space left on device\n"
    monkeypatch.undo()
    with caplog.at_level(logging.WARNING, logger="trainer.logger"):
        code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert "metrics.csv: dropped 1 incomplete or garbled row(s)" in caplog.text
    assert_same_run(reference, run)


# --- corrupt and partial files --------------------------------------------------------------
def test_corrupt_last_checkpoint_names_the_newest_intact_one_and_resumes_from_it(
        tmp_path, tiny_ppo, reference, capsys):
    run = tmp_path / "run"
    train(load_config(None, ppo_args(tiny_ppo, run)))
    newest = run / "checkpoints" / "step_0000001500.pt"  # last.pt is a hard link to it
    newest.write_bytes(newest.read_bytes()[:1000])
    code, _, err = run_cli(ppo_args(tiny_ppo, run, 2000), capsys)
    assert code == 2 and err.count("\n") == 1
    assert "last.pt is corrupt or unreadable" in err
    assert ("the newest intact checkpoint is " + str(run / "checkpoints" / "step_0000001000.pt")
            + " (step 1000): resume from it with trainer.resume_from=step_0000001000.pt") in err
    # resuming from the intact step-1000 checkpoint redoes 1000-1500 exactly
    resume = [*ppo_args(tiny_ppo, run), "trainer.resume_from=step_0000001000.pt"]
    code, _, err = run_cli(resume, capsys)
    assert code == 0, err
    assert_same_run(reference, run)
    # repeating that command later is refused instead of discarding the newer checkpoint
    code, _, err = run_cli([*resume[:-2], "steps=2000", resume[-2], resume[-1]], capsys)
    assert code == 2 and "resuming would discard 500 steps" in err


def test_incomplete_csv_rows_and_temporary_files_are_repaired_on_resume(
        tmp_path, tiny_ppo, reference, caplog):
    run = tmp_path / "run"
    train(load_config(None, ppo_args(tiny_ppo, run, 1000)))
    with (run / "metrics.csv").open("a") as f:
        f.write("1250,1250,2,\x00\x00\x00\r\n1500,15")  # NUL-filled row, then a cut one
    with (run / "eval.csv").open("a") as f:
        f.write("1500,1500,81")
    (run / "checkpoints" / "step_0000001500.pt.tmp").write_bytes(b"half a checkpoint")
    (run / "summary.json.tmp").write_text("{")
    assert RunDir(run).eval_curve()[0].tolist() == [0, 500, 1000], "readers skip the cut row"
    with caplog.at_level(logging.WARNING, logger="trainer.logger"):
        train(load_config(None, ppo_args(tiny_ppo, run, 1500)))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("metrics.csv: dropped 2 incomplete or garbled row(s)" in w for w in warnings)
    assert any("eval.csv: dropped 1 incomplete or garbled row(s)" in w for w in warnings)
    assert not list(run.rglob("*.tmp"))
    assert_same_run(reference, run)


def test_final_evaluation_precedes_the_final_checkpoint(tmp_path, tiny_ppo):
    """So a kill between them cannot leave an eval.csv row the checkpoint does not know of."""
    run = tmp_path / "run"
    train(load_config(None, ppo_args(tiny_ppo, run, 700)))
    last = load_checkpoint(run / "checkpoints" / "last.pt")
    assert last["step"] == 700 and last["trainer"]["last_eval_step"] == 700
    assert [int(r["step"]) for r in rows(run / "eval.csv")] == [0, 500, 700]
