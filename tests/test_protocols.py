"""Every registered component, built for real, has every member of its Protocol; the
Protocols list what the callers use; the README's architecture tables are generated from them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import agents.protocol_tables as protocol_tables
import agents.protocols as protocols
from agents.auxiliary.objectives import make_aux_loss
from agents.plasticity.schedules import make_rr_schedule
from configs import registry
from configs.loader import load_config
from envs.factory import make_env
from trainer.api import build

ROOT = Path(__file__).resolve().parent.parent
AGENT_PRESETS = {  # one run config per registered agent, at tiny sizes
    "ppo": ("ncap_swim_ppo.yaml", ["agent.segment=64"]),
    "offpolicy": ("offpolicy_cartpole_swingup.yaml", ["agent.replay_capacity=100"]),
    "drqv2": ("drqv2_tiny.yaml", ["env.pixels.size=32", "agent.replay_capacity=100"]),
    "es": ("ncap_swim_es.yaml", []),
}


def missing(obj, protocol: type) -> list[str]:
    """The protocol's members ``obj`` lacks."""
    return [name for name in protocols.members(protocol) if not hasattr(obj, name)]


def test_every_registered_agent_has_every_member_of_the_agent_protocol():
    assert {c.name for c in registry.components("agent")} == set(AGENT_PRESETS), \
        "a registered agent without a preset here goes unchecked"
    for name, (preset, overrides) in AGENT_PRESETS.items():
        cfg = load_config(ROOT / "configs" / preset, overrides)
        assert cfg.agent.name == name
        env, agent, _ = build(cfg)
        assert missing(agent, protocols.Agent) == [], name
        assert isinstance(agent, protocols.Agent)
        env.close()


def test_every_registered_schedule_has_every_member_of_the_schedule_protocol():
    for component in registry.components("rr_schedule"):
        schedule = make_rr_schedule(component.config(), frames_per_step=2)
        assert type(schedule).__name__ in component.impl
        assert missing(schedule, protocols.RRSchedule) == [], component.name
        assert isinstance(schedule, protocols.RRSchedule)


def test_every_registered_aux_loss_has_every_member_of_the_aux_loss_protocol():
    for component in registry.components("aux_loss"):
        loss = make_aux_loss(component.config(), latent_dim=8, action_dim=2)
        assert loss.label == component.name   # no label given: the type
        assert missing(loss, protocols.AuxLoss) == [], component.name
        assert isinstance(loss, protocols.AuxLoss)


def test_every_registered_intervention_has_every_member_and_the_set_too():
    sections = {"reset": {}, "redo": {"every_steps": 100},
                "shrink_perturb": {"shrink": 0.9, "every_updates": 100},
                "plasticity_injection": {"at_step": 500}}
    built = []
    for component in registry.components("intervention"):
        cfg = component.config(**sections.get(component.name, {}))
        one = component.implementation()(cfg, 1000)
        assert missing(one, protocols.Intervention) == [], component.name
        assert isinstance(one, protocols.Intervention)
        assert one.key == component.name and one.phase in ("before", "after")
        built.append(one)
    assert {c.name for c in registry.components("intervention")} >= {"reset", "redo"}
    from agents.plasticity.interventions import Interventions

    assert missing(Interventions(built, 2), protocols.InterventionSet) == []


def test_every_registered_circuit_actor_holds_a_circuit_with_every_member():
    env = make_env(load_config(ROOT / "configs" / "ncap_swim_ppo.yaml").env, seed=0)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    agent_cfgs = {"ppo.actor": "ppo", "es.actor": "es", "offpolicy.actor": "offpolicy"}
    circuits = 0
    for kind, agent in agent_cfgs.items():
        agent_cfg = registry.get("agent", agent).config()
        for component in registry.components(kind):
            args = ((obs_dim, act_dim, agent_cfg, env) if kind == "offpolicy.actor"
                    else (obs_dim, act_dim, env))
            if component.name == "ncap_quadruped":  # drives the quadruped, not the swimmer;
                continue                                # tests/test_quadruped_circuit.py
            built = component.implementation()(component.config(), *args)
            actor = built[0] if isinstance(built, tuple) else built
            circuit = getattr(actor, "circuit", None)
            if circuit is not None:
                assert missing(circuit, protocols.Circuit) == [], (kind, component.name)
                assert isinstance(circuit, protocols.Circuit)
                circuits += 1
    env.close()
    assert circuits == 4, "NCAP for PPO, ES and off-policy, NCAP+ for PPO"


@pytest.mark.parametrize("attribute, protocol", [("rr_schedule", protocols.RRSchedule),
                                                 ("interventions", protocols.InterventionSet)])
def test_the_protocols_list_every_member_the_agents_call(attribute, protocol):
    """``self.<attribute>.<member>`` and ``getattr(self.<attribute>, "<member>"`` anywhere in
    agents/ name only members of the protocol (the docstring protocol once missed three)."""
    used = set()
    for path in (ROOT / "agents").rglob("*.py"):
        text = path.read_text()
        used |= set(re.findall(rf"self\.{attribute}\.(\w+)", text))
        used |= set(re.findall(rf"getattr\(self\.{attribute}, \"(\w+)\"", text))
    assert used, f"no caller of {attribute} found"
    assert used - set(protocols.members(protocol)) == set()


def test_the_agent_protocol_lists_what_the_trainer_requires():
    text = (ROOT / "trainer" / "api.py").read_text()
    for member in ("load_policy", "body_independent", "trainable_parameters"):
        assert member in text, f"trainer/api.py no longer uses {member}"
        assert member in protocols.members(protocols.Agent)


def test_readme_architecture_tables_are_the_generated_ones():
    generated = protocol_tables.markdown()   # what python -m agents.protocol_tables prints
    page = (ROOT / "docs" / "architecture.md").read_text()   # the README's tables moved here
    match = re.search(r"<!-- protocols:begin[^>]*-->\n(.*?)<!-- protocols:end -->", page, re.S)
    assert match, "docs/architecture.md has no generated protocols section"
    assert match.group(1) == generated, "run: python docs/gen_reference.py"
    for protocol in protocols.PROTOCOLS:
        assert f"**{protocol.__name__}**" in generated
