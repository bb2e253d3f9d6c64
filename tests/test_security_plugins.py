"""Trust boundaries of plug-ins: code runs only when the person at the keyboard asks for it.

A plug-in named on the command line (``plugins=...``) loads. A plug-in named inside a file
(a preset, a preset of its ``base:`` chain, a run folder's ``config.yaml``, the config inside
a checkpoint, a sweep file) loads only with ``--trust-plugins``; without it the command stops
with one line naming the file, the plug-in and the flag, exit 2, nothing imported or written.
The payloads create a marker file when imported, then raise, so a test that lets one load
stops at once (one-line plug-in error) instead of training or evaluating.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

import train as cli
from configs.loader import ConfigError, dump_config, load_config, validate
from trainer.api import load_run_config
from trainer.checkpoint import FORMAT_VERSION

ROOT = Path(__file__).resolve().parent.parent
PRESET = ROOT / "configs" / "ncap_swim_ppo.yaml"
QUIET = ["trainer.progress=false", "trainer.tensorboard=false"]
FLAG = "--trust-plugins"


def payload(path: Path, marker: Path) -> Path:
    """A plug-in file that creates ``marker`` when imported (then fails, to stop the command)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('payload ran')\n")
    return path


def files_of(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def assert_refused(code: int, err: str, source: Path, plugin: str, marker: Path) -> None:
    assert not marker.exists(), "the plug-in was imported"
    assert code == 2, err
    line = one_line(err)
    assert str(source) in line and plugin in line and FLAG in line, line


def assert_loaded(code: int, err: str, marker: Path) -> None:
    assert marker.exists(), f"the plug-in was not imported: {err}"
    assert code == 2 and "RuntimeError: payload ran" in one_line(err), err


def crafted_checkpoint(path: Path, config: dict) -> None:
    """A checkpoint of the safe format (plain data) whose stored config is ``config``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format_version": FORMAT_VERSION, "step": 500, "config": config,
                "trainer": {"step": 500}, "agent": {}, "env": {}, "rng": {}}, path)


@pytest.fixture
def shared_run(tmp_path):
    """``(run folder, plug-in file, marker)``: a run folder as an attacker might share it, its
    ``config.yaml`` naming a plug-in file inside it."""
    run, marker = tmp_path / "runs" / "shared" / "seed0", tmp_path / "marker"
    plugin = payload(run / "evil.py", marker)
    data = yaml.safe_load(dump_config(load_config(PRESET, [*QUIET, f"run_dir={run}"])))
    data["plugins"] = [str(plugin)]
    (run / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    for name in ("step_0000000500.pt", "last.pt", "best.pt"):
        crafted_checkpoint(run / "checkpoints" / name, data)
    return run, plugin, marker


def command(name: str, run: Path, out: Path) -> list[str]:
    return {"evaluate": ["evaluate", str(run), "--episodes", "1"],
            "render": ["render", str(run), "--out", str(out / "video.mp4"), "--steps", "5"],
            "transfer": ["transfer", str(run), "--joints", "5", "--episodes", "1"],
            "activity": ["activity", str(run), "--out", str(out / "activity.png")],
            "represent": ["represent", str(run)],
            "resume": [str(run / "config.yaml"), f"run_dir={run}"]}[name]


@pytest.mark.parametrize("name", ["evaluate", "render", "transfer", "activity", "represent",
                                  "resume"])
def test_run_folder_config_plugin_is_refused_by_every_command(name, shared_run, tmp_path,
                                                              capsys):
    run, plugin, marker = shared_run
    before = files_of(tmp_path)
    code = cli.main(command(name, run, tmp_path / "out"))
    assert_refused(code, capsys.readouterr().err, run / "config.yaml", str(plugin), marker)
    assert files_of(tmp_path) == before, f"{name} wrote something"


@pytest.mark.parametrize("name", ["evaluate", "activity", "resume"])
def test_run_folder_config_plugin_loads_with_the_flag(name, shared_run, tmp_path, capsys):
    run, _, marker = shared_run
    code = cli.main([*command(name, run, tmp_path / "out"), FLAG])
    assert_loaded(code, capsys.readouterr().err, marker)


def test_resuming_into_a_folder_whose_config_names_a_plugin_imports_nothing(shared_run,
                                                                            capsys):
    """``train.py run_dir=<shared run>`` with a config naming no plug-in: the stored config is
    another config (refused as such); its plug-in is not imported, with or without the flag."""
    run, _, marker = shared_run
    for flag in ([], [FLAG]):
        code = cli.main([str(PRESET), *QUIET, f"run_dir={run}", *flag])
        err = capsys.readouterr().err
        assert (code, marker.exists()) == (2, False), err
        assert "different config" in one_line(err), err


@pytest.fixture
def poisoned_checkpoint(tmp_path):
    """``(run folder, marker)``: a clean ``config.yaml`` beside checkpoints whose stored config
    names a plug-in."""
    run, marker = tmp_path / "shared", tmp_path / "marker"
    plugin = payload(tmp_path / "elsewhere" / "evil.py", marker)
    cfg = load_config(PRESET, [*QUIET, f"run_dir={run}"])
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(cfg))
    for name in ("last.pt", "best.pt"):
        crafted_checkpoint(run / "checkpoints" / name,
                           {**cfg.model_dump(mode="json"), "plugins": [str(plugin)]})
    return run, plugin, marker


@pytest.mark.parametrize("argv, source", [
    (["evaluate", "{run}"], "{run}/checkpoints/best.pt"),
    (["evaluate", "{run}/checkpoints/best.pt"], "{run}/checkpoints/best.pt"),
    (["activity", "{run}/checkpoints/last.pt", "--out", "{tmp}/a.png"],
     "{run}/checkpoints/last.pt"),
])
def test_checkpoint_config_plugin_is_refused(argv, source, poisoned_checkpoint, tmp_path,
                                            capsys):
    run, plugin, marker = poisoned_checkpoint
    before = files_of(tmp_path)
    code = cli.main([a.format(run=run, tmp=tmp_path) for a in argv])
    assert_refused(code, capsys.readouterr().err, Path(source.format(run=run)), str(plugin),
                   marker)
    assert files_of(tmp_path) == before


def test_checkpoint_config_plugin_loads_with_the_flag(poisoned_checkpoint, capsys):
    run, _, marker = poisoned_checkpoint
    code = cli.main(["evaluate", str(run), "--episodes", "1", FLAG])
    assert_loaded(code, capsys.readouterr().err, marker)


def write_preset(path: Path, lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lines)
    return path


@pytest.mark.parametrize("chain", [False, True])
@pytest.mark.parametrize("flag", [False, True])
def test_preset_plugin_loads_only_with_the_flag(chain, flag, tmp_path, capsys):
    """A preset naming a plug-in beside it, or a preset whose ``base:`` is such a preset: the
    line names the preset that names the plug-in."""
    marker = tmp_path / "marker"
    payload(tmp_path / "shared" / "evil.py", marker)
    named_in = write_preset(tmp_path / "shared" / "preset.yaml",
                            f"base: {PRESET}\nplugins: [evil.py]\n")
    given = write_preset(tmp_path / "mine.yaml", "base: shared/preset.yaml\nseed: 3\n") \
        if chain else named_in
    before = files_of(tmp_path)
    code = cli.main(["evaluate", str(given), "--episodes", "1", *[FLAG] * flag])
    err = capsys.readouterr().err
    if flag:
        assert_loaded(code, err, marker)
    else:
        assert_refused(code, err, named_in, str(tmp_path / "shared" / "evil.py"), marker)
        assert files_of(tmp_path) == before


def test_training_a_preset_that_names_a_plugin_needs_the_flag(tmp_path, capsys):
    """The error says how to go on: the same command with the flag."""
    marker = tmp_path / "marker"
    payload(tmp_path / "evil.py", marker)
    preset = write_preset(tmp_path / "p.yaml", f"base: {PRESET}\nplugins: [evil.py]\n")
    code = cli.main([str(preset), *QUIET, f"run_dir={tmp_path / 'run'}"])
    assert_refused(code, capsys.readouterr().err, preset, "evil.py", marker)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag", [False, True])
def test_sweep_file_plugin_loads_only_with_the_flag(flag, tmp_path, capsys):
    marker = tmp_path / "marker"
    plugin = payload(tmp_path / "evil.py", marker)
    base = {**yaml.safe_load(PRESET.read_text()), "plugins": [str(plugin)]}
    sweep = write_preset(tmp_path / "sweep.yaml", yaml.safe_dump(
        {"base": base, "seeds": [0], "grid": {"no.such_key": [1, 2]},
         "run_dir": str(tmp_path / "sweep")}))
    before = files_of(tmp_path)
    code = cli.main(["sweep", str(sweep), *[FLAG] * flag])
    err = capsys.readouterr().err
    if flag:
        assert_loaded(code, err, marker)
    else:
        assert_refused(code, err, sweep, str(plugin), marker)
        assert files_of(tmp_path) == before


def test_plugin_named_on_the_command_line_loads_without_the_flag(tmp_path, capsys):
    marker = tmp_path / "marker"
    plugin = payload(tmp_path / "mine.py", marker)
    code = cli.main(["evaluate", str(PRESET), "--episodes", "1", f"plugins=[{plugin}]"])
    assert_loaded(code, capsys.readouterr().err, marker)


def test_command_line_plugins_replace_the_ones_a_file_names(shared_run, tmp_path, capsys):
    """``plugins=[]`` on the command line: the run folder's plug-in is neither loaded nor
    refused (it is no longer part of the config)."""
    run, _, marker = shared_run
    cfg, _ = load_run_config(run, ["plugins=[]"])
    assert cfg.plugins == [] and not marker.exists()


def test_python_api_refuses_file_plugins_unless_trusted(shared_run):
    run, plugin, marker = shared_run
    with pytest.raises(ConfigError, match="trust_plugins=True"):
        load_run_config(run)
    with pytest.raises(ConfigError, match="plug-in"):
        validate(yaml.safe_load((run / "config.yaml").read_text()))
    assert not marker.exists()
    with pytest.raises(ConfigError, match="RuntimeError: payload ran"):
        load_run_config(run, trust_plugins=True)
    assert marker.exists()


def test_module_plugins_do_not_resolve_from_the_working_folder(shared_run, tmp_path,
                                                               monkeypatch):
    """``runs.shared.seed0.evil`` is importable from the working folder (on ``sys.path`` as
    Python puts it for ``python train.py`` in the checkout, or ``-c``/``-m``): a module-name
    plug-in resolves from the interpreter's path without it, so even a trusted config does not
    import a file of a shared run folder by module name."""
    run, _, marker = shared_run
    data = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**data,
                                                     "plugins": ["runs.shared.seed0.evil"]}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="no module named 'runs.shared.seed0.evil'"):
        load_run_config(run, trust_plugins=True)
    assert not marker.exists() and "runs" not in sys.modules


def test_module_plugins_resolve_from_the_interpreters_path(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    payload(tmp_path / "site" / "h5_site_plugin_probe.py", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ConfigError, match="h5_site_plugin_probe: RuntimeError: payload ran"):
        load_config(PRESET, ["plugins=[h5_site_plugin_probe]"])
    assert marker.exists()


def test_sweep_trial_worker_loads_the_plugins_its_driver_passed(tmp_path):
    """The driver checked the plug-ins (command line or ``--trust-plugins``) before any trial
    started; the worker process, which has imported nothing yet, loads them."""
    from trainer.sweep.trial import run_trial

    marker = tmp_path / "marker"
    plugin = payload(tmp_path / "evil.py", marker)
    config = {**yaml.safe_load(dump_config(load_config(PRESET, QUIET))), "plugins": [str(plugin)]}
    with pytest.raises(ConfigError, match="RuntimeError: payload ran"):
        run_trial(config, str(tmp_path / "stop"))
    assert marker.exists()


def test_a_runs_folder_on_the_path_does_not_change_the_missing_plugin_message(shared_run,
                                                                              tmp_path,
                                                                              monkeypatch):
    """A checkout that has trained keeps its runs in ``runs/``, which Python sees as a namespace
    package ``runs`` wherever the checkout is on the path: the shared run's module name must
    still be reported as missing (one line naming it), and nothing of it imported."""
    run, _, marker = shared_run
    data = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**data,
                                                     "plugins": ["runs.shared.seed0.evil"]}))
    checkout = tmp_path / "checkout"
    (checkout / "runs" / "some_run").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(checkout))
    with pytest.raises(ConfigError, match="no module named 'runs.shared.seed0.evil'"):
        load_run_config(run, trust_plugins=True)
    assert not marker.exists() and "runs" not in sys.modules
