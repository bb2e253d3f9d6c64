"""Trust boundaries: a checkpoint from someone else runs no code, and a name stays in runs/.

The crafted checkpoints carry an object whose ``__reduce__`` creates a marker file when the
file is unpickled; every command that opens a checkpoint must refuse it with one line naming
the file, exit code 2, without creating the marker or writing anything.
"""

from __future__ import annotations

import collections
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import train as cli
from configs.loader import ConfigError, dump_config, load_config
from trainer.api import train
from trainer.checkpoint import (FORMAT_VERSION, CheckpointError, CheckpointManager,
                                ForeignCheckpointError, load_checkpoint)

ROOT = Path(__file__).resolve().parent.parent
PRESET = ROOT / "configs" / "ncap_swim_ddpg.yaml"  # an NCAP circuit with a latent: every command
QUIET = ["trainer.progress=false", "trainer.tensorboard=false"]


class Payload:
    """Unpickling this runs ``exec``, which creates ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def crafted_checkpoint(path: Path, cfg, marker: Path) -> None:
    """A checkpoint of the right shape whose trainer counters carry the payload."""
    state = {"format_version": FORMAT_VERSION, "step": 500, "config": cfg.model_dump(mode="json"),
             "trainer": {"step": 500, "obs": Payload(marker)}, "agent": {}, "env": {},
             "rng": {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def files_of(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def shared_run(tmp_path):
    """``(run folder, marker)``: a run folder as someone might share it: a valid config and
    checkpoints that carry the payload (periodic, last and best)."""
    run, marker = tmp_path / "shared", tmp_path / "marker"
    cfg = load_config(PRESET, [*QUIET, f"run_dir={run}"])
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(cfg))
    for name in ("step_0000000500.pt", "last.pt", "best.pt"):
        crafted_checkpoint(run / "checkpoints" / name, cfg, marker)
    return run, marker


def test_the_crafted_checkpoint_runs_its_payload_under_full_pickle(shared_run):
    """The payload is live: a full-pickle load (what the loader did before) creates the marker."""
    run, marker = shared_run
    torch.load(run / "checkpoints" / "last.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("command", ["evaluate", "render", "transfer", "activity", "represent",
                                     "resume"])
def test_foreign_checkpoint_is_refused_by_every_command_without_running_it(
        command, shared_run, tmp_path, capsys):
    run, marker = shared_run
    out = tmp_path / "out"
    argv = {"evaluate": ["evaluate", str(run), "--episodes", "1"],
            "render": ["render", str(run), "--out", str(out / "video.mp4"), "--steps", "5"],
            "transfer": ["transfer", str(run), "--joints", "5", "--episodes", "1"],
            "activity": ["activity", str(run), "--out", str(out / "activity.png")],
            "represent": ["represent", str(run)],
            "resume": [str(PRESET), *QUIET, f"run_dir={run}"]}[command]
    before = files_of(run)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert not marker.exists(), f"{command} ran the checkpoint's payload"
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"error: checkpoint {run / 'checkpoints'}"), err
    assert "builtins.exec" in err and "nothing in it was run" in err, err
    assert files_of(run) == before, f"{command} wrote to the run folder"
    assert not out.exists(), f"{command} wrote its output"


def test_foreign_checkpoint_given_as_a_file_is_refused(shared_run, capsys):
    run, marker = shared_run
    code = cli.main(["evaluate", str(run / "checkpoints" / "best.pt")])
    err = capsys.readouterr().err
    assert (code, marker.exists()) == (2, False)
    assert f"checkpoint {run / 'checkpoints' / 'best.pt'} holds a reference to builtins.exec" in err


@pytest.mark.parametrize("value, what", [
    (np.array([1, "a"], dtype=object), "a value outside the checkpoint format"),
    (collections.Counter(a=1), "a collections.Counter at agent.x"),  # torch allows Counter
    (Path("x"), "a reference to pathlib"),
])
def test_values_outside_the_format_are_refused_on_load_and_on_save(tmp_path, value, what):
    path = tmp_path / "c.pt"
    torch.save({"format_version": FORMAT_VERSION, "step": 0, "agent": {"x": value}}, path)
    with pytest.raises(ForeignCheckpointError, match=what):
        load_checkpoint(path)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with pytest.raises(TypeError, match=r"cannot checkpoint a .* at agent\.x"):
        CheckpointManager(folder, keep=1).save({"step": 0, "agent": {"x": value}}, 0)
    assert list(folder.iterdir()) == [], "a checkpoint outside the format was written"


def test_the_format_round_trips_arrays_scalars_and_rng_states(tmp_path):
    state = {"format_version": FORMAT_VERSION, "step": 3, "config": {}, "agent": {},
             "numpy": np.random.default_rng(1).bit_generator.state,
             "legacy": np.random.RandomState(2).get_state(), "python": random.Random(3).getstate(),
             "arrays": [np.zeros(0), np.arange(4, dtype=np.uint8), np.float32(1.5), np.bool_(1)],
             "tensor": torch.arange(3.0), "nested": ({"a": None}, [True, 2, "s", b"b"])}
    path = tmp_path / "c.pt"
    torch.save(state, path)
    loaded = load_checkpoint(path)
    assert loaded["numpy"] == state["numpy"] and loaded["python"] == state["python"]
    assert loaded["legacy"][0] == "MT19937"
    np.testing.assert_array_equal(loaded["legacy"][1], state["legacy"][1])
    assert type(loaded["arrays"][2]) is np.float32 and loaded["arrays"][2] == np.float32(1.5)
    assert loaded["arrays"][1].dtype == np.uint8 and loaded["arrays"][0].shape == (0,)
    assert torch.equal(loaded["tensor"], state["tensor"]) and loaded["nested"] == state["nested"]


@pytest.mark.slow
def test_own_old_checkpoint_resumes_only_with_trust_checkpoint(tmp_path, tiny_ppo, capsys):
    """A checkpoint with a pickled object (here the metric window as a ``defaultdict``, as an
    older version might have written it): refused without the flag, resumed with it, and the
    new checkpoint is in the safe format again."""
    run = tmp_path / "old"
    args = [*tiny_ppo, f"run_dir={run}"]
    train(load_config(None, [*args, "steps=500"]))
    last = run / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=False)
    state["trainer"]["window"] = collections.defaultdict(list, state["trainer"]["window"])
    torch.save(state, last)
    with pytest.raises(CheckpointError):
        load_checkpoint(last)
    before = {p: t for p, t in files_of(run).items() if p.name != "train.lock"}
    code = cli.main([*args, "steps=1000"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "collections.defaultdict" in err and "--trust-checkpoint" in err, err
    assert {p: t for p, t in files_of(run).items() if p.name != "train.lock"} == before
    assert cli.main(["--trust-checkpoint", *args, "steps=1000"]) == 0
    assert load_checkpoint(last)["step"] == 1000


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/abs", "a/b", "..", ".", "a\\b"])
def test_a_name_that_would_leave_runs_is_refused(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="name must be one folder name inside runs/"):
        load_config(None, [f"name={name}"])
    code = cli.main([f"name={name}", "steps=10"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "set run_dir" in err, err
    assert list(tmp_path.iterdir()) == [], "something was written"


def test_run_dir_stays_the_users_choice(tmp_path):
    cfg = load_config(None, ["name=ok", f"run_dir={tmp_path / 'elsewhere' / 'r'}"])
    assert cfg.resolved_run_dir() == str(tmp_path / "elsewhere" / "r")
    assert load_config(None, ["name=ok"]).resolved_run_dir() == "runs/ok/seed0"


def test_sweep_folder_names_stay_inside_the_sweep(tmp_path):
    """Grid values become folder names with '/' replaced, so no grid point leaves the sweep."""
    from trainer.sweep.spec import expand, resolve_spec

    spec = resolve_spec(None, [f"run_dir={tmp_path / 'sweep'}"], None,
                        ["trainer.resume_from=../../x,/abs"])
    for trial in expand(spec):
        run = Path(trial.cfg.run_dir).resolve()
        assert run.is_relative_to((tmp_path / "sweep").resolve()), run
        assert ".." not in Path(trial.cfg.run_dir).relative_to(tmp_path / "sweep").parts

