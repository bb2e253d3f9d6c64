"""Hostile files that hang, eat memory or nest too deep: each is refused with one line, exit 2.

The bombs are built here, cheaply: a zip record of zeros deflated (1 GiB of zeros is about
1 MB on disk), a pickle of 60 levels of shared references (2^60 paths through 61 lists), a
YAML alias bomb (10^9 leaves in ten lines), nestings deeper than any real file. Memory is the
command's own peak resident size: ``VmHWM`` of the child process that runs it, read by the child
itself as it exits (``ru_maxrss`` would not do: Linux keeps it across ``fork`` and ``exec``, so a
child of a large test process reports its parent's size).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import train as cli
from configs.loader import ConfigError, dump_config, load_config, read_yaml
from trainer.checkpoint import FORMAT_VERSION, CheckpointError, CheckpointManager, load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
STATE_PRESET = ROOT / "configs" / "offpolicy_cartpole_swingup.yaml"
PPO_PRESET = ROOT / "configs" / "ncap_swim_ppo.yaml"
QUIET = ["trainer.progress=false", "trainer.tensorboard=false"]
BOMB = 768 << 20  # bytes a bomb inflates to: past the default limit (512 MiB), cheap to build
PEAK_LIMIT_MB = 500


@contextmanager
def deadline(seconds: float):
    """Fail (``TimeoutError``) if the block runs longer than ``seconds`` (a hang becomes a
    failure instead of a stuck test run)."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# runs train.py as __main__ and, as the process exits, writes its peak resident size (VmHWM, kB)
PEAK_WRAPPER = """
import atexit, runpy, sys
train, out, sys.argv = sys.argv[2], sys.argv[1], [sys.argv[2], *sys.argv[3:]]
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(out, "w").write(line.split()[1])
atexit.register(peak)
runpy.run_path(train, run_name="__main__")
"""


def run_cli(args: list[str], tmp_path: Path, timeout: float = 120) -> SimpleNamespace:
    """``python train.py ARGS`` in a child process: exit code, stderr, seconds and the child's
    peak resident memory in MB (its ``VmHWM``, module docstring); killed past ``timeout``
    (code None, and the peak is ``ru_maxrss``'s upper bound)."""
    err_path = tmp_path / f"stderr_{time.monotonic_ns()}"
    peak_path = tmp_path / f"peak_{time.monotonic_ns()}"
    env = {**os.environ, "MUJOCO_GL": "egl", "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    with err_path.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", PEAK_WRAPPER, str(peak_path),
                                 str(ROOT / "train.py"), *args], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
        code = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                _, _, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = code if code is not None else -9  # reaped here, not by Popen
    peak_kb = int(peak_path.read_text()) if peak_path.exists() else usage.ru_maxrss
    return SimpleNamespace(code=code, err=err_path.read_text(), seconds=time.monotonic() - start,
                           peak_mb=peak_kb / 1024)


def one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("error: ")


def tiny_state_config(run_dir: Path):
    return load_config(STATE_PRESET, ["agent.hidden_dim=32", "agent.feature_dim=16",
                                      "agent.replay_capacity=5000", *QUIET, f"run_dir={run_dir}"])


def checkpoint_state(config: dict, **parts) -> dict:
    return {"format_version": FORMAT_VERSION, "step": 0, "config": config, "agent": {},
            "env": {}, "rng": {}, "trainer": {}, **parts}


def write_deflated_zeros(archive: zipfile.ZipFile, name: str, head: bytes, nbytes: int) -> None:
    """A record ``name`` of ``head`` then ``nbytes`` zeros, deflated at the archive's level
    (zeros shrink ~200x at level 1, the fastest)."""
    assert archive.compression == zipfile.ZIP_DEFLATED
    chunk = bytes(min(nbytes, 16 << 20))
    with archive.open(name, "w", force_zip64=True) as f:
        f.write(head)
        for _ in range(nbytes // len(chunk)):
            f.write(chunk)
    assert archive.getinfo(name).file_size >= nbytes


def checkpoint_bomb(path: Path, config: dict, nbytes: int) -> None:
    """A checkpoint whose ``data.pkl`` record (a valid pickle, then zeros the unpickler never
    reaches) inflates to ``nbytes``; the rest is torch's own layout."""
    buf = io.BytesIO()
    torch.save(checkpoint_state(config), buf)
    source = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                write_deflated_zeros(out, info.filename, data, nbytes)
            else:
                out.writestr(info, data)


def probe_bomb(path: Path, nbytes: int) -> None:
    """A ``probe.npz`` whose ``obs`` array inflates to ``nbytes`` of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for name, value in {"meta": np.array('{"episodes": 10, "stride": 5, "seed": 0}'),
                            "qpos": np.zeros((2, 2)), "qvel": np.zeros((2, 2)),
                            "episode": np.zeros(2, int)}.items():
            buf = io.BytesIO()
            np.save(buf, value)
            out.writestr(f"{name}.npy", buf.getvalue())
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, {"descr": "|u1", "fortran_order": False,
                                                    "shape": (nbytes,)})
        write_deflated_zeros(out, "obs.npy", head.getvalue(), nbytes)


def pickle_with(path: Path, config: dict, agent_pickle: bytes) -> None:
    """A checkpoint whose ``agent`` value is the raw pickle ``agent_pickle`` (for structures
    ``torch.save``'s recursive pickler cannot write)."""
    placeholder = "AGENT_PLACEHOLDER"
    buf = io.BytesIO()
    torch.save(checkpoint_state(config, agent=placeholder), buf)
    source = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("/data.pkl"):
                text = placeholder.encode()
                old = b"X" + len(text).to_bytes(4, "little") + text
                assert data.count(old) == 1
                data = data.replace(old, agent_pickle)
            out.writestr(info, data)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    return tiny_state_config(tmp_path_factory.mktemp("cfg") / "run").model_dump(mode="json")


# --- structures that hang or recurse --------------------------------------------------------
def test_shared_references_in_a_checkpoint_are_refused_in_seconds(tmp_path, config, capsys):
    """60 levels of ``x = [x, x]``: 61 lists, 2^60 paths; a walk per path never ends."""
    x = [0]
    for _ in range(60):
        x = [x, x]
    path = tmp_path / "shared.pt"
    torch.save(checkpoint_state(config, agent={"x": x}), path)
    with deadline(5):
        with pytest.raises(CheckpointError, match=f"checkpoint {path} holds more than"):
            load_checkpoint(path)
        code = cli.main(["evaluate", str(path), "--episodes", "1"])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and str(path) in err, err


@pytest.mark.parametrize("shape", ["contains itself", "100000 levels"])
def test_a_checkpoint_nested_too_deep_is_refused_with_one_line(shape, tmp_path, config, capsys):
    path = tmp_path / "deep.pt"
    if shape == "contains itself":
        loop: list = []
        loop.append(loop)
        torch.save(checkpoint_state(config, agent={"x": loop}), path)
    else:  # EMPTY_LIST x (n + 1), then APPEND x n: [[[...]]] n deep, built without recursion
        n = 100_000
        pickle_with(path, config, b"]" * (n + 1) + b"a" * n)
    with deadline(20):
        code = cli.main(["evaluate", str(path), "--episodes", "1"])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and f"checkpoint {path} holds" in err, err
    assert ("contains itself" if shape == "contains itself" else "nested deeper") in err, err


# --- zip bombs ------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_checkpoint_zip_bomb_is_refused_with_bounded_memory(tmp_path, config):
    path = tmp_path / "bomb.pt"
    checkpoint_bomb(path, config, BOMB)
    assert path.stat().st_size < 8 << 20, "the bomb should be small on disk"
    out = run_cli(["evaluate", str(path), "--episodes", "1"], tmp_path)
    assert out.code == 2 and one_line(out.err) and str(path) in out.err, out.err
    assert out.peak_mb < PEAK_LIMIT_MB, f"evaluate peaked at {out.peak_mb:.0f} MB"


@pytest.mark.slow
def test_a_probe_zip_bomb_is_refused_by_represent_with_bounded_memory(tmp_path, config):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(tiny_state_config(run)))
    torch.save(checkpoint_state(config), run / "checkpoints" / "step_0000000000.pt")
    probe_bomb(run / "probe.npz", BOMB)
    out = run_cli(["represent", str(run)], tmp_path)
    assert out.code == 2 and one_line(out.err) and str(run / "probe.npz") in out.err, out.err
    assert out.peak_mb < PEAK_LIMIT_MB, f"represent peaked at {out.peak_mb:.0f} MB"
    assert not (run / "representation.csv").exists()


def test_a_zip_bomb_as_encoder_source_is_refused_before_inflating(tmp_path, config):
    from agents.offpolicy.encoder_init import load_encoder

    path = tmp_path / "bomb.pt"
    checkpoint_bomb(path, config, BOMB)
    cfg = SimpleNamespace(run=str(path), checkpoint="last", projection=False, freeze=True)
    with deadline(10), pytest.raises(ConfigError, match=f"agent.encoder_init.run: .*{path}"):
        load_encoder(cfg, (9, 84, 84), torch.nn.Linear(1, 1), torch.nn.Linear(1, 1))


def test_the_inflation_limit_is_a_documented_setting(tmp_path, config, monkeypatch):
    """A 4 MiB deflated record: refused under a 1 MiB limit, loaded under an 8 MiB one."""
    path = tmp_path / "small_bomb.pt"
    checkpoint_bomb(path, config, 4 << 20)
    monkeypatch.setenv("BIOEMBODIED_MAX_INFLATE_MIB", "1")
    with pytest.raises(CheckpointError, match="BIOEMBODIED_MAX_INFLATE_MIB"):
        load_checkpoint(path)
    monkeypatch.setenv("BIOEMBODIED_MAX_INFLATE_MIB", "8")
    assert load_checkpoint(path)["step"] == 0


# --- YAML -----------------------------------------------------------------------------------
def alias_bomb(path: Path) -> None:
    """``steps`` holds 10^9 leaves: ten anchors, each a list of ten aliases of the one before."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines += ["steps: *a8"]
    path.write_text("\n".join(lines) + "\n")


def test_a_yaml_alias_bomb_is_refused_while_reading(tmp_path):
    path = tmp_path / "bomb.yaml"
    alias_bomb(path)
    with deadline(5), pytest.raises(ConfigError, match=f"{path}: .*values"):
        read_yaml(path)


@pytest.mark.slow
def test_a_yaml_alias_bomb_preset_is_refused_fast_with_bounded_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    alias_bomb(path)
    out = run_cli([str(path)], tmp_path, timeout=60)
    assert out.code == 2 and one_line(out.err) and str(path) in out.err, out.err
    assert out.seconds < 45 and out.peak_mb < PEAK_LIMIT_MB, (out.seconds, out.peak_mb)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_plot_of_a_run_folder_with_an_alias_bomb_config_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    alias_bomb(run / "config.yaml")
    (run / "eval.csv").write_text("step,frames,return_mean\n100,100,1.0\n")
    out = run_cli(["plot", str(run), "--out", str(tmp_path / "c.png")], tmp_path, timeout=60)
    assert out.code == 2 and one_line(out.err) and str(run / "config.yaml") in out.err, out.err
    assert out.peak_mb < PEAK_LIMIT_MB, f"plot peaked at {out.peak_mb:.0f} MB"
    assert not (tmp_path / "c.png").exists()


def test_an_invalid_value_is_echoed_in_a_short_line(tmp_path, capsys):
    """The error line shows a few items of a 10,000-item list, not all of them."""
    path = tmp_path / "long.yaml"
    path.write_text("steps: [" + ", ".join(["1"] * 10_000) + "]\n")
    code = cli.main([str(path)])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and "steps" in err and len(err) < 300, err[:300]


def test_a_preset_nested_100000_levels_deep_is_refused_with_one_line(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("steps: " + "[" * 100_000 + "]" * 100_000 + "\n")
    code = cli.main([str(path)])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and str(path) in err, err
    assert "RecursionError" not in err and not (tmp_path / "runs").exists(), err


def test_a_3000_file_base_chain_is_refused_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(3000):
        (tmp_path / f"p{i}.yaml").write_text(f"base: {STATE_PRESET}\n" if i == 2999 else
                                             f"base: p{i + 1}.yaml\nseed: {i % 7}\n")
    code = cli.main([str(tmp_path / "p0.yaml"), "steps=10"])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err) and "base:" in err, err
    assert "RecursionError" not in err and not (tmp_path / "runs").exists(), err


# --- hostile checkpoints: one line naming the file, exit 2 ----------------------------------
@pytest.mark.parametrize("change, what", [
    ({"config": None}, "it has no 'config'"), ({"agent": [1, 2]}, "its 'agent' is a list"),
    ({"step": "5"}, "its 'step' is a str"), ({"step": True}, "its 'step' is a bool")])
def test_a_checkpoint_without_the_keys_every_reader_uses_is_refused_on_load(
        change, what, tmp_path, config):
    state = {k: v for k, v in {**checkpoint_state(config), **change}.items() if v is not None}
    path = tmp_path / "c.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is not a checkpoint of this "
                                              f"toolkit \\({what}"):
        load_checkpoint(path)


def ppo_run_folder(root: Path) -> Path:
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(load_config(PPO_PRESET, [*QUIET,
                                                                          f"run_dir={run}"])))
    return run


@pytest.mark.parametrize("case", ["agent is a list", "no config", "symlink outside",
                                  "truncated", "another agent"])
def test_a_hostile_checkpoint_is_one_line_naming_the_file(case, tmp_path, config, capsys):
    target = tmp_path / "x.pt"
    named = target
    if case == "agent is a list":
        torch.save(checkpoint_state(config, agent=[1, 2]), target)
    elif case == "no config":
        state = checkpoint_state(config)
        del state["config"]
        torch.save(state, target)
    elif case == "symlink outside":  # a shared run folder pointing at a file of the victim's
        victim = tmp_path / "shadow"
        victim.write_text("root:$6$salt$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
        target = ppo_run_folder(tmp_path)
        named = target / "checkpoints" / "last.pt"
        named.symlink_to(victim)
    elif case == "truncated":
        torch.save(checkpoint_state(config, agent={"w": torch.zeros(40_000)}), target)
        target.write_bytes(target.read_bytes()[:50_000])
    else:  # the state agent's weights in an NCAP PPO run folder
        from trainer.api import build

        _, agent, _ = build(tiny_state_config(tmp_path / "unused"))
        target = ppo_run_folder(tmp_path)
        named = target / "checkpoints" / "last.pt"
        state = checkpoint_state(config, agent=agent.state_dict(include_replay=False))
        CheckpointManager(target / "checkpoints", keep=1).save(
            {k: v for k, v in state.items() if k != "format_version"}, 0)
    code = cli.main(["evaluate", str(target), "--episodes", "1"])
    err = capsys.readouterr().err
    assert code == 2 and one_line(err), err
    assert f"checkpoint {named}" in err, err
