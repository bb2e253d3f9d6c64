"""Every metric a trigger may name is there when the trigger reads it (issue 40, item 3): ``rr``
and ``actor_std`` are read at the update that logs them; a metric that exists only after the
triggers have read the update (an intervention's own, e.g. ``redo/critic_units``) is refused at
load with one line, exit 2, nothing written."""

from __future__ import annotations

import pytest
import yaml

import train as cli
from bench.random_replay import fill_from_env
from configs.loader import load_config
from trainer.api import build
from conftest import STATE_PRESET, tiny_state


@pytest.mark.parametrize("metric, value", [("rr", 0.5), ("actor_std", 0.3)])
def test_a_trigger_on_rr_or_actor_std_reads_the_value_of_each_update(metric, value):
    cfg = load_config(STATE_PRESET, [
        *tiny_state(warmup=0, every=None), "agent.rr_schedule.rr=0.5",
        "agent.std_schedule='linear(0.3,0.3,1)'",
        f"agent.reset={{trigger: {{metric: {metric}, condition: above, threshold: 0.1}}}}"])
    env, agent, _ = build(cfg)
    fill_from_env(agent, env, 64)
    for _ in range(3):
        agent.update()
    total, count = agent.interventions.triggers["reset"].pending
    # three updates, each logging the configured value (rr 0.5, sigma 0.3)
    assert count == 3 and float(total) == pytest.approx(3 * value)
    agent.on_episode_end({"episode": 1, "step": 1000})
    assert agent.interventions.triggers["reset"].fired_steps == [1000]
    env.close()


def test_a_trigger_on_a_metric_logged_after_the_triggers_read_is_refused(tmp_path, capsys):
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({"base": str(STATE_PRESET), "agent": {
        "redo": {"every_updates": 100},
        "reset": {"trigger": {"metric": "redo/critic_units", "condition": "above",
                              "threshold": 1}}}}))
    run = tmp_path / "run"
    code = cli.main([str(preset), f"run_dir={run}", "trainer.progress=false"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert "agent.reset.trigger.metric" in err and "redo/critic_units" in err, err
    assert "rr" in err and "actor_std" in err and "fau/critic" in err, "the allowed names"
    assert not run.exists()
