"""Load a YAML preset, apply ``key=value`` overrides, validate; one-line errors on bad input.

Presets compose: a preset may name a ``base:`` preset (a path relative to its own folder) and
give only what differs. ``resolve_preset`` merges the chain, base first: mappings merge key by
key; any other value (a number, a list, ``null``) replaces the base's; a section that names a
different variant than the base's (another ``agent.name``, ``agent.actor.type`` or
``...rr_schedule.type``) replaces the base's section whole, since the base's keys belong to the
other variant. The merged mapping is validated as one config, so a run folder's ``config.yaml``
is always fully resolved. A missing base and a cycle are one-line errors.

Plug-ins: a config's ``plugins:`` list names Python files (``*.py``; a relative path is relative
to the preset that names it, or to the working folder on the command line) or modules.
``validate`` imports them (``configs/plugins.py``) before validating, so the components they
register (``configs/registry.py``: a schedule, an auxiliary loss, an agent ...) can be selected
by the same config; the run's ``config.yaml`` keeps their absolute paths. A plug-in named in a
file (preset, ``base:`` chain, run folder, checkpoint, sweep file) is imported only when the
caller trusts it (``--trust-plugins``); one named on the command line always is.
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from configs import plugins
from configs.errors import ConfigError  # noqa: F401 (re-exported: the historical import path)
from configs.errors import echo
from configs.schema import RunConfig

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_PRESET = CONFIG_DIR / "ncap_swim_ppo.yaml"

# Short names accepted on the command line for common nested keys.
ALIASES = {"n_joints": "env.n_joints", "env_id": "env.id"}



# Bounds on what a YAML file may hold, far above any preset, run config or sweep spec (a
# resolved config.yaml has ~200 values, 6 levels, 2-3 bases): a file past them is refused
# before it is turned into Python objects, so no later step walks an alias bomb.
MAX_YAML_BYTES = 4 << 20
MAX_YAML_VALUES = 100_000   # scalars, lists and mappings, an alias counted at every use
MAX_YAML_DEPTH = 64         # nesting of lists and mappings
MAX_BASE_CHAIN = 32         # presets in one ``base:`` chain


class _Bounded(yaml.SafeLoader):
    """The safe YAML loader, counting while it composes: a document that nests deeper than
    ``MAX_YAML_DEPTH`` or expands to more than ``MAX_YAML_VALUES`` values (each alias counted
    as the size of what it names, at every use: ``a: &a [1, 1]`` then ``b: [*a, *a]`` is 3 + 7
    values), or whose alias sits inside its own anchor, is a ``ConfigError`` raised at once."""

    def __init__(self, stream):
        super().__init__(stream)
        self._sizes: dict[int, int] = {}   # id(node) -> its expanded size, once composed
        self._depth = 0

    def compose_node(self, parent, index):
        line = self.peek_event().start_mark.line + 1
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise ConfigError(f"holds a value that contains itself (an alias inside its "
                                  f"own anchor, line {line})")
            return node
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise ConfigError(f"nests deeper than {MAX_YAML_DEPTH} levels (line {line})")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        children = (node.value if isinstance(node, yaml.SequenceNode) else
                    [n for pair in node.value for n in pair]
                    if isinstance(node, yaml.MappingNode) else [])
        size = 1 + sum(self._sizes[id(child)] for child in children)
        if size > MAX_YAML_VALUES:
            raise ConfigError(f"expands to more than {MAX_YAML_VALUES:,} values (aliases "
                              f"counted at every use; line {line})")
        self._sizes[id(node)] = size
        return node


class _Loader(_Bounded):
    """YAML loader that also reads ``1e-3`` / ``3e5`` as floats (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def compose_yaml(text: str) -> yaml.Node | None:
    """The YAML node tree of ``text`` (keys in file order, duplicates kept), composed under the
    same bounds as ``read_yaml`` (``_Bounded``): for checks that need the document itself."""
    return yaml.compose(text, Loader=_Loader)


def parse_value(text: str) -> Any:
    """Parse a command-line value as YAML (``3``, ``1e-3``, ``true``, ``[64, 64]``, ``null``);
    text that is not YAML stays text; one past the loader's bounds is a ``ConfigError``."""
    try:
        return yaml.load(text, Loader=_Loader)
    except ConfigError as e:
        raise ConfigError(f"value {echo(text)}: refused: it {e}") from None
    except (yaml.YAMLError, ValueError):   # ValueError: an int past Python's digit limit
        return text


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a ``.yaml``/``.yml`` file; a missing, empty, binary or non-mapping file,
    and one past the loader's bounds (``_Bounded``, ``MAX_YAML_BYTES``), is a one-line
    ``ConfigError``."""
    p = Path(path)
    if not p.is_file():
        hint = "" if p.suffix in (".yaml", ".yml") else " (give a YAML preset and key=value overrides)"
        siblings = [q.name for q in p.parent.glob("*.y*ml")] if p.parent.is_dir() else []
        close = difflib.get_close_matches(p.name, siblings, n=1, cutoff=0.8)
        if close:
            hint = f" (did you mean {p.parent / close[0]}?)"
        raise ConfigError(f"config file not found: {p}{hint}")
    if p.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"{p} is not a YAML config (expected a .yaml or .yml file)")
    if p.stat().st_size > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: refused: {p.stat().st_size:,} bytes, more than a config holds "
                          f"({MAX_YAML_BYTES:,} at most)")
    try:
        data = yaml.load(p.read_text(), Loader=_Loader)
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a text file, so not a YAML config") from None
    except ConfigError as e:
        raise ConfigError(f"{p}: refused: it {e}") from None
    except (yaml.YAMLError, ValueError) as e:   # ValueError: an int past Python's digit limit
        raise ConfigError(f"{p}: not valid YAML ({(str(e).splitlines() or [''])[0][:200]})") \
            from None
    if data is None:
        raise ConfigError(f"{p} has no keys (empty or only comments); to train the default "
                          "preset give no config file")
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


TAGS = ("name", "type")  # discriminator keys of the config's tagged unions


def merge(base: dict[str, Any], over: dict[str, Any], top: bool = True) -> dict[str, Any]:
    """``over`` laid on ``base`` (module docstring); neither is modified."""
    if not top and any(k in over and k in base and over[k] != base[k] for k in TAGS):
        return dict(over)
    out = dict(base)
    for k, v in over.items():
        out[k] = (merge(base[k], v, top=False)
                  if isinstance(v, dict) and isinstance(base.get(k), dict) else v)
    return out


def resolve_preset(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The preset at ``path`` with its ``base:`` chain merged in (module docstring)."""
    data = read_yaml(path)   # errors name the path as given
    path = Path(path).resolve()
    base = data.pop("base", None)
    if isinstance(data.get("plugins"), list):   # file paths relative to this preset's folder
        data["plugins"] = [str((path.parent / p).resolve()) if plugins.is_file(p) else p
                           for p in data["plugins"]]
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"config error: base: must be a preset path in {path.name} "
                          f"(got {echo(base)})")
    base_path = (path.parent / base).resolve()
    chain = (*_chain, path)
    if len(chain) >= MAX_BASE_CHAIN:
        raise ConfigError(f"config error: base: a chain of more than {MAX_BASE_CHAIN} presets "
                          f"(from {chain[0]}); refused")
    if base_path in chain:
        cycle = " -> ".join(p.name for p in (*chain[chain.index(base_path):], base_path))
        raise ConfigError(f"config error: base: presets form a cycle ({cycle})")
    if not base_path.is_file():
        raise ConfigError(f"config error: base: {base} not found (named in {path}; "
                          "a base path is relative to the preset's folder)")
    return merge(resolve_preset(base_path, chain), data)


def _sets_tag(item: str) -> bool:
    """``item`` is ``<section>.<name|type>=value`` (a variant tag, not the run's own name)."""
    key = ALIASES.get(item.partition("=")[0], item.partition("=")[0])
    return "." in key and key.rsplit(".", 1)[1] in TAGS


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict (a copy).

    Setting a section's variant tag to another value (``agent.rr_schedule.type=adaptive``,
    ``agent.name=drqv2``) first empties that section, as a preset's ``base:`` merge does; tag
    overrides are applied before the others, so their order on the command line is free.
    """
    try:
        out = yaml.load(yaml.safe_dump(data), Loader=_Bounded)   # a copy, within the bounds
    except ConfigError as e:
        raise ConfigError(f"config refused: it {e}") from None
    for item in sorted(overrides, key=lambda item: not _sets_tag(item)):
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad override '{item}': expected key=value (e.g. steps=20000)")
        key = ALIASES.get(key, key)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"bad override '{item}': '{part}' is not a section")
            node = child
        value = parse_value(raw)
        if len(parts) > 1 and parts[-1] in TAGS and node.get(parts[-1], value) != value:
            node.clear()
        node[parts[-1]] = value
    return out


def _error_line(err: ValidationError, data: dict[str, Any]) -> str:
    """The first validation error as ``config error: <key>: <message> (got <value>)``."""
    e = err.errors()[0]
    keys, node = [], data
    for part in e["loc"]:
        # Skip discriminator tags pydantic inserts into the location (e.g. 'ppo', 'ncap').
        if isinstance(node, dict) and part in node:
            keys.append(str(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            keys.append(str(part))  # a list entry, e.g. agent.aux.losses.0
            node = node[part]
        elif e["type"] in ("extra_forbidden", "missing") and part == e["loc"][-1]:
            keys.append(str(part))
    key = ".".join(keys) or "<root>"
    if e["type"] == "extra_forbidden":
        return f"config error: unknown key '{key}'{unknown_key_hint(key, data)}"
    if e["type"] == "union_tag_not_found":
        tag = str(e.get("ctx", {}).get("discriminator", "type")).strip("'\"")
        return f"config error: {key}: needs a '{tag}' key to say which kind it is"
    msg = e["msg"].removeprefix("Value error, ")
    if "input" in e and not isinstance(e["input"], dict):
        msg += f" (got {echo(e['input'])})"
    return f"config error: {key}: {msg}"


def _lookup(data: Any, parts: list[str] | tuple) -> Any:
    """``data[a][b]...`` along ``parts``; None where a part is absent."""
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _variant_chains() -> dict[str, list[list[tuple[str, str]]]]:
    """Every config key -> the chains of variant tags that select it, outermost first, e.g.
    ``agent.actor.sigma -> [[("agent.name", "ppo"), ("agent.actor.type", "ncap")], ...]``."""
    chains: dict[str, list[list[tuple[str, str]]]] = {}

    def walk(model_cls: type[BaseModel], prefix: str, tags: list[tuple[str, str]]) -> None:
        for name, field in model_cls.model_fields.items():
            members = _model_members(field.annotation)
            for m in members:
                tag = next((t for t in TAGS if t in m.model_fields and len(members) > 1), None)
                walk(m, f"{prefix}{name}.", tags + ([(f"{prefix}{name}.{tag}",
                                                      str(m.model_fields[tag].default))]
                                                    if tag else []))
            if not members:
                chains.setdefault(f"{prefix}{name}", []).append(tags)

    walk(RunConfig, "", [])
    return chains


def unknown_key_hint(key: str, data: dict[str, Any]) -> str:
    """`` (a key of agent.name=drqv2)`` for a key or section (``agent.reset``) of another
    variant than ``data``'s, else `` (did you mean 'agent.actor_lr'?)`` for a near miss, else
    ``""``."""
    chains = _variant_chains()

    def conflict(chain: list[tuple[str, str]]) -> str | None:
        """The first tag of ``chain`` this config sets to another value."""
        for tag, value in chain:
            there = _lookup(data, tag.split("."))
            if there is not None and str(there) != value:
                return f"{tag}={value}"
        return None

    # a section (``agent.reset``) is selected by the chains of the keys inside it
    own = chains.get(key) or [c for k, cs in chains.items() if k.startswith(f"{key}.") for c in cs]
    needed = [c for c in map(conflict, own) if c]
    if needed:
        return f" (a key of {', '.join(dict.fromkeys(needed))})"
    here = [k for k, cs in chains.items() if any(conflict(c) is None for c in cs)]
    close = difflib.get_close_matches(key, [*here, *ALIASES], n=1, cutoff=0.8)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _with_default_tag(err: ValidationError, data: dict[str, Any]) -> dict[str, Any] | None:
    """``data`` with the default variant tag filled in where a section gives keys but no tag
    (``agent.actor.sigma=0.3`` on an agent whose actor section is absent), or None."""
    e = err.errors()[0]
    if e["type"] != "union_tag_not_found":
        return None
    parts, node = [], data
    for part in e["loc"]:  # skip the variant tags pydantic inserts into the location
        if isinstance(node, dict) and part in node:
            parts.append(str(part))
            node = node[part]
    if not parts:
        return None
    parent, name = _lookup(data, parts[:-1]), parts[-1]
    tag = str(e.get("ctx", {}).get("discriminator", "")).strip("'\"")
    if not isinstance(parent, dict) or not isinstance(parent.get(name), dict) or not tag:
        return None
    without = copy.deepcopy(data)
    del _lookup(without, parts[:-1])[name]
    try:
        default = RunConfig.model_validate(without)
    except ValidationError:
        return None
    for part in parts:
        default = getattr(default, part, None)
    if default is None or not hasattr(default, tag):
        return None
    filled = copy.deepcopy(data)
    _lookup(filled, parts)[tag] = getattr(default, tag)
    return filled


def validate(data: dict[str, Any], source: str | Path | None = None,
             trust_plugins: bool = False) -> RunConfig:
    """``data`` as a ``RunConfig``; the first invalid key is a one-line ``ConfigError``.

    Its plug-ins are imported first (``configs/plugins.py``): those not imported yet only with
    ``trust_plugins`` (the caller vouches for them); otherwise the error names ``source``, the
    file ``data`` was read from."""
    if "plugins" in data:
        data = {**data, "plugins": plugins.load(data["plugins"], source, trust_plugins)}
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        filled = _with_default_tag(err, data)
        if filled is not None:
            return validate(filled, source, trust_plugins)
        raise ConfigError(_error_line(err, data)) from None


def plugins_source(path: str | Path) -> Path:
    """The preset of ``path``'s ``base:`` chain whose ``plugins:`` list the merged preset keeps:
    the first, from ``path`` on, that has the key (``path`` itself when none has)."""
    path, seen = Path(path), set()
    while path not in seen:
        seen.add(path)
        data = read_yaml(path)
        if "plugins" in data or not isinstance(data.get("base"), str):
            return path
        path = (path.resolve().parent / data["base"]).resolve()
    return path


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                trust_plugins: bool = False) -> RunConfig:
    """Preset (default ``configs/ncap_swim_ppo.yaml``, its ``base:`` chain resolved) +
    overrides -> validated ``RunConfig``. Plug-ins named by an override load; those a preset
    of the chain names need ``trust_plugins`` (``configs/plugins.py``)."""
    path = path or DEFAULT_PRESET
    data = resolve_preset(path)
    source = plugins_source(path) if data.get("plugins") else path
    trusted = trust_plugins or plugins.on_command_line(overrides)
    return validate(apply_overrides(data, overrides or []), source, trusted)


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The config as plain data; ``plugins`` only when it names any (so the run folders of
    configs without plug-ins are as before)."""
    data = cfg.model_dump(mode="json")
    if not data.get("plugins"):
        data.pop("plugins", None)
    return data


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def _model_members(annotation) -> list[type[BaseModel]]:
    """The config models an annotation allows (one, or each member of a tagged union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]


def describe_keys() -> list[tuple[str, str, str]]:
    """``(key, default, description)`` for every config key, for ``train.py --help``.

    Members of a tagged union (agent types, actor types) are listed one after the other, each
    key annotated with the tag that selects it.
    """
    rows: list[tuple[str, str, str]] = []

    def walk(model_cls: type[BaseModel], prefix: str, note: str) -> None:
        for name, field in model_cls.model_fields.items():
            members = _model_members(field.annotation)
            if members:
                for m in members:
                    tag = next((f for f in ("name", "type") if f in m.model_fields
                                and len(m.model_fields) > 1 and len(members) > 1), None)
                    sub_note = f"[{prefix}{name}.{tag}={m.model_fields[tag].default}] " if tag else note
                    walk(m, f"{prefix}{name}.", sub_note)
                continue
            default = "(required)" if field.is_required() else repr(
                field.get_default(call_default_factory=True))
            rows.append((f"{prefix}{name}", default, note + (field.description or "")))

    walk(RunConfig, "", "")
    return rows
