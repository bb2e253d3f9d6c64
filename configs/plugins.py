"""Plug-ins: the Python files or modules a config's ``plugins:`` list names, imported before the
config is validated, so that the components they register (``configs/registry.py``) can be
selected by the same config.

A plug-in is code, so it runs only when the person at the keyboard asks for it:

- a plug-in named on the command line (``plugins=[...]``) loads;
- a plug-in named inside a file (a preset or any preset of its ``base:`` chain, a run folder's
  ``config.yaml``, the config stored in a checkpoint, a sweep file) loads only with
  ``--trust-plugins`` (``trust_plugins=True`` in Python); otherwise ``check`` stops with one
  line naming the file, the plug-in and the flag, before any plug-in is imported;
- a plug-in this process has imported already is no new code and is never refused (resuming a
  run compares its stored config, plug-ins included, with the one the command loaded).

Where a plug-in is found: a file (``*.py``, or any name with a path separator) by its path,
relative to the preset that names it or to the working folder; a module by its name, on the
interpreter's path without the working folder and the main script's folder. Python puts those
on ``sys.path`` itself (``python train.py`` in the checkout adds the checkout, ``-c``/``-m`` the
working folder), and through them ``runs.<shared>.seed0.evil`` would import a file of a shared
run folder; a plug-in there is named by its path.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from configs import registry
from configs.errors import ConfigError, echo

TRUST_FLAG = "--trust-plugins"
TRUST_HELP = ("import the plug-ins (Python code) that the config, run folder or checkpoint "
              "names: only for files you trust, e.g. your own run")
SHOWN_CHARS = 200   # the longest plug-in name an error line echoes in full


def is_file(item: Any) -> bool:
    """``item`` names a file (``*.py`` or a path), not a module."""
    return isinstance(item, str) and (item.endswith(".py") or "/" in item or "\\" in item)


def _module_name(item: str) -> str:
    """The ``sys.modules`` key of plug-in ``item``: a file's is derived from its absolute path."""
    if not is_file(item):
        return item
    path = Path(item).resolve()
    return f"_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def is_loaded(item: str) -> bool:
    return _module_name(item) in sys.modules


def _shown(item: str) -> str:
    """``item`` for an error line: at most ``SHOWN_CHARS`` characters, newlines escaped."""
    return repr(item if len(item) <= SHOWN_CHARS else item[:SHOWN_CHARS] + "...")[1:-1]


def on_command_line(overrides: list[str] | None) -> bool:
    """An override sets ``plugins``: the list is then the command line's (it replaces a
    file's list whole)."""
    return any(str(o).partition("=")[0] == "plugins" for o in overrides or [])


def check(items: list[str], source: str | Path | None, trust: bool) -> None:
    """Refuse (``ConfigError``, one line) the first plug-in of ``items`` not imported yet,
    unless ``trust``: ``source`` is the file that names it."""
    if trust:
        return
    for item in items:
        if not is_loaded(item):
            raise ConfigError(
                f"{_shown(str(source or 'the config'))} names the plug-in '{_shown(item)}' (Python code, run "
                f"when loaded); nothing was loaded. If you trust that file (e.g. your own run), "
                f"add {TRUST_FLAG} to the command (trust_plugins=True in Python)")


def _search_path() -> list[str]:
    """``sys.path`` without the working folder and the main script's folder (module docstring)."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    skip = {os.path.realpath(os.getcwd())}
    if main:
        skip.add(os.path.realpath(os.path.dirname(main)))
    return [p for p in sys.path if isinstance(p, str) and os.path.realpath(p or ".") not in skip]


def _find_top_level(name: str) -> importlib.machinery.ModuleSpec | None:
    """The spec of top-level module ``name`` as ``import`` finds it, searching ``_search_path``
    instead of ``sys.path``; nothing is executed."""
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:
            spec = finder.find_spec(name, _search_path())
        elif hasattr(finder, "find_spec"):
            spec = finder.find_spec(name, None)
        else:
            continue
        if spec is not None:
            return spec
    return None


def _missing(item: str) -> ConfigError:
    return ConfigError(f"config error: plugins: no module named '{_shown(item)}' (a plug-in is "
                       "a .py file or a module on the interpreter's path, which leaves out the "
                       "working folder and the script's folder: name a file there by its path)")


def _import(item: str) -> None:
    """Import plug-in ``item`` (not imported yet); a missing file or module, or an error while
    importing it, is a one-line ``ConfigError``."""
    if is_file(item):
        spec = importlib.util.spec_from_file_location(_module_name(item), Path(item).resolve())
        if not Path(item).is_file() or spec is None:
            raise ConfigError(f"config error: plugins: {_shown(item)} not found (a plug-in is a "
                              ".py file or an importable module)")
    else:
        top = item.partition(".")[0]
        spec = None if top in sys.modules else _find_top_level(top)
        if spec is None and top not in sys.modules:
            raise _missing(item)
    added = []
    try:
        if spec is not None:   # the file, or the top-level package of a module name
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            added.append(spec.name)
            spec.loader.exec_module(module)
        if not is_file(item):
            importlib.import_module(item)   # the rest of a dotted name, from its package
    except Exception as e:
        for name in added:
            sys.modules.pop(name, None)
        # the plug-in itself, or a package on its dotted path, is missing (e.g. a checkout's own
        # runs/ folder is a namespace package `runs` without the shared run's `runs.shared`)
        if isinstance(e, ModuleNotFoundError) and e.name and (
                item == e.name or item.startswith(e.name + ".")):
            raise _missing(item) from None
        first = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(f"config error: plugins: {_shown(item)}: {type(e).__name__}: "
                          f"{first[:SHOWN_CHARS]}") from None


def load(items: Any, source: str | Path | None = None, trust: bool = False) -> list[str]:
    """Import the plug-ins ``items`` names (``check`` first: a plug-in not imported yet needs
    ``trust``) and widen the schema to what they registered; returns the list with file paths
    made absolute."""
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise ConfigError(f"config error: plugins: must be a list of plug-in files (.py) or "
                          f"module names (got {echo(items)})")
    check(items, source, trust)
    new = [item for item in items if not is_loaded(item)]
    for item in new:
        _import(item)
    if new:
        registry.refresh()
    return [str(Path(i).resolve()) if is_file(i) else i for i in items]
