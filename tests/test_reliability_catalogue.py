"""A catalogue of bad input over every subcommand: one line, no traceback, exit 2, nothing written.

Each case runs ``train.main(argv)`` in-process (what ``python train.py ...`` runs) from an empty
working folder; the last tests check the same in real processes and the exit 1 paths.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import train as cli
from configs.loader import dump_config, load_config

ROOT = Path(__file__).resolve().parent.parent
NCAP = str(ROOT / "configs" / "ncap_swim_ppo.yaml")
MLP = str(ROOT / "configs" / "mlp_swim_ppo.yaml")
CHEETAH = str(ROOT / "configs" / "drqv2_cheetah_run.yaml")

# (subcommand and arguments, with {w} = the working folder; a fragment of the error line)
CASES = {
    "train": [
        (["agent.foo=1"], "unknown key 'agent.foo'"),
        (["steps=abc"], "steps: Input should be a valid integer"),
        (["{w}/nope.yaml"], "config file not found"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        ([NCAP, MLP], "unexpected argument"),
        (["=3"], "bad override '=3'"),
        (["run_dir={w}/file.txt"], "run_dir: {w}/file.txt exists and is not a folder"),
        (["trainer.resume_from=step_0000000500.pt", "run_dir={w}/fresh"],
         "checkpoint not found"),
        (["run_dir={w}/corrupt_run", "steps=100"], "corrupt or unreadable"),
        (["env.id=dmc:cheetah-run", "agent.actor.type=ncap"], "agent.actor.type: the NCAP"),
    ],
    "evaluate": [
        ([], "the following arguments are required: target"),
        (["{w}/none.pt"], "checkpoint not found"),
        (["{w}/empty"], "is not a run folder (no config.yaml)"),
        (["{w}/no_checkpoint_run"], "has no checkpoint yet"),
        (["{w}/corrupt_run"], "corrupt or unreadable"),
        (["{w}/bad_yaml_run"], "not valid YAML"),
        ([NCAP, "--episodes", "0"], "--episodes must be >= 1"),
        ([NCAP, "--episodes", "x"], "argument --episodes: invalid int value: 'x'"),
        ([NCAP, "--bogus"], "unrecognized arguments: --bogus"),
        ([NCAP, "agent.foo=1"], "unknown key 'agent.foo'"),
    ],
    "transfer": [
        ([NCAP, "--joints", "1"], "--joints: a swimmer has at least 2 joints (got 1)"),
        ([NCAP, "--joints"], "argument --joints: expected at least one argument"),
        ([MLP, "--joints", "7"], "parameter shapes depend on the body"),
        ([NCAP, "--episodes", "0"], "--episodes must be >= 1"),
        ([NCAP, "--density", "thick"], "invalid float value: 'thick'"),
        (["{w}/corrupt_run"], "corrupt or unreadable"),
    ],
    "render": [
        ([NCAP], "the following arguments are required: --out"),
        ([NCAP, "--out", "{w}/x.avi"], "--out must be an .mp4 or .gif file"),
        ([NCAP, "--out", "{w}/x.mp4", "--size", "3x3"], "size needs even width and height"),
        ([NCAP, "--out", "{w}/x.mp4", "--steps", "0"], "--steps and --fps must be >= 1"),
        ([MLP, "--out", "{w}/x.mp4", "--activity"], "need an NCAP circuit policy"),
        ([CHEETAH, "--out", "{w}/x.mp4", "--camera", "nope"], "camera 'nope' not in this model"),
    ],
    "activity": [
        ([NCAP], "the following arguments are required: --out"),
        ([NCAP, "--out", "{w}/a.png", "--steps", "1"], "--steps must be >= 2"),
        ([MLP, "--out", "{w}/a.png"], "need an NCAP circuit policy"),
        (["{w}/nope.yaml", "--out", "{w}/a.png"], "config file not found"),
    ],
    "plot": [
        ([], "the following arguments are required: runs, --out"),
        (["{w}/none", "--out", "{w}/p.png"], "no run folder or preset at"),
        (["{w}/empty", "--out", "{w}/p.png"], "no eval.csv in it or in its sub-folders"),
        (["{w}/eval_run", "--out", "{w}/p.png", "--group-by", "agent.nope"],
         "has no key 'agent.nope'"),
        (["{w}/eval_run", "--out", "{w}/p.png", "--x", "time"], "invalid choice: 'time'"),
    ],
    "sweep": [
        ([NCAP, "--seeds", "x"], "--seeds"),
        ([NCAP, "--grid", "agent.actor_lr"], "agent.actor_lr"),
        ([NCAP, "--max-concurrent", "0"], "--max-concurrent must be >= 1"),
        ([NCAP, "agent.foo=1"], "unknown key 'agent.foo'"),
        (["{w}/nope.yaml"], "config file not found"),
        ([NCAP, "--grid", "seed=1,2"], "use --seeds"),
    ],
    "report": [
        ([], "the following arguments are required: folder"),
        (["{w}/none"], "no run folder or preset at"),
        (["{w}/empty"], "holds no run folders"),
        (["{w}/bad_summary"], "summary.json is corrupt (not valid JSON)"),
    ],
}


def make_inputs(w: Path) -> None:
    """The damaged folders the cases point at."""
    (w / "empty").mkdir()
    (w / "file.txt").write_text("not a folder\n")
    config = dump_config(load_config(NCAP))
    (w / "no_checkpoint_run").mkdir()
    (w / "no_checkpoint_run" / "config.yaml").write_text(config)
    shutil.copytree(w / "no_checkpoint_run", w / "corrupt_run")
    (w / "corrupt_run" / "checkpoints").mkdir()
    (w / "corrupt_run" / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 half a zip")
    shutil.copytree(w / "corrupt_run", w / "bad_yaml_run")
    (w / "bad_yaml_run" / "config.yaml").write_text("steps: [1, 2\n")
    (w / "eval_run").mkdir()
    (w / "eval_run" / "config.yaml").write_text(config)
    (w / "eval_run" / "eval.csv").write_text("step,frames,mean_return\n0,0,800.0\n500,500,81")
    (w / "bad_summary" / "seed0").mkdir(parents=True)
    (w / "bad_summary" / "seed0" / "config.yaml").write_text(config)
    (w / "bad_summary" / "seed0" / "summary.json").write_text('{"status": "compl')


def listing(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every file's size and modification time, and every folder."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            if p.is_file() else None for p in root.rglob("*")}


@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.slow) if c == "render" else c
                                     for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(command, tmp_path, monkeypatch, capsys):
    work = tmp_path / "w"
    work.mkdir()
    make_inputs(work)
    monkeypatch.chdir(work)  # outputs with default (relative) paths would land here
    failures = []
    for args, fragment in CASES[command]:
        argv = [command, *(a.replace("{w}", str(work)) for a in args)]
        before = listing(work)
        code = cli.main(argv)
        err = capsys.readouterr().err
        fragment = fragment.replace("{w}", str(work))
        if (code != 2 or err.count("\n") != 1 or not err.startswith("error: ")
                or "Traceback" in err or fragment not in err or listing(work) != before):
            failures.append(f"{' '.join(argv)} -> exit {code}, wrote "
                            f"{sorted(set(listing(work)) - set(before)) or 'nothing new'}: {err!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_bad_input_in_a_real_process_is_one_line(tmp_path):
    """The entry point itself: nothing but the one line on stderr, nothing on stdout."""
    for argv, line in [
        (["transfer", NCAP, "--joints", "1"],
         "error: python train.py transfer: --joints: a swimmer has at least 2 joints (got 1) "
         "(see python train.py transfer --help)"),
        (["evaluate", str(tmp_path / "none.pt")], f"error: checkpoint not found: {tmp_path}/none.pt"),
        (["plot", str(tmp_path), "--out", str(tmp_path / "p.png"), "--x", "t"],
         "error: python train.py plot: argument --x: invalid choice: 't' (choose from 'step', "
         "'frames') (see python train.py plot --help)"),
    ]:
        done = subprocess.run([sys.executable, "train.py", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=900)
        assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n"), done.stderr
    assert list(tmp_path.iterdir()) == []


def test_unexpected_error_is_one_line_exit_1_and_debug_shows_the_traceback(monkeypatch, capsys):
    import trainer.api

    def broken(*args, **kwargs):
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr(trainer.api, "load_policy", broken)
    assert cli.main(["evaluate", NCAP]) == 1
    assert capsys.readouterr().err == ("error: something inside broke (RuntimeError; set "
                                       "BIOEMBODIED_DEBUG=1 for the traceback)\n")
    monkeypatch.setenv("BIOEMBODIED_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something inside broke"):
        cli.main(["evaluate", NCAP])


def test_output_that_cannot_be_written_is_one_line_exit_1(tmp_path, capsys):
    """An OSError writing a command's output names the file and the cause."""
    (tmp_path / "blocker").write_text("a file where a folder should be\n")
    out = tmp_path / "blocker" / "a.png"
    assert cli.main(["activity", NCAP, "--out", str(out), "--steps", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {tmp_path / 'blocker'}"), err
    assert "Not a directory" in err or "File exists" in err
    if torch.cuda.is_available():
        return
    assert cli.main(["train", "device=cuda", f"run_dir={tmp_path / 'r'}"]) == 2
    assert "no CUDA device is available" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
