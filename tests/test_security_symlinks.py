"""Symbolic links planted in a shared folder never redirect what the toolkit writes.

Someone who shares a run folder can plant ``transfer.csv -> ~/.bashrc`` (or the same for the
lock file, a ``.tmp`` name, a figure, a checkpoint's temporary file) and wait for the recipient
to run a command there. Every writer must replace such a link with its own file, or refuse it,
and the link's target must keep its bytes and its modification time.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from configs.errors import ConfigError
from configs.loader import dump_config, load_config
from trainer.api import train
from trainer.checkpoint import CheckpointManager
from trainer.files import open_append, open_new, replacing, write_atomic
from trainer.logger import CSVLog
from trainer.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"the victim's own bytes\n"


def victim(tmp_path: Path, name: str = "victim") -> Path:
    path = tmp_path / "elsewhere" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(SECRET)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return path


def untouched(target: Path) -> bool:
    return target.read_bytes() == SECRET and target.stat().st_mtime_ns == 1_000_000_000


def plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


# --- the primitives every writer goes through ------------------------------------------------

def test_write_atomic_replaces_a_planted_link_and_ignores_a_planted_tmp(tmp_path):
    out, v1, v2 = tmp_path / "run" / "summary.json", victim(tmp_path, "a"), victim(tmp_path, "b")
    plant(out, v1)
    plant(out.with_name("summary.json.tmp"), v2)
    write_atomic(out, "{}\n")
    assert untouched(v1) and untouched(v2)
    assert not out.is_symlink() and out.read_text() == "{}\n"
    assert not out.with_name("summary.json.tmp").exists()


def test_replacing_gives_a_fresh_file_and_replaces_the_link(tmp_path):
    out, v1, v2 = tmp_path / "run" / "transfer.png", victim(tmp_path, "a"), victim(tmp_path, "b")
    plant(out, v1)
    plant(out.with_name("transfer.tmp.png"), v2)
    with replacing(out) as tmp:
        assert not tmp.is_symlink() and tmp.suffix == ".png"
        tmp.write_bytes(b"png")
    assert untouched(v1) and untouched(v2)
    assert not out.is_symlink() and out.read_bytes() == b"png"


def test_replacing_removes_its_temporary_file_on_error(tmp_path):
    out = tmp_path / "x.png"
    with pytest.raises(RuntimeError), replacing(out) as tmp:
        raise RuntimeError("the writer failed")
    assert not tmp.exists() and not out.exists()


def test_open_new_and_open_append_refuse_to_follow(tmp_path):
    v = victim(tmp_path)
    link = tmp_path / "run" / "rr_checks.csv"
    plant(link, v)
    with pytest.raises(OSError) as e:
        open_append(link)
    assert e.value.errno == errno.ELOOP
    with open_new(link) as f:          # removes the link itself, then creates a new file
        f.write("step\n")
    assert untouched(v) and link.read_text() == "step\n" and not link.is_symlink()


def test_a_log_linked_elsewhere_is_dropped_never_read_or_appended(tmp_path):
    """The link is removed when the log opens (the writer holds the folder), so neither the
    target's lines nor its header reach our file, and the target is not appended to."""
    v = victim(tmp_path)
    link = tmp_path / "run" / "interventions.csv"
    plant(link, v)
    CSVLog(link, records=True).write({"step": 1, "kind": "reset"})
    assert untouched(v) and not link.is_symlink()
    assert link.read_text().splitlines() == ["step,kind", "1,reset"]


def test_a_checkpoint_never_writes_through_a_planted_tmp_or_last(tmp_path):
    ckpts, v1, v2 = tmp_path / "run" / "checkpoints", victim(tmp_path, "a"), victim(tmp_path, "b")
    plant(ckpts / "step_0000000100.pt.tmp", v1)
    plant(ckpts / "last.pt", v2)
    CheckpointManager(ckpts, keep=2).save({"step": 100, "w": torch.zeros(3)}, 100)
    assert untouched(v1) and untouched(v2)
    assert not (ckpts / "last.pt").is_symlink()
    assert torch.load(ckpts / "last.pt")["step"] == 100


def test_probe_set_and_representation_csv_replace_links(tmp_path):
    import numpy as np

    from agents.plasticity.representation import ProbeSet
    from trainer.posthoc.represent import write_report

    run, v1, v2 = tmp_path / "run", victim(tmp_path, "a"), victim(tmp_path, "b")
    plant(run / "probe.npz", v1)
    plant(run / "representation.csv", v2)
    probe = ProbeSet(obs=np.zeros((2, 3), np.float32), qpos=np.zeros((2, 1)),
                     qvel=np.zeros((2, 1)), episode=np.array([0, 1]), meta={})
    probe.save(run / "probe.npz")
    write_report(run, [{"checkpoint": "last", "step": 1, "srank": 2}])
    assert untouched(v1) and untouched(v2)
    assert (run / "representation.csv").read_text().splitlines()[0] == "checkpoint,step,srank"
    assert ProbeSet.load(run / "probe.npz").obs.shape == (2, 3)


# --- the writer lock ---------------------------------------------------------------------------

def test_a_linked_lock_file_is_refused(tmp_path):
    run, v = tmp_path / "run", victim(tmp_path)
    plant(run / "train.lock", v)
    with pytest.raises(ConfigError, match="train.lock is a symbolic link"):
        with RunDir(run).exclusive():
            pass
    assert untouched(v)


def test_a_refused_rerun_leaves_the_lock_file_untouched(tmp_path):
    """A run folder with another config: the rerun is refused, and refusals touch nothing."""
    run = tmp_path / "run"
    cfg = load_config(ROOT / "configs/ncap_swim_ppo.yaml",
                      ["trainer.progress=false", "trainer.tensorboard=false", f"run_dir={run}"])
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(cfg))
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    lock = run / "train.lock"
    lock.write_text("pid 1 on elsewhere\n")
    os.utime(lock, ns=(1_000_000_000, 1_000_000_000))
    other = load_config(ROOT / "configs/ncap_swim_ppo.yaml",
                        ["trainer.progress=false", "trainer.tensorboard=false", f"run_dir={run}",
                         "agent.actor_lr=0.5"])
    with pytest.raises(ConfigError, match="different config"):
        train(other)
    assert lock.read_text() == "pid 1 on elsewhere\n"
    assert lock.stat().st_mtime_ns == 1_000_000_000


# --- the commands, end to end on a tiny trained run -------------------------------------------

def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUJOCO_GL": "egl"}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    from tests.conftest import TINY_PPO

    run = tmp_path_factory.mktemp("symlinks") / "run"
    cfg = load_config(ROOT / "configs/ncap_swim_ppo.yaml",
                      [*TINY_PPO, "steps=512", f"run_dir={run}"])
    train(cfg)
    return run


@pytest.mark.slow
def test_transfer_report_activity_and_render_replace_planted_links(tiny_run, tmp_path):
    names = ["transfer.csv", "transfer.md", "transfer.png", "report.json.tmp", "report.json",
             "learning_curves.png", "activity.png", "video.mp4"]
    victims = {name: victim(tmp_path, name) for name in names}
    out = tmp_path / "shared_out"
    for name in names:
        plant(out / name, victims[name])
    run_copy = out / "run"
    subprocess.run(["cp", "-r", str(tiny_run), str(run_copy)], check=True)
    steps = [
        ("transfer", str(run_copy), "--joints", "4", "--episodes", "1", "--out", str(out)),
        ("report", str(out)),
        ("activity", str(run_copy), "--steps", "20", "--out", str(out / "activity.png")),
        ("render", str(run_copy), "--steps", "4", "--size", "64x48",
         "--out", str(out / "video.mp4")),
    ]
    for args in steps:
        done = cli(*args, cwd=tmp_path)
        assert done.returncode == 0, (args[0], done.stderr[-2000:])
    for name, target in victims.items():
        assert untouched(target), f"{name}: the link's target was written"
    for name in ["transfer.csv", "transfer.md", "transfer.png", "activity.png", "video.mp4"]:
        assert (out / name).is_file() and not (out / name).is_symlink(), name


@pytest.mark.slow
def test_resume_through_a_linked_lock_is_refused_with_one_line(tiny_run, tmp_path):
    run = tmp_path / "run"
    subprocess.run(["cp", "-r", str(tiny_run), str(run)], check=True)
    v = victim(tmp_path)
    (run / "train.lock").unlink(missing_ok=True)
    plant(run / "train.lock", v)
    from tests.conftest import TINY_PPO

    done = cli(str(ROOT / "configs/ncap_swim_ppo.yaml"), *TINY_PPO, "steps=1024", f"run_dir={run}",
               cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "train.lock is a symbolic link" in done.stderr
    assert untouched(v)
