"""The layout of ``agents/`` (issue 35): packages that name the design, arrows that point one way.

The import graph is read from the source with ``ast`` (every ``import`` statement at any depth:
module level, inside functions, under ``TYPE_CHECKING``), independently of what Python happens to
have imported; importing ``a.b.c`` also runs the ``__init__`` of ``a.b``, so that is an arrow too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ROOT / "agents"
LEARNERS = ("offpolicy", "ppo", "es")
# what each part of agents/ may import of agents/ (the design; the root package and the two
# modules beside the packages are parts of their own)
ALLOWED = {
    "common": set(),
    "protocols": {"common", "auxiliary"},        # names for annotations (TYPE_CHECKING) only
    "protocol_tables": {"protocols"},
    "policies": {"common"},
    "auxiliary": {"common"},
    "plasticity": {"common", "protocols"},
    "offpolicy": {"common", "policies", "plasticity", "auxiliary"},
    "ppo": {"common", "policies", "plasticity"},
    "es": {"common", "policies"},
    "(root)": {"common", "protocols"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(AGENTS.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The modules of ``agents`` that importing ``name`` runs directly (targets and the packages
    above them, except the packages above ``name`` itself, which run before it)."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    named = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (".".join(package[:len(package) - node.level + 1] + [node.module or ""])
                    .rstrip(".") if node.level else node.module)
            named.add(base)
            named.update(f"{base}.{a.name}" for a in node.names)   # a submodule by name
    out = set()
    for target in named:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        parts = target.split(".") if target else []
        for i in range(1, len(parts) + 1):
            above = ".".join(parts[:i])
            if above in MODULES and above != name and not name.startswith(above + "."):
                out.add(above)
    return out


GRAPH = {name: imports_of(name) for name in MODULES}


def part(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_planted_circle_and_the_graph_reader_sees_hidden_imports():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    # the reader counts imports under TYPE_CHECKING and inside functions, and package inits
    assert "agents.auxiliary.base" in GRAPH["agents.protocols"]          # TYPE_CHECKING
    assert "agents.common.networks" in GRAPH["agents.plasticity.injection"]   # in a function
    assert "agents.auxiliary" in GRAPH["agents.protocols"]               # the package's init


def test_agents_has_no_import_circle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle in agents/: " + " -> ".join(cycle)


def test_packages_import_only_what_the_design_allows_so_their_graph_has_no_circle():
    arrows = {(part(a), part(b)) for a, targets in GRAPH.items() for b in targets
              if part(a) != part(b)}
    assert set(ALLOWED) == {part(name) for name in MODULES}, "a part of agents/ is not in ALLOWED"
    wrong = sorted(f"{a} -> {b}" for a, b in arrows if b not in ALLOWED[a])
    assert not wrong, "imports against the layout: " + "; ".join(wrong)
    packages = {p: set() for p in ALLOWED}
    for a, b in arrows:
        packages[a].add(b)
    assert find_cycle(packages) is None


@pytest.mark.parametrize("learner", LEARNERS)
def test_importing_one_learner_imports_no_other(learner):
    """Not even another learner's torch-free config module loads: the schema, which collects
    every registered config section, is imported only on first use (``configs/__init__.py``)."""
    others = tuple(f"agents.{o}" for o in LEARNERS if o != learner)
    code = (f"import json, sys, agents.{learner}.agent, agents.{learner}.config\n"
            f"print(json.dumps([m for m in sys.modules if m.startswith({others!r})]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    loaded = sorted(json.loads(out))
    assert loaded == [], f"importing agents.{learner} imported {loaded}"


def test_package_inits_import_nothing_and_their_docstring_maps_every_module():
    for init in sorted(AGENTS.glob("*/__init__.py")):
        tree = ast.parse(init.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], \
            f"{init.relative_to(ROOT)} imports something (a config module must stay torch-free)"
        doc = ast.get_docstring(tree) or ""
        missing = [p.stem for p in sorted(init.parent.glob("*.py"))
                   if p.name != "__init__.py" and f"``{p.stem}``" not in doc]
        assert not missing, f"{init.relative_to(ROOT)}'s docstring does not map {missing}"
    root_doc = ast.get_docstring(ast.parse((AGENTS / "__init__.py").read_text()))
    missing = [p.name for p in sorted(AGENTS.iterdir())
               if p.is_dir() and (p / "__init__.py").exists() and f"``{p.name}/``" not in root_doc]
    assert not missing, f"agents/__init__.py's docstring does not map {missing}"


def test_offpolicy_agent_module_stays_at_most_350_lines():
    lines = len((AGENTS / "offpolicy" / "agent.py").read_text().splitlines())
    assert lines <= 350, f"agents/offpolicy/agent.py is {lines} lines"


def test_every_package_is_listed_in_pyproject():
    """A package missing from the list is missing from a non-editable install."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    packages = {".".join(p.parent.relative_to(ROOT).parts)
                for top in ("agents", "envs", "circuits", "configs", "trainer", "cli")
                for p in (ROOT / top).rglob("__init__.py")}
    assert packages <= listed, f"missing in pyproject.toml: {sorted(packages - listed)}"


def _globals_in(pickled: bytes) -> set[str]:
    """The ``module name`` of every global a pickle stream names."""
    import io
    import pickletools

    found, strings = set(), []
    for op, arg, _ in pickletools.genops(io.BytesIO(pickled)):
        if op.name in ("GLOBAL", "INST"):
            found.add(arg)
        elif op.name == "STACK_GLOBAL":
            found.add(" ".join(strings[-2:]))
        if isinstance(arg, str):
            strings.append(arg)
    return found


@pytest.mark.slow
def test_a_run_folder_names_no_module_path_so_moved_modules_do_not_break_old_runs(tmp_path):
    """Old run folders and checkpoints load after modules move: a checkpoint pickles no global
    of ``agents`` (only torch's, numpy's and plain containers) and the run's config and records
    name components by their registered names, never by a module path."""
    from conftest import STATE_PRESET, tiny_state
    from configs.loader import load_config
    from trainer.api import train

    run = tmp_path / "run"
    train(load_config(STATE_PRESET, [*tiny_state(warmup=100, every=300), "steps=300",
                                     "agent.redo={every_updates: 50}",
                                     "agent.l2_init={coef: 1.0e-4}",
                                     "agent.rr_schedule.type=adaptive",
                                     "agent.weight_metrics_every=50", f"run_dir={run}"]))
    checkpoints = sorted((run / "checkpoints").glob("*.pt"))
    assert checkpoints
    for ckpt in checkpoints:
        with zipfile.ZipFile(ckpt) as z:
            pickled = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
        named = _globals_in(pickled)
        assert named and all(g.split()[0].split(".")[0] in
                             ("torch", "numpy", "collections", "_codecs", "__builtin__",
                              "builtins") for g in named), sorted(named)
        assert b"agents." not in pickled
    for text in [p for p in run.rglob("*") if p.suffix in (".yaml", ".json", ".csv", ".txt")]:
        assert "agents." not in text.read_text(), f"{text.name} names a module path"
