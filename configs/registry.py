"""Components by name: each kind of plug-in maps a name to its config class and implementation.

A component module declares its config class (a ``StrictModel`` with a ``type``/``name`` tag,
torch-free) beside its implementation and registers both::

    register("rr_schedule", "fixed", FixedRRConfig, "agents.plasticity.schedules:FixedReplayRatio.from_config")

The implementation is an import path ``"module:attr.attr"``, imported only when a factory
builds the component, so loading a config never imports torch. The schema's sections are the
registered configs of a kind (``section(kind)``: a tagged union pydantic validates, rebuilt by
``refresh()`` when a plug-in registers more), and the factories look the name up
(``build(kind, name)``): no if-chain and no hand-kept union.

Kinds and the call each implementation answers (see ``agents/protocols.py``):

===============  ======  =====================================================================
kind             tag     implementation(...) ->
===============  ======  =====================================================================
``agent``        name    ``(agent_cfg, obs_space, action_space, env=, device=, seed=,
                         acting_only=, total_steps=)`` -> an ``Agent``
``rr_schedule``  type    ``(cfg, frames_per_step=)`` -> an ``RRSchedule``
``aux_loss``     type    ``(cfg, label, latent_dim, action_dim)`` -> an ``AuxLoss`` module
``intervention`` (none)  ``(section, total_steps)`` -> an ``Intervention``; each is a key of
                         its own in the off-policy config (``agent.reset``, ``agent.redo``,
                         ``agent.shrink_perturb``, ...: ``keyed_sections``)
``ppo.actor``    type    ``(actor_cfg, obs_dim, act_dim, env)`` -> ``(actor, Gaussian head)``
``es.actor``     type    ``(actor_cfg, obs_dim, act_dim, env)`` -> a deterministic actor
``offpolicy.actor`` type ``(actor_cfg, repr_dim, act_dim, agent_cfg, env)`` -> an actor
===============  ======  =====================================================================

Built-in components live in the config modules (``config.py``, ``*_config.py``) of the
packages of ``agents/`` and of ``circuits/`` (found by ``load_builtins``); a user's own file
registers the same way and is named in a config's ``plugins:`` list (``configs/loader.py``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, Union

from pydantic import Field
from pydantic.fields import FieldInfo

from configs.base import StrictModel

# the built-in component modules first, in this order (it fixes the order of the names in
# --help and in "expected tags: ..." messages); any other config module (``config.py`` or
# ``*_config.py``, at any depth) of agents/ or circuits/ follows in path order, so a new
# built-in file needs no edit here
BUILTIN_ORDER = ("agents.plasticity.schedules_config", "agents.auxiliary.config",
                 "agents.plasticity.interventions_config", "agents.ppo.config",
                 "agents.offpolicy.config", "agents.es.config")
BUILTIN_PACKAGES = ("agents", "circuits")
# the tag key of each kind (default "type"); interventions are keys of their own (agent.reset,
# agent.redo), not variants of one section, so they carry no tag
TAGS: dict[str, str | None] = {"agent": "name", "intervention": None}


@dataclass(frozen=True)
class Component:
    """One registered component: its ``kind``, ``name`` (the config's tag value), config
    class, implementation path ``"module:attr"`` and optional ``check`` path (a function
    ``check(run_cfg)`` that refuses combinations with the rest of the run config)."""

    kind: str
    name: str
    config: type[StrictModel]
    impl: str
    check: str | None = None

    def implementation(self) -> Any:
        return resolve(self.impl)


_REGISTRY: dict[str, dict[str, Component]] = {}
_SECTIONS: list[tuple[type, str, str, bool]] = []   # (model, field, kind, list of) to refresh


class Section:
    """Annotation marker: this field is the tagged union of ``kind``'s registered configs."""

    def __init__(self, kind: str, many: bool = False):
        self.kind, self.many = kind, many


def tag_of(kind: str) -> str | None:
    return TAGS.get(kind, "type")


def register(kind: str, name: str, config: type[StrictModel], impl: str,
             check: str | None = None) -> None:
    """Register ``config`` and the implementation path ``impl`` under ``kind``/``name``.

    The config's tag field (``name`` for agents, ``type`` otherwise) must default to ``name``.
    Registering the same pair again (a module imported twice) is a no-op; another pair under a
    taken name is an error.
    """
    tag = tag_of(kind)
    field = config.model_fields.get(tag) if tag else None
    if tag and (field is None or field.default != name):
        raise ValueError(f"{config.__name__} registers as {kind} '{name}' but its '{tag}' "
                         f"field does not default to '{name}'")
    if ":" not in impl:
        raise ValueError(f"implementation of {kind} '{name}' must be 'module:attr' (got {impl!r})")
    entry = Component(kind, name, config, impl, check)
    old = _REGISTRY.setdefault(kind, {}).get(name)
    if old is not None and (old.config.__qualname__, old.impl) != (config.__qualname__, impl):
        raise ValueError(f"{kind} '{name}' is registered already ({old.impl})")
    _REGISTRY[kind][name] = entry


def kinds() -> list[str]:
    return list(_REGISTRY)


def components(kind: str) -> list[Component]:
    """The registered components of ``kind``, in registration order."""
    return list(_REGISTRY.get(kind, {}).values())


def get(kind: str, name: str) -> Component:
    if name not in _REGISTRY.get(kind, {}):
        load_builtins()   # a factory called before the schema was imported
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        names = ", ".join(_REGISTRY.get(kind, {})) or "none"
        raise ValueError(f"unknown {kind} '{name}' (registered: {names})") from None


def build(kind: str, name: str) -> Callable[..., Any]:
    """The implementation registered as ``kind``/``name`` (imported now)."""
    return get(kind, name).implementation()


def resolve(path: str) -> Any:
    """``"package.module:Attr.attr"`` -> the object (imports the module)."""
    module, _, attrs = path.partition(":")
    obj: Any = importlib.import_module(module)
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj


def union(kind: str) -> Any:
    """The registered configs of ``kind`` as one type: a tagged union (or the one class)."""
    configs = tuple(c.config for c in components(kind))
    if not configs:
        raise ValueError(f"no {kind} is registered")
    if len(configs) == 1:
        return configs[0]
    return Annotated[Union[configs], Field(discriminator=tag_of(kind))]


def section(kind: str, many: bool = False) -> Any:
    """A field annotation for ``kind``'s section (a list of them with ``many``): the union of
    the configs registered so far, marked so ``refresh`` widens it when more register."""
    inner = Annotated[union(kind), Section(kind, many)]
    return list[inner] if many else inner


def track_sections(model: type) -> None:
    """Remember ``model``'s ``section`` fields (called for every ``StrictModel`` subclass)."""
    for name, field in model.__pydantic_fields__.items():
        marks = [m for m in field.metadata if isinstance(m, Section)]
        item = getattr(field.annotation, "__args__", (None,))[0]
        marks += [m for m in getattr(item, "__metadata__", ()) if isinstance(m, Section)]
        for mark in marks:
            _SECTIONS.append((model, name, mark.kind, mark.many))


_KEYED: list[tuple[type, str]] = []


def keyed_sections(kind: str) -> Callable[[type], type]:
    """Class decorator: the model gets one optional field per registered component of
    ``kind``, named by the component (``agent.reset``, ``agent.redo``, ...; default null = off),
    added again by ``refresh`` when a plug-in registers more. The component's docstring's first
    line is the field's description."""
    def add(model: type) -> type:
        _KEYED.append((model, kind))
        if _add_keyed(model, kind):
            model.model_rebuild(force=True)
        return model
    return add


def _add_keyed(model: type, kind: str) -> bool:
    added = False
    for comp in components(kind):
        if comp.name in model.__pydantic_fields__:
            continue
        doc = (comp.config.__doc__ or comp.name).strip().splitlines()[0]
        model.__pydantic_fields__[comp.name] = FieldInfo.from_annotated_attribute(
            Optional[comp.config], Field(None, description=f"{doc} (null: off)"))
        added = True
    return added


def refresh() -> None:
    """Widen every ``section`` field to the configs registered now and rebuild the models
    (each after the models it contains: in creation order) so validation accepts them."""
    changed = any([_add_keyed(model, kind) for model, kind in _KEYED])
    for model, name, kind, many in _SECTIONS:
        field = model.__pydantic_fields__[name]
        new = list[Annotated[union(kind), Section(kind, many)]] if many else union(kind)
        if many:
            field.annotation = new
        else:
            members = new.__origin__ if hasattr(new, "__metadata__") else new
            field.annotation = members
        changed = True
    if changed:
        for model in StrictModel.created:
            model.model_rebuild(force=True)


def load_builtins() -> None:
    """Import the built-in component modules (``BUILTIN_ORDER``, then any other ``config.py``
    or ``*_config.py`` of ``BUILTIN_PACKAGES``, at any depth), which register themselves."""
    root = Path(__file__).resolve().parent.parent
    found = [".".join(p.relative_to(root).with_suffix("").parts) for pkg in BUILTIN_PACKAGES
             for p in sorted((root / pkg).rglob("*.py"))
             if p.name == "config.py" or p.name.endswith("_config.py")]
    for module in dict.fromkeys([*BUILTIN_ORDER, *found]):
        importlib.import_module(module)
