"""Every ```python block of README.md runs as written (issue 34).

Each block runs in a fresh working folder that holds a link to ``configs/`` and the tiny run
folders the block names (``runs/ncap_swim_ppo/seed0`` ...), trained here first. Only values that
would make a test train for minutes are rewritten (``REWRITES``: steps, episodes, the fixed
``/tmp/r1``); everything else, paths given as strings included, is the README's text. A new
block runs as written; if it needs a run folder, add it to ``NEEDS``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import TINY_PPO

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)

# run folder -> (preset, overrides) of the tiny run a block reads
RUNS = {
    "runs/ncap_swim_ppo/seed0": (None, [*TINY_PPO, "steps=512"]),
    "runs/mlp_swim_ppo/seed0": ("configs/mlp_swim_ppo.yaml", [*TINY_PPO, "steps=512"]),
    "runs/cheetah/seed0": ("configs/mlp_swim_ppo.yaml",
                           [*TINY_PPO, "steps=512", "env.id=dmc:cheetah-run"]),
    "runs/drqv2_tiny/seed0": ("configs/drqv2_tiny.yaml",
                              ["steps=20", "trainer.eval_episodes=1", "trainer.progress=false",
                               "trainer.tensorboard=false"]),
}
# text of the README -> what the test runs instead, only where the README's value trains for
# minutes (or writes outside the test's folder)
REWRITES = {
    '"steps=20000"': '"steps=600"',
    '"run_dir=/tmp/r1"': '"run_dir=r1"',
    "episodes=5, seed=None": "episodes=1, seed=None",
    "model.learn(100_000)": "model.learn(64)",
}
# a block that continues another (``agent, env from load_policy``) runs after it
CONTINUES = {"activity_figure(rollout": "load_policy(\"runs/ncap_swim_ppo/seed0\""}


def needs(block: str) -> list[str]:
    return [run for run in RUNS if f'"{run}"' in block or f'"{run.rsplit("/", 1)[0]}"' in block]


def source(block: str) -> str:
    for old, new in REWRITES.items():
        block = block.replace(old, new)
    return block


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A folder of the tiny run folders the blocks read, trained once."""
    from configs.loader import load_config
    from trainer.api import train

    root = tmp_path_factory.mktemp("readme_runs")
    for run, (preset, overrides) in RUNS.items():
        train(load_config(preset and ROOT / preset, [*overrides, f"run_dir={root / run}"]))
    return root


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 7, "fewer ```python blocks than the README had when this was written"
    for old in REWRITES:  # a rewrite whose text left the README would silently test nothing
        assert any(old in b for b in BLOCKS), f"README no longer contains {old}"


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[b.strip().splitlines()[-1][:40] for b in BLOCKS])
def test_a_readme_python_example_runs_as_written(index, runs, tmp_path, monkeypatch):
    if "stable_baselines3" in BLOCKS[index]:
        pytest.importorskip("stable_baselines3")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    block = BLOCKS[index]
    before = next((BLOCKS.index(b) for key, first in CONTINUES.items() if key in block
                   for b in BLOCKS if first in b), None)
    chain = ([BLOCKS[before]] if before is not None else []) + [block]
    for name in {r.rsplit("/", 1)[0] for b in chain for r in needs(b)}:  # runs/<name>
        (tmp_path / "runs").mkdir(exist_ok=True)
        (tmp_path / name).symlink_to(runs / name)
    namespace: dict = {"__name__": "__readme__"}
    for b in chain:
        exec(compile(source(b), f"README.md python block {BLOCKS.index(b)}", "exec"), namespace)
