"""What a new user hits (issue 18): silent no-ops and messages, through the real subcommands.

Every refusal is one line on stderr, exit code 2, and leaves nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import train as cli
from conftest import assert_one_line_refusal, run_cli

ROOT = Path(__file__).resolve().parent.parent
CARTPOLE = str(ROOT / "configs/offpolicy_cartpole_swingup.yaml")


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory) -> Path:
    """A finished 500-step NCAP + PPO swim run (refused commands must leave it as it is)."""
    from conftest import TINY_PPO

    run_dir = tmp_path_factory.mktemp("cli") / "ppo"
    assert cli.main([*TINY_PPO, "steps=500", f"run_dir={run_dir}"]) == 0
    return run_dir


@pytest.mark.parametrize("override", ["env.length_scale=2", "n_joints=7", "env.density=1000",
                                      "env.viscosity=0.1"])
def test_swim_body_keys_on_a_dm_control_task_are_refused_naming_key_and_task(override, tmp_path,
                                                                            capsys):
    run_dir = tmp_path / "run"
    code, _, err = run_cli([CARTPOLE, override, "steps=10", f"run_dir={run_dir}"], capsys)
    key = "env." + override.split("=")[0].removeprefix("env.")
    assert_one_line_refusal(code, err, key, "dmc:cartpole-swingup")
    assert not run_dir.exists(), "a refused run writes nothing"


@pytest.mark.parametrize("text", ["", "# only a comment\n\n# and another\n"])
def test_an_empty_or_comments_only_config_file_is_refused(text, tmp_path, capsys):
    preset = tmp_path / "empty.yaml"
    preset.write_text(text)
    code, _, err = run_cli([str(preset), f"run_dir={tmp_path / 'run'}"], capsys)
    assert_one_line_refusal(code, err, str(preset), "no keys")
    assert not (tmp_path / "run").exists() and not Path("runs/run").exists()


def test_evaluate_on_a_picture_or_a_csv_names_the_file_it_cannot_read(tmp_path, capsys):
    picture = tmp_path / "curves.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    table = tmp_path / "metrics.csv"
    table.write_text("step,return\n0,1.5\n")
    for path in (picture, table):
        code, _, err = run_cli(["evaluate", str(path)], capsys)
        assert_one_line_refusal(code, err, str(path), "not a YAML config")


@pytest.mark.slow
def test_fewer_steps_than_a_finished_run_is_refused_and_leaves_every_file(ppo_run, tiny_ppo,
                                                                          capsys):
    run_dir = ppo_run

    def files():  # train.lock is rewritten with the pid of whoever holds the folder
        return {p: p.read_bytes() for p in run_dir.rglob("*")
                if p.is_file() and p.name != "train.lock"}

    before = files()
    code, _, err = run_cli([*tiny_ppo, "steps=256", f"run_dir={run_dir}"], capsys)
    assert_one_line_refusal(code, err, "at step 500", "steps=256")
    assert files() == before, "a refused resume changed the run folder"


def test_represent_on_a_ppo_run_says_it_needs_an_off_policy_agent(ppo_run, capsys):
    run_dir = ppo_run
    code, _, err = run_cli(["represent", str(run_dir)], capsys)
    assert_one_line_refusal(code, err, "need an off-policy agent", "ppo run")
    assert not (run_dir / "representation.csv").exists()


@pytest.mark.parametrize("option", ["--length-scale", "--density", "--viscosity"])
def test_transfer_to_a_negative_body_parameter_is_a_one_line_usage_error(option, tmp_path, capsys):
    code, _, err = run_cli(["transfer", "configs/ncap_swim_ppo.yaml", "--joints", "3", option,
                            "-1", "--out", str(tmp_path / "t")], capsys)
    assert_one_line_refusal(code, err, option, "got -1")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("argv, words", [
    (["evaluate", "{configs}/ncap_swim_ppo.yaml", "--seed", "-5"], ["--seed", "got -5"]),
    (["steps=10", "seed=99999999999999999999"], ["config error: seed"]),
    (["{configs}/drqv2_tiny.yaml", "agent.actor.sigma=0.3"],
     ["unknown key 'agent.actor.sigma' (a key of agent.name=ppo)"]),
    (["{configs}/drqv2_tiny.yaml", "agent.segment=512"],
     ["unknown key 'agent.segment' (a key of agent.name=ppo)"]),
    (["agent.batch_size=64"], ["unknown key 'agent.batch_size' (a key of agent.name="]),
    (["agent.actor_lrr=1e-3"], ["unknown key 'agent.actor_lrr' (did you mean 'agent.actor_lr'?)"]),
    (["{configs}/ncap_swim_pp.yaml"], ["(did you mean {configs}/ncap_swim_ppo.yaml?)"]),
    (["eval", "runs/x"], ["unknown subcommand 'eval' (did you mean evaluate?)"]),
    (["rendr", "runs/x"], ["unknown subcommand 'rendr' (did you mean render?)"]),
    (["evaluate"], ["the following arguments are required: target ("]),
    (["represent"], ["the following arguments are required: run_dir ("]),
])
def test_bad_input_gets_one_line_that_names_the_problem(argv, words, tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.chdir(tmp_path)  # a default run folder would appear here
    configs = ROOT / "configs"
    code, _, err = run_cli([a.format(configs=configs) for a in argv], capsys)
    assert_one_line_refusal(code, err, *(w.format(configs=configs) for w in words))
    assert "pydantic" not in err and "discriminator" not in err and "overrides" not in err
    assert not list(tmp_path.iterdir()), "a refused command wrote files"


@pytest.fixture(params=["read_only", "under_a_file"])
def unwritable_dir(request, tmp_path):
    """A folder nothing can be written into: read-only (chmod, or a read-only tmpfs for root), or
    a path whose parent is a file."""
    import os
    import subprocess

    if request.param == "under_a_file":
        (tmp_path / "plain_file").write_text("")
        yield tmp_path / "plain_file" / "out"
        return
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("root cannot make a read-only folder here (no chmod effect, no mount)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def refuse_work(monkeypatch, module: str, name: str) -> None:
    """Make ``module.name`` fail loudly: the command must stop before it gets there."""
    import importlib

    def work(*args, **kwargs):
        raise AssertionError(f"{name} ran although the output cannot be written")

    monkeypatch.setattr(importlib.import_module(module), name, work)


@pytest.mark.parametrize("command, work", [
    (["render", "{run}", "--out", "{out}/x.mp4", "--steps", "2", "--size", "32x32"],
     ("trainer.posthoc.video", "agent_rollout")),
    (["activity", "{run}", "--out", "{out}/a.png", "--steps", "4"],
     ("trainer.rollout", "record_rollout")),
    (["transfer", "{run}", "--joints", "3", "--episodes", "1", "--out", "{out}"],
     ("trainer.posthoc.transfer", "transfer_rows")),
])
def test_an_unwritable_output_stops_before_any_work_naming_the_file(command, work, ppo_run,
                                                                    unwritable_dir, monkeypatch,
                                                                    capsys):
    refuse_work(monkeypatch, *work)
    argv = [a.format(run=ppo_run, out=unwritable_dir) for a in command]
    code, _, err = run_cli(argv, capsys)
    assert code in (1, 2), f"exit code {code}: {err}"
    assert err.count("\n") == 1 and err.startswith(f"error: {unwritable_dir}"), err
    assert "Broken pipe" not in err and "ffmpeg" not in err


# --- what users expect ------------------------------------------------------------------------
def test_evaluate_names_its_checkpoint_and_step_and_counts_in_the_singular(ppo_run, monkeypatch,
                                                                           capsys, caplog):
    import logging

    from trainer import policy_source

    monkeypatch.setattr(policy_source, "_ANNOUNCED", set())
    caplog.set_level(logging.INFO)
    code, out, err = run_cli(["evaluate", str(ppo_run), "--episodes", "1"], capsys)
    assert code == 0, err
    assert f"policy: {ppo_run / 'checkpoints' / 'best.pt'} (step " in caplog.text
    assert "over 1 episode (seed 10000)" in out, out


def test_a_best_checkpoint_of_step_zero_is_called_the_initial_policy():
    from trainer.policy_source import describe

    line = describe(Path("r/checkpoints/best.pt"), "r", {"step": 0, "trainer": {"best_eval": 7.5}})
    assert line.startswith("policy: r/checkpoints/best.pt (step 0, evaluation return 7.5)")
    assert "acts as the untrained policy does" in line
    assert "untrained" not in describe(Path("r/checkpoints/best.pt"), "r",
                                       {"step": 500, "trainer": {"best_eval": 7.5}})


@pytest.mark.slow
def test_resume_says_from_which_step_and_the_summary_lists_every_file(tmp_path, tiny_ppo, capsys,
                                                                      caplog):
    import logging

    caplog.set_level(logging.INFO)
    run_dir = tmp_path / "run"
    assert run_cli([*tiny_ppo, "steps=512", f"run_dir={run_dir}"], capsys)[0] == 0
    code, out, err = run_cli([*tiny_ppo, "steps=1024", f"run_dir={run_dir}"], capsys)
    assert code == 0, err
    assert f"resuming {run_dir} from step 512 of 1,024" in caplog.text
    listed = {line.split()[-1] for line in out.split("outputs:")[1].splitlines() if line.strip()}
    written = {str(p) for p in run_dir.iterdir() if p.is_file() and p.name != "train.lock"}
    assert written <= listed, f"not in the summary: {written - listed}"


@pytest.mark.slow
def test_ppo_below_one_segment_warns_that_no_update_will_run(tmp_path, tiny_ppo, capsys, caplog):
    code, _, err = run_cli([*tiny_ppo, "steps=100", f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 0, err
    assert "steps=100 is below one PPO segment (agent.segment=512): no update will run" in \
        caplog.text


def test_an_interrupted_summary_says_latest_not_final_and_how_to_resume():
    from cli.train_cmd import format_summary

    summary = {"status": "interrupted", "run_dir": "runs/x", "env_steps": 700, "frames": 700,
               "episodes": 1, "initial_eval_return": 3.0, "final_eval_return": 3.0,
               "last_eval_step": 0, "best_eval_return": 3.0, "steps_per_second": 100.0,
               "files": {"config": "runs/x/config.yaml"}}
    text = format_summary(summary, "python train.py steps=1000")
    assert "initial 3.0 -> latest 3.0 at step 0" in text and "final" not in text
    assert "1 episode)" in text
    assert "resume: run the same command again (python train.py steps=1000)" in text


def test_render_to_a_gif_path_writes_a_gif(ppo_run, tmp_path, capsys):
    import imageio.v3 as iio

    out = tmp_path / "swim.gif"
    code, stdout, err = run_cli(["render", str(ppo_run), "--out", str(out), "--steps", "3",
                                 "--size", "32x32"], capsys)
    assert code == 0, err
    assert iio.imread(out, index=None).shape == (3, 32, 32, 3)
    assert out.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert not out.with_suffix(".mp4").exists()


def test_a_list_entry_without_its_type_says_which_key_it_needs(capsys):
    code, _, err = run_cli([str(ROOT / "configs/drqv2_tiny.yaml"), "agent.aux.losses=[{weight: 1}]",
                            "steps=10"], capsys)
    assert_one_line_refusal(code, err, "agent.aux.losses.0: needs a 'type' key")
    assert "discriminator" not in err


def test_off_policy_steps_within_the_seed_frames_warn_and_enough_steps_do_not():
    from configs.loader import load_config
    from trainer.api import config_warnings

    tiny = ROOT / "configs/drqv2_tiny.yaml"  # seed_frames 1000 = 500 agent steps at repeat 2
    assert "no update will run" in " ".join(config_warnings(load_config(tiny, ["steps=500"])))
    assert config_warnings(load_config(tiny, ["steps=501"])) == []
    assert config_warnings(load_config(None, ["steps=4096"])) == [], "one full PPO segment"


@pytest.mark.slow
def test_the_progress_bar_ends_on_the_rate_the_summary_prints(tmp_path, tiny_ppo, capsys):
    import re

    code, out, err = run_cli([*tiny_ppo, "trainer.progress=true", "steps=512",
                              f"run_dir={tmp_path / 'run'}"], capsys)
    assert code == 0, err
    bar_rates = re.findall(r"steps/s=(\d+)", err)
    summary_rate = re.search(r"training speed\s+(\d+) env steps/s", out)
    assert bar_rates and summary_rate, (err[-300:], out)
    assert bar_rates[-1] == summary_rate.group(1)
    assert not re.search(r"\d+(\.\d+)?step/s", err), "one rate on the bar, not tqdm's own too"
