"""The documentation site (``docs/``, ``mkdocs.yml``) is checked like code.

* The generated reference pages are current (``docs/gen_reference.py --check``), and every config
  key, subcommand and subcommand option has an entry there, read from the schema and from each
  subcommand's own argument parser (not from the generator).
* Every page is in the site's navigation, and every navigation entry is a page.
* Every shell line ``python train.py ...`` in the pages and in README.md names a real
  subcommand, parses with that subcommand's own argument parser, and sets only config keys that
  exist (validated against the preset it names, through ``configs.loader``); nothing trains.
* Every ``python`` block of a page, and of README.md, runs (slow: the blocks of one page in order,
  as one script in a fresh process, on tiny run folders made here, with the substitutions in
  ``TINY`` that shrink episode counts and step budgets).
* The site builds offline with ``mkdocs build --strict`` (slow; skipped without mkdocs).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import importlib.util
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def gen_reference():
    spec = importlib.util.spec_from_file_location("docs_gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blocks(page: Path, languages: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(line number, text)`` of every fenced block of ``languages`` in ``page``."""
    text = page.read_text()
    return [(text.count("\n", 0, m.start()) + 2, m.group(2)) for m in FENCE.finditer(text)
            if m.group(1) in languages]


def described_keys() -> set[str]:
    from configs.loader import describe_keys

    return {key for key, _, _ in describe_keys()}


# -- generated references ---------------------------------------------------------------------

def test_generated_reference_pages_are_current():
    stale = gen_reference().stale()
    assert not stale, (f"stale generated docs: {[str(p.relative_to(ROOT)) for p in stale]}; "
                       "run python docs/gen_reference.py")


def test_every_config_key_has_a_reference_entry():
    page = (DOCS / "reference" / "config.md").read_text()
    listed = set(re.findall(r"^\| `([^`]+)` \|", page, re.M))
    missing = described_keys() - listed
    assert not missing, f"config keys without an entry in docs/reference/config.md: {sorted(missing)}"


class _Captured(Exception):
    def __init__(self, parser):
        super().__init__("parser captured")
        self.parser = parser


def subcommand_parser(module_name: str, monkeypatch):
    """The ``argparse`` parser a subcommand builds, caught as its ``main`` starts parsing."""
    from cli.errors import ArgumentParser

    def capture(self, *args, **kwargs):
        raise _Captured(self)

    with monkeypatch.context() as m:
        m.setattr(ArgumentParser, "parse_args", capture)
        m.setattr(ArgumentParser, "parse_intermixed_args", capture)
        with pytest.raises(_Captured) as caught:
            importlib.import_module(module_name).main([])
    return caught.value.parser


def test_every_subcommand_and_option_has_a_reference_entry(monkeypatch):
    import train

    page = (DOCS / "reference" / "commands.md").read_text()
    sections = dict(re.findall(r"^## (\S+)\n(.*?)(?=^## |\Z)", page, re.S | re.M))
    modules = {m for m, _ in train.SUBCOMMANDS.values()}
    unwired = {f"cli.{p.stem}" for p in (ROOT / "cli").glob("*_cmd.py")} - modules
    assert not unwired, f"cli modules that train.py does not dispatch to: {sorted(unwired)}"
    for name, (module_name, _) in train.SUBCOMMANDS.items():
        assert name in sections, f"subcommand '{name}' has no section in docs/reference/commands.md"
        if name == "train":
            continue
        parser = subcommand_parser(module_name, monkeypatch)
        options = {o for a in parser._actions for o in a.option_strings}
        missing = {o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])",
                                                       sections[name])}
        assert not missing, f"options of '{name}' missing from its reference section: {sorted(missing)}"


# -- navigation --------------------------------------------------------------------------------

def nav_entries(nav) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += nav_entries(value) if isinstance(value, list) else [value]
    return out


def test_every_page_is_in_the_navigation_once_and_every_entry_exists():
    nav = nav_entries(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    pages = {str(p.relative_to(DOCS)) for p in PAGES}
    assert not pages - set(nav), f"pages missing from mkdocs.yml nav: {sorted(pages - set(nav))}"
    served = {"BENCHMARKS.md"}  # from the repository root (docs/hooks.py)
    ghosts = set(nav) - pages - served
    assert not ghosts, f"mkdocs.yml nav names pages that do not exist: {sorted(ghosts)}"
    twice = sorted({entry for entry in nav if nav.count(entry) > 1})
    assert not twice, f"mkdocs.yml nav lists these pages more than once: {twice}"


# -- shell examples ----------------------------------------------------------------------------

def shell_commands(page: Path) -> list[tuple[int, list[str]]]:
    """``(line, argv after 'python train.py')`` of every such line (continuations joined)."""
    out = []
    for line_no, text in blocks(page, ("bash", "shell", "sh")):
        joined = re.sub(r"\\\n\s*", " ", text)
        for i, line in enumerate(joined.splitlines()):
            words = shlex.split(line, comments=True)
            while words and "=" in words[0] and not words[0].startswith("-"):
                words = words[1:]  # VAR=value prefixes
            if words[:2] in (["python", "train.py"], ["python3", "train.py"]):
                out.append((line_no + i, words[2:]))
    return out


def check_overrides(target: str | None, overrides: list[str]) -> str:
    """Validate ``key=value`` overrides: against the preset (or the preset a
    ``runs/<name>/seed<k>`` folder was trained from) through ``configs.loader``, else key by key
    against the schema. Returns a problem, or ``""``."""
    from configs.loader import ALIASES, ConfigError, load_config

    preset = target
    if target is not None:
        m = re.fullmatch(r"runs/([\w.-]+)/seed\d+(?:/checkpoints/\w+\.pt)?", target)
        if m:
            preset = f"configs/{m.group(1)}.yaml"
    if (preset is None or (ROOT / preset).is_file()) and not any(o.startswith("plugins=")
                                                                 for o in overrides):
        try:
            load_config(None if preset is None else str(ROOT / preset), overrides)
        except ConfigError as e:
            return f"{preset}: {e}"
        return ""
    keys = described_keys()
    for override in overrides:
        key = override.split("=", 1)[0]
        key = ALIASES.get(key, key)
        if key not in keys and not any(k.startswith(key + ".") for k in keys):
            return f"unknown config key '{key}'"
    return ""


def check_command(argv: list[str], monkeypatch) -> str:
    """A problem with ``python train.py ARGV`` as a documented example, or ``""``."""
    import train
    from cli.errors import ArgumentParser, UsageError
    from cli.train_cmd import split_args

    if not argv or argv[0] in ("-h", "--help"):
        return ""
    if argv[0] not in train.SUBCOMMANDS and train.subcommand_guess(argv[0]):
        return f"unknown subcommand '{argv[0]}'"
    name = argv[0] if argv[0] in train.SUBCOMMANDS else "train"
    rest = argv[1:] if argv[0] in train.SUBCOMMANDS else argv
    if name == "train":
        try:
            config, overrides = split_args([a for a in rest if not a.startswith("--trust-")])
        except Exception as e:  # noqa: BLE001 - the checker reports any refusal
            return str(e)
        return check_overrides(config, overrides)

    parsed = {}

    def recording(original):
        def parse(self, args=None, namespace=None):
            parsed["ns"] = original(self, args, namespace)
            raise _Captured(self)
        return parse

    with monkeypatch.context() as m:
        for method in ("parse_args", "parse_intermixed_args"):
            m.setattr(ArgumentParser, method, recording(getattr(ArgumentParser, method)))
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                importlib.import_module(train.SUBCOMMANDS[name][0]).main(rest)
        except _Captured:
            pass
        except (UsageError, SystemExit) as e:
            return f"{name}: {e}"
    if "ns" not in parsed:
        return f"{name}: {stderr.getvalue().strip() or 'the arguments did not parse'}"
    ns = vars(parsed["ns"])
    if name == "sweep":
        words = ns["args"]
        target = next((w for w in words if "=" not in w), None)
        problem = check_overrides(target, [w for w in words if "=" in w])
        grid = [g.split("=", 1)[0] + "=0" for g in ns["grid"]]
        return problem or check_overrides(None if target is None else "no such preset", grid)
    if name == "compare" and not (ROOT / ns["spec"]).is_file():
        return f"compare: no experiment spec {ns['spec']}"
    if "overrides" in ns:
        return check_overrides(ns.get("target"), ns["overrides"])
    return ""


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_shell_examples_name_real_subcommands_and_keys(monkeypatch, in_root):
    problems, count = [], 0
    for page in [*PAGES, ROOT / "README.md"]:
        for line, argv in shell_commands(page):
            count += 1
            problem = check_command(argv, monkeypatch)
            if problem:
                problems.append(f"{page.relative_to(ROOT)}:{line}: python train.py "
                                f"{' '.join(argv)}\n    -> {problem}")
    assert count > 50, f"only {count} shell examples found: is the parser of the pages broken?"
    assert not problems, "shell examples that do not parse:\n" + "\n".join(problems)


@pytest.mark.parametrize("argv, words", [
    (["evaluat", "runs/x/seed0"], "unknown subcommand"),
    (["evaluate", "runs/x/seed0", "--epsiodes", "3"], "--epsiodes"),
    (["configs/ncap_swim_ppo.yaml", "agent.actor_lrr=1"], "agent.actor_lrr"),
    (["evaluate", "runs/cheetah/seed0", "env.bdy.mass=2"], "env.bdy.mass"),
    (["sweep", "configs/ncap_swim_ppo.yaml", "--grid", "agent.actor_lrr=1,2"], "agent.actor_lrr"),
    (["compare", "configs/experiments/no_such_spec.yaml"], "no_such_spec"),
])
def test_shell_example_checker_refuses_what_the_cli_refuses(argv, words, monkeypatch, in_root):
    problem = check_command(argv, monkeypatch)
    assert words in problem, f"checker passed python train.py {' '.join(argv)}: {problem!r}"


def test_shell_example_checker_passes_a_real_command(monkeypatch, in_root):
    argv = ["transfer", "runs/ncap_swim_ppo/seed0", "--joints", "2", "5", "--episodes", "2",
            "env.n_joints=7"]
    assert check_command(argv, monkeypatch) == ""


# -- python examples ---------------------------------------------------------------------------

# Shrinks the documented examples to seconds: (text in a page, what the test runs instead).
TINY = [
    ("model.learn(100_000)", "model.learn(64)"),
    ("PPO(NCAPPolicy, env, ", "PPO(NCAPPolicy, env, n_steps=64, batch_size=64, n_epochs=1, "),
    ('"steps=20000"', '"steps=64"'),
    ("episodes=5", "episodes=1"),
    ("episodes=3", "episodes=1"),
    ("length=[0.8, 1, 1.2]", "length=[0.8]"),
    ("mass=[0.5, 1, 2]", "mass=[1, 2]"),
    ("steps=300", "steps=20"),
    ('"run_dir=/tmp/r1"', '"run_dir=r1"'),
]
QUIET = ["trainer.progress=false", "trainer.tensorboard=false", "trainer.eval_episodes=1"]
EXAMPLE_RUNS = {  # run folders the examples name -> (preset, overrides of a tiny run)
    "runs/ncap_swim_ppo/seed0": ("configs/ncap_swim_ppo.yaml",
                                 ["steps=256", "agent.segment=256", "agent.iterations=2"]),
    "runs/mlp_swim_ppo/seed0": ("configs/mlp_swim_ppo.yaml",
                                ["steps=256", "agent.segment=256", "agent.iterations=2"]),
    "runs/drqv2_tiny/seed0": ("configs/drqv2_tiny.yaml",
                              ["steps=40", "agent.explore_steps=20", "agent.seed_frames=40",
                               "trainer.eval_at_start=false", "trainer.eval_every=40",
                               "trainer.checkpoint_every=40"]),
    "runs/cheetah/seed0": ("configs/offpolicy_cheetah_run.yaml",
                           ["steps=40", "agent.explore_steps=20", "agent.seed_frames=20",
                            "agent.batch_size=16", "trainer.eval_at_start=false",
                            "trainer.eval_every=40", "trainer.checkpoint_every=40"]),
}


def python_pages() -> list[Path]:
    return [p for p in [*PAGES, ROOT / "README.md"] if blocks(p, ("python",))]


@pytest.fixture(scope="module")
def example_folder(tmp_path_factory):
    """A working folder with ``configs/`` and the tiny run folders the examples name."""
    from configs.loader import load_config
    from trainer.api import train

    work = tmp_path_factory.mktemp("examples")
    (work / "configs").symlink_to(ROOT / "configs")
    for run, (preset, overrides) in EXAMPLE_RUNS.items():
        cfg = load_config(str(ROOT / preset), [*overrides, *QUIET, f"run_dir={work / run}"])
        train(cfg)
    return work


@pytest.mark.slow
@pytest.mark.parametrize("page", python_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(page, example_folder):
    code = "\n\n".join(text for _, text in blocks(page, ("python",)))
    for old, new in TINY:
        code = code.replace(old, new)
    script = example_folder / f"{page.stem}_examples.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=example_folder, text=True,
                            capture_output=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(ROOT),
                                 "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, (f"python examples of {page.relative_to(ROOT)} failed:\n"
                                    f"{result.stderr[-3000:]}")


# -- the site ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_site_builds_offline_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed")
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "-d", str(site)], cwd=ROOT, text=True, capture_output=True,
                            timeout=600, env={**os.environ,
                                              "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr[-4000:]}"
    config_page = (site / "reference" / "config" / "index.html").read_text()
    assert "agent.actor.sigma" in config_page
    api_page = (site / "reference" / "api" / "index.html").read_text()
    assert "load_policy" in api_page, "mkdocstrings rendered no API"
    assert (site / "BENCHMARKS" / "index.html").is_file()
