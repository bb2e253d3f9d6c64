"""Components by name (``configs/registry.py``): every preset loads and ``--help`` runs without
torch, the user-facing errors sit below everything, and registration refuses clashes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from configs import registry
from configs.base import StrictModel

ROOT = Path(__file__).resolve().parent.parent

NO_TORCH = """
import sys
sys.modules["torch"] = None          # any import of torch now fails
from pathlib import Path
from configs.loader import load_config
presets = [p for p in sorted(Path("configs").rglob("*.yaml"))
           if not {"sweeps", "experiments"} & set(p.parts)]
for p in presets:
    load_config(p)
print("loaded", len(presets))
sys.argv = ["train.py", "--help"]
import runpy
try:
    runpy.run_path("train.py", run_name="__main__")
except SystemExit as e:
    assert not e.code, e.code
assert sys.modules["torch"] is None
"""


@pytest.mark.slow
def test_every_preset_loads_and_help_runs_without_torch():
    result = subprocess.run([sys.executable, "-c", NO_TORCH], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    count = int(re.search(r"loaded (\d+)", result.stdout).group(1))
    assert count == len([p for p in (ROOT / "configs").rglob("*.yaml")
                         if not {"sweeps", "experiments"} & set(p.parts)]) > 40
    assert "agent.rr_schedule.low" in result.stdout, "--help lists the registered sections"


def test_config_error_comes_from_the_module_without_dependencies():
    import configs.errors
    import configs.loader
    import envs.factory
    import trainer.checkpoint

    assert configs.loader.ConfigError is configs.errors.ConfigError
    assert envs.factory.UnknownEnvError is configs.errors.UnknownEnvError
    assert trainer.checkpoint.CheckpointError is configs.errors.CheckpointError
    source = (ROOT / "configs" / "errors.py").read_text()
    assert not re.search(r"^\s*(import|from) (?!__future__|reprlib$)", source, re.M), \
        "imports nothing but the standard library's reprlib"
    for folder in ("agents", "envs", "circuits"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "configs.loader" not in path.read_text(), f"{path} imports configs.loader"


def test_factories_have_no_branch_on_a_component_name():
    """The factories look names up: no ``cfg.type ==`` / ``name ==`` branches left."""
    for path, pattern in [("agents/plasticity/schedules.py", r"cfg\.type\s*=="),
                          ("agents/auxiliary/objectives.py", r"cfg\.type\s*=="),
                          ("agents/__init__.py", r"name\s*(==|in) "),
                          ("agents/policies/actors.py", r"actor_cfg\.type\s*=="),
                          ("agents/es/agent.py", r"actor\.type\s*==")]:
        assert not re.search(pattern, (ROOT / path).read_text()), path
    schema = (ROOT / "configs" / "schema.py").read_text()
    assert "Union[" not in schema, "the schema keeps no hand-written union"


class _Clash(StrictModel):
    type: str = "fixed"


class _Mislabelled(StrictModel):
    type: str = "something_else"


def test_register_refuses_a_taken_name_and_a_mislabelled_config():
    import configs.schema  # noqa: F401  (the built-ins are registered)

    with pytest.raises(ValueError, match="registered already"):
        registry.register("rr_schedule", "fixed", _Clash, "tests:Clash")
    with pytest.raises(ValueError, match="does not default to 'not_its_name'"):
        registry.register("rr_schedule", "not_its_name", _Mislabelled, "tests:X")
    with pytest.raises(ValueError, match="must be 'module:attr'"):
        registry.register("rr_schedule", "something_else", _Mislabelled, "no_colon")
    assert [c.name for c in registry.components("rr_schedule")][:2] == ["fixed", "adaptive"]
    with pytest.raises(ValueError, match=r"unknown rr_schedule 'nope' \(registered: fixed, "
                                         r"adaptive"):
        registry.get("rr_schedule", "nope")


def test_built_in_names_keep_their_order_in_the_schema():
    """The order of the tags is that of the messages and --help before the registry."""
    import configs.schema  # noqa: F401

    assert [c.name for c in registry.components("agent")] == ["ppo", "offpolicy", "drqv2", "es"]
    assert [c.name for c in registry.components("aux_loss")] == [
        "one_step", "rollout", "horizon_faithful", "horizon_stabilised", "contrastive",
        "reward", "negatives"]
    assert [c.name for c in registry.components("ppo.actor")] == ["ncap", "mlp", "ncap_plus",
                                                             "ncap_quadruped"]
