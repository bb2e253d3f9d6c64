"""Command-line behaviour: help, the evaluate command, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import train as cli
from configs.loader import load_config
from trainer.api import train

ROOT = Path(__file__).resolve().parent.parent


def run_cli(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_subcommands_and_config_keys(capsys):
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    for word in ("evaluate", "train", "steps", "seed", "run_dir", "agent.actor_lr", "env.n_joints",
                 "trainer.eval_every"):
        assert word in out, word


@pytest.mark.parametrize("overrides, message", [
    (["agent.foo=1"], "config error: unknown key 'agent.foo'"),
    (["steps=abc"], "config error: steps: Input should be a valid integer"),
    (["agent.actor_lr=-1"], "config error: agent.actor_lr: Input should be greater than 0"),
    (["n_joints=1"], "config error: env.n_joints: Input should be greater than or equal to 2"),
    (["env.id=dmc:foo-bar"], "unknown environment id 'dmc:foo-bar'"),
    (["=5"], "bad override '=5': expected key=value"),
    (["steps"], "config file not found: steps (give a YAML preset and key=value overrides)"),
    (["agent.minibatch=9999", "agent.segment=512"], "minibatch (9999) must be <= segment (512)"),
])
def test_bad_config_is_one_line_nonzero_exit_and_no_run_folder(tmp_path, capsys, overrides, message):
    run_dir = tmp_path / "run"
    code, out, err = run_cli([*overrides, f"run_dir={run_dir}"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err
    assert not run_dir.exists()


def test_missing_config_file_and_unknown_option(capsys):
    code, _, err = run_cli(["configs/nope.yaml"], capsys)
    assert code == 2 and "config file not found: configs/nope.yaml" in err
    code, _, err = run_cli(["--frobnicate"], capsys)
    assert code == 2 and "unknown option '--frobnicate'" in err


@pytest.mark.slow
def test_resuming_a_folder_with_another_config_is_refused(tmp_path, tiny_ppo, capsys):
    train(load_config(None, [*tiny_ppo, "steps=500", f"run_dir={tmp_path}"]))
    code, _, err = run_cli([*tiny_ppo, "steps=500", "seed=7", f"run_dir={tmp_path}"], capsys)
    assert code == 2 and "different config (seed: 0 there, 7 now)" in err


@pytest.mark.slow
def test_evaluate_a_config_gives_the_untrained_policy_score(capsys):
    code, out, _ = run_cli(["evaluate", "configs/ncap_swim_ppo.yaml", "--episodes", "2",
                            "--seed", "0"], capsys)
    assert code == 0
    assert "return 800.6 +- 6.4 over 2 episodes" in out  # seeds 0, 1: 794.1 and 807.0


@pytest.mark.slow
def test_evaluate_run_folder_on_another_body_and_refuse_mlp(tmp_path, tiny_ppo, capsys):
    train(load_config(None, [*tiny_ppo, "steps=500", f"run_dir={tmp_path / 'ncap'}"]))
    code, out, _ = run_cli(["evaluate", str(tmp_path / "ncap"), "--episodes", "1", "n_joints=7"],
                           capsys)
    assert code == 0 and "(n_joints=7, " in out
    train(load_config(ROOT / "configs/mlp_swim_ppo.yaml",
                      [*tiny_ppo, "steps=500", f"run_dir={tmp_path / 'mlp'}"]))
    code, _, err = run_cli(["evaluate", str(tmp_path / "mlp"), "n_joints=7"], capsys)
    assert code == 2 and "parameter shapes depend on the body" in err


def test_missing_or_corrupt_checkpoint_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(["evaluate", str(tmp_path / "none.pt")], capsys)
    assert code == 2 and "checkpoint not found" in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code, _, err = run_cli(["evaluate", str(bad)], capsys)
    assert code == 2 and "corrupt or unreadable" in err


@pytest.mark.slow
def test_corrupt_last_checkpoint_stops_resume_without_touching_the_folder(tmp_path, tiny_ppo, capsys):
    train(load_config(None, [*tiny_ppo, "steps=500", f"run_dir={tmp_path}"]))
    last = tmp_path / "checkpoints" / "step_0000000500.pt"
    last.write_bytes(b"garbage")  # last.pt is a hard link to it
    def files():  # train.lock is rewritten with the pid of whoever holds the folder
        return {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")
                if p.is_file() and p.name != "train.lock"}

    before = files()
    code, _, err = run_cli([*tiny_ppo, "steps=1000", f"run_dir={tmp_path}"], capsys)
    assert code == 2 and "corrupt or unreadable" in err
    assert before == files()


@pytest.mark.slow
def test_command_line_exit_code_and_stderr_in_a_real_process(tmp_path):
    done = subprocess.run([sys.executable, "train.py", "agent.foo=1", f"run_dir={tmp_path}/r"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: config error: unknown key 'agent.foo'"
    assert not (tmp_path / "r").exists()
