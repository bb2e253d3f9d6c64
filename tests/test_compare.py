"""``train.py compare``: experiment specs validated on load, a tiny two-arm experiment trained
through the sweep machinery, resumed, and its paired numbers checked by hand from eval.csv.

The training tests share one embedded Ray session (module-scoped) and train tiny PPO runs
(1024 steps, 4 evaluations) on the test machine's CPUs.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import statistics
from pathlib import Path

import pytest
import yaml

import train as cli
from tests.conftest import TINY_PPO
from trainer.experiments.analysis import run_scores, seed_sets
from trainer.experiments.spec import load_experiment, parse_metric

ROOT = Path(__file__).resolve().parent.parent
PPO = ROOT / "configs" / "mlp_swim_ppo.yaml"
OFFPOLICY = ROOT / "configs" / "offpolicy_cartpole_swingup.yaml"
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray Tune not installed (pip install -e '.[sweep]')")


def write_spec(path: Path, **changes) -> Path:
    spec = {"name": "tiny", "base": str(PPO), "overrides": ["steps=1024", *TINY_PPO],
            "arms": {"slow": [], "fast": ["agent.actor_lr=1e-3"]}, "control": "slow",
            "seeds": [0, 1], "metrics": [{"final": 2}, "auc"],
            "run_dir": str(path.parent / "exp")}
    spec.update(changes)
    spec = {k: v for k, v in spec.items() if v is not None}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# --- bad specs: one line, exit 2, nothing run or written ---------------------------------------
@pytest.mark.parametrize("changes, text, message", [
    ({"arms": {"slow": [], "fast": ["agent.no_such_key=1"]}}, None,
     "arms.fast: config error: unknown key 'agent.no_such_key'"),
    ({"control": None}, None, "no 'control'"),
    ({"control": "medium"}, None, "control: 'medium' is not an arm"),
    ({"metrics": [{"metric": "fau/critic", "at": 500}]}, None,
     "metrics: fau/critic@500: 'fau/critic' is never logged by arm 'slow'"),
    ({"metrics": [{"metric": "return", "at": 5000}]}, None, "past arm 'slow''s budget"),
    ({"metrics": [{"final": 0}]}, None, "metrics: [0] final: needs only a count k >= 1"),
    ({"budget": 3}, None, "unknown key 'budget'"),
    ({"arms": {"slow": ["seed=3"], "fast": []}}, None, "arms.slow: 'seed' is set by the experiment"),
    ({}, "arms:\n  slow: []\n  slow: [agent.actor_lr=1e-3]\n", "key 'arms.slow' is given twice"),
    ({"base": None}, None, "arms.slow: no preset (give base:"),
    ({"arms": {"slow": [], "fast": {"preset": "no_such.yaml"}}}, None,
     "arms.fast.preset: no_such.yaml not found"),
    ({"arms": {"slow": [], "fast": {"preset": str(PPO), "seeds": [3]}}}, None,
     "arms: fast: an arm is a list of key=value overrides or {preset: PATH, overrides: [...]} "
     "(got keys ['preset', 'seeds'])"),
    ({"metrics": [{"table": "transfer.csv", "column": "mean_return"}]}, None,
     "metrics: mean_return: no post-hoc command writes transfer.csv into the run folder"),
    ({"metrics": [{"table": "transfer.csv", "column": "mean_return"}],
      "posthoc": [["transfer", "--out", "elsewhere"]]}, None,
     "no post-hoc command writes transfer.csv into the run folder"),
    ({"metrics": [{"table": "transfer.csv", "column": "speed"}]}, None,
     "transfer.csv has no column 'speed'"),
    ({"metrics": [{"table": "gait.json", "column": "x"}]}, None,
     "table: 'gait.json' is not a table a post-hoc command writes"),
])
def test_bad_spec_is_one_line_exit_2_and_nothing_is_written(tmp_path, capsys, changes, text,
                                                            message):
    spec = write_spec(tmp_path / "spec.yaml", **changes)
    if text:  # the arms mapping written by hand, with a key given twice
        data = yaml.safe_load(spec.read_text())
        del data["arms"]
        spec.write_text(yaml.safe_dump(data) + text)
    code, out, err = run_cli(["compare", str(spec)], capsys)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: experiment ") and str(spec) in err
    assert message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"], "something was written"


def test_a_plug_in_named_in_the_spec_loads_only_with_trust_plugins(tmp_path, capsys):
    marker = tmp_path / "imported"
    plugin = tmp_path / "marker_plugin.py"
    plugin.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    spec = write_spec(tmp_path / "spec.yaml", overrides=["steps=1024", f"plugins=[{plugin}]"])
    code, out, err = run_cli(["compare", str(spec), "--analyse-only"], capsys)
    assert code == 2 and "--trust-plugins" in err and str(spec) in err, err
    assert not marker.exists() and not (tmp_path / "exp").exists()
    code, out, err = run_cli(["compare", str(spec), "--analyse-only", "--trust-plugins"], capsys)
    assert code == 0, err
    assert marker.read_text() == "ran"


def test_metric_logged_by_the_agent_is_accepted(tmp_path):
    spec = write_spec(tmp_path / "spec.yaml", base=str(OFFPOLICY), overrides=["steps=2000"],
                      arms={"a": [], "b": ["agent.rr_schedule.rr=2"]}, control="a",
                      metrics=[{"metric": "fau/critic", "at": 1000, "name": "fau"}, "auc"])
    exp = load_experiment(spec)
    assert [m.name for m in exp.metrics] == ["fau", "auc"]
    no_fau = write_spec(tmp_path / "no_fau.yaml", base=str(OFFPOLICY),
                        overrides=["steps=2000", "agent.critic_fau=false",
                                   "agent.plasticity_metrics=false"],
                        arms={"a": [], "b": ["agent.rr_schedule.rr=2"]}, control="a",
                        metrics=[{"metric": "fau/critic", "at": 1000}])
    with pytest.raises(Exception, match="never logged"):
        load_experiment(no_fau)


def test_replication_is_labelled_post_hoc_unless_declared(tmp_path):
    exp = load_experiment(write_spec(tmp_path / "a.yaml", seeds=[0, 1, 2]))
    labels = [s.label for s in seed_sets(exp, [3, 4, 5])]
    assert labels == ["declared, seeds 0-2", "replication, seeds 3-5",
                      "pooled, post hoc, seeds 0-5"]
    declared = load_experiment(write_spec(tmp_path / "b.yaml", seeds=[0, 1, 2],
                                          replication=[3, 4, 5]))
    assert [s.label for s in seed_sets(declared, [3, 4, 5])][1:] == [
        "replication (declared), seeds 3-5", "pooled, declared in the spec, seeds 0-5"]


def test_scores_follow_the_documented_rules_on_a_hand_written_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    steps, returns = [0, 100, 300, 400], [10.0, 20.0, 50.0, 30.0]
    (run / "eval.csv").write_text("step,frames,mean_return\n" + "".join(
        f"{s},{s},{r}\n" for s, r in zip(steps, returns)))
    (run / "metrics.csv").write_text("step,frames,fau/critic\n100,100,0.5\n200,200,\n"
                                     "300,300,0.25\n")
    metrics = [parse_metric({"final": 2}), parse_metric("auc"),
               parse_metric({"metric": "fau/critic", "at": 299}),
               parse_metric({"metric": "fau/critic", "at": 300}),
               parse_metric({"metric": "return", "at": 99})]
    assert run_scores(run, metrics) is None, "a run without summary.json is not complete"
    (run / "summary.json").write_text(json.dumps({"status": "complete"}))
    area = (100 * (10 + 20) / 2 + 200 * (20 + 50) / 2 + 100 * (50 + 30) / 2) / 400
    assert run_scores(run, metrics) == pytest.approx({
        "final": (50 + 30) / 2, "auc": area, "fau/critic@299": 0.5, "fau/critic@300": 0.25,
        "return@99": 10.0})


def test_an_arm_with_its_own_preset_gets_that_preset_with_the_common_overrides(tmp_path):
    """Second route: the arm's config equals ``load_config`` of its preset with the spec's
    common overrides, then its own (what ``python train.py PRESET key=value ...`` builds)."""
    from configs.loader import config_to_dict, load_config

    common = ["steps=1024", "trainer.eval_every=512"]
    spec = write_spec(tmp_path / "spec.yaml", overrides=common, arms={
        "ppo": list(TINY_PPO), "es": {"preset": str(ROOT / "configs" / "ncap_swim_es.yaml"),
                                      "overrides": ["agent.population=4"]}}, control="ppo")
    exp = load_experiment(spec)
    for arm, preset, own in (("ppo", PPO, list(TINY_PPO)),
                             ("es", ROOT / "configs" / "ncap_swim_es.yaml", ["agent.population=4"])):
        expected = config_to_dict(load_config(preset, [*common, *own]))
        for key in ("seed", "run_dir"):
            expected.pop(key)
        expected["trainer"]["progress"] = False
        expected["torch_threads"] = expected["torch_threads"] or 1
        assert exp.arms[arm] == expected, arm
    assert exp.presets == {"ppo": PPO.resolve(), "es": (ROOT / "configs" / "ncap_swim_es.yaml")}
    assert exp.arms["es"]["agent"]["name"] == "es" and exp.arms["es"]["agent"]["population"] == 4


def test_table_metric_reads_the_one_matching_row_of_a_post_hoc_table(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"status": "complete"}))
    (run / "eval.csv").write_text("step,frames,mean_return\n0,0,1.0\n")
    (run / "transfer.csv").write_text(
        "policy,env,n_joints,viscosity,mean_return,std_return\n"
        "trained,swim,5,0.0,790.5,1.0\n"
        "trained,swim,9,0.0,612.25,2.0\n"
        "random,swim,9,0.0,10.0,3.0\n"
        "trained,swim,9,0.1,300.0,4.0\n")
    metrics = [parse_metric({"table": "transfer.csv", "column": "mean_return",
                             "where": {"policy": "trained", "n_joints": 9, "viscosity": 0}}),
               parse_metric({"table": "transfer.csv", "column": "std_return",
                             "where": {"policy": "random"}, "name": "random_std"}),
               parse_metric({"table": "transfer.csv", "column": "mean_return",
                             "where": {"policy": "trained", "n_joints": 9}, "name": "two_rows"}),
               parse_metric({"table": "transfer.csv", "column": "mean_return",
                             "where": {"n_joints": 13}, "name": "no_row"})]
    assert metrics[0].name == "mean_return[policy=trained,n_joints=9,viscosity=0]"
    scores = run_scores(run, metrics)
    assert scores[metrics[0].name] == 612.25 and scores["random_std"] == 3.0
    assert math.isnan(scores["two_rows"]) and math.isnan(scores["no_row"])
    (run / "transfer.csv").unlink()
    assert math.isnan(run_scores(run, metrics[:1])[metrics[0].name])


def test_the_transfer_columns_a_table_metric_accepts_are_the_ones_transfer_writes():
    from envs.bodies import BODY_COLUMNS
    from trainer.experiments.spec import TABLES
    from trainer.posthoc.transfer import STAT_COLUMNS

    sub, columns = TABLES["transfer.csv"]
    assert sub == "transfer"
    numeric = [c for c in STAT_COLUMNS if c != "returns"]   # returns: the episodes as text
    assert sorted(columns) == sorted(["policy", "env", *BODY_COLUMNS, *numeric])


def test_a_one_arm_experiment_reports_its_iqm_and_curves_without_pairs(tmp_path):
    from trainer.experiments.analysis import write_analysis

    spec = write_spec(tmp_path / "spec.yaml", arms={"only": []}, control="only", seeds=[0, 1, 2],
                      metrics=[{"final": 1}])
    exp = load_experiment(spec)
    finals = {0: 10.0, 1: 30.0, 2: 20.0}
    for seed, final in finals.items():
        run = exp.arm_dir("only", seed)
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps({"status": "complete"}))
        (run / "eval.csv").write_text(f"step,frames,mean_return\n0,0,0.0\n1024,1024,{final}\n")
    result = write_analysis(exp, seed_sets(exp, None))
    st = result["sets"][0]
    assert st["comparisons"] == {}
    assert st["iqm"]["only"]["final"]["n"] == 3
    assert st["iqm"]["only"]["final"]["iqm"] == pytest.approx(statistics.mean(finals.values()))
    text = (exp.run_dir / "compare.md").read_text()
    assert "One arm: no paired comparison." in text and "| only | 20.00" in text
    assert result["figures"] == ["compare_curves.png"]
    assert not (exp.run_dir / "compare.png").exists()


def test_every_ported_experiment_spec_loads_and_validates():
    specs = sorted((ROOT / "configs" / "experiments").glob("*.yaml"))
    assert specs, "no experiment spec under configs/experiments/"
    for path in specs:
        exp = load_experiment(path)
        assert exp.control in exp.arms, path
        assert exp.run_dir.name == exp.name, path


# --- a tiny experiment through Ray -------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_session():
    from trainer.sweep.ray_env import ray_environment

    ray_environment(local=True)
    import ray

    from trainer.sweep.ray_tune import connect

    assert connect(address=None), "Ray was already running"
    yield ray
    ray.shutdown()


def eval_returns(run: Path) -> tuple[list[int], list[float]]:
    with (run / "eval.csv").open() as f:
        rows = list(csv.DictReader(f))
    return [int(r["step"]) for r in rows], [float(r["mean_return"]) for r in rows]


def hand_scores(run: Path) -> dict[str, float]:
    """final = mean of the last 2 evaluations; auc = trapezoids / the steps spanned."""
    steps, returns = eval_returns(run)
    area = 0.0
    for i in range(1, len(steps)):
        area += (steps[i] - steps[i - 1]) * (returns[i] + returns[i - 1]) / 2
    return {"final": (returns[-1] + returns[-2]) / 2, "auc": area / (steps[-1] - steps[0])}


def snapshot(runs: list[Path]) -> dict[Path, tuple[int, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes())
            for run in runs for p in run.rglob("*") if p.is_file()}


@pytest.mark.slow
@needs_ray
def test_tiny_experiment_trains_resumes_and_its_paired_numbers_match_eval_csv(
        ray_session, tmp_path, capsys):
    folder = tmp_path / "exp"
    # first an interrupted experiment: only seed 0 ran
    spec = write_spec(tmp_path / "spec.yaml", seeds=[0],
                      posthoc=[["evaluate", "--episodes", "1"]])
    code, out, err = run_cli(["compare", str(spec)], capsys)
    assert code == 0, err
    assert "0 finished earlier, 2 to run" in out
    first = [folder / "slow" / "seed0", folder / "fast" / "seed0"]
    before = snapshot(first)

    spec = write_spec(tmp_path / "spec.yaml", posthoc=[["evaluate", "--episodes", "1"]])
    code, out, err = run_cli(["compare", str(spec)], capsys)
    assert code == 0, err
    assert "2 finished earlier, 2 to run" in out
    assert snapshot(first) == before, "a finished run was trained or rewritten again"
    for arm in ("slow", "fast"):
        for seed in (0, 1):
            run = folder / arm / f"seed{seed}"
            summary = json.loads((run / "summary.json").read_text())
            assert summary["status"] == "complete" and summary["env_steps"] == 1024
            assert json.loads((run / "posthoc.json").read_text()) == {
                "_steps": 1024, "evaluate --episodes 1": 0}

    result = json.loads((folder / "compare.json").read_text())
    (declared,) = result["sets"]
    assert declared["label"] == "declared, seeds 0, 1"
    for metric in ("final", "auc"):
        r = declared["comparisons"]["fast"][metric]
        hand = {seed: hand_scores(folder / "fast" / f"seed{seed}")[metric]
                - hand_scores(folder / "slow" / f"seed{seed}")[metric] for seed in (0, 1)}
        assert r["seeds"] == [0, 1]
        assert r["differences"] == pytest.approx([hand[0], hand[1]], abs=1e-9)
        assert r["median_difference"] == pytest.approx(statistics.median(hand.values()), abs=1e-9)
        assert r["ties"] == sum(d == 0 for d in hand.values())
        assert r["reading"] == "too few pairs to separate (n = 2 < 5)"
    md = (folder / "compare.md").read_text()
    assert "## declared, seeds 0, 1" in md and "| fast | final | 2 |" in md
    assert (folder / "compare.png").stat().st_size > 0
    assert (folder / "compare_curves.png").stat().st_size > 0

    # report keeps working on the experiment folder: one group per arm, two runs each
    code, out, err = run_cli(["report", str(folder)], capsys)
    assert code == 0, err
    report = json.loads((folder / "report.json").read_text())
    assert sorted(g["complete"] for g in report["configs"].values()) == [2, 2]

    # --analyse-only with a replication set: nothing trains, the new seeds have no runs yet
    code, out, err = run_cli(["compare", str(spec), "--seeds", "2", "--analyse-only"], capsys)
    assert code == 0, err
    assert not (folder / "slow" / "seed2").exists()
    labels = [s["label"] for s in json.loads((folder / "compare.json").read_text())["sets"]]
    assert labels == ["declared, seeds 0, 1", "replication, seeds 2, 3",
                      "pooled, post hoc, seeds 0-3"]
    assert "slow/seed2 (not complete)" in err


def test_post_hoc_commands_get_the_run_folder_unless_their_first_argument_names_a_target():
    from trainer.experiments.run import posthoc_argv

    run = Path("/x/arm/seed0")
    assert posthoc_argv(["transfer", "--episodes", "2"], run) == \
        ["transfer", "/x/arm/seed0", "--episodes", "2"]
    assert posthoc_argv(["represent", "--out", "{run}/r"], run) == \
        ["represent", "/x/arm/seed0", "--out", "/x/arm/seed0/r"]
    assert posthoc_argv(["transfer", "{run}/checkpoints/last.pt", "--joints", "5"], run) == \
        ["transfer", "/x/arm/seed0/checkpoints/last.pt", "--joints", "5"]
    assert posthoc_argv(["evaluate"], run) == ["evaluate", "/x/arm/seed0"]


class _Trial:
    """A trial as ``run_posthoc`` sees it: a run folder, a name, a config's ``steps``."""

    def __init__(self, run_dir: Path, steps: int):
        from types import SimpleNamespace

        from trainer.sweep.spec import Trial

        self.run_dir, self.name, self.cfg = run_dir, "arm/seed0", SimpleNamespace(steps=steps)
        self.is_finished = lambda: Trial.is_finished(self)


def _posthoc_calls(monkeypatch, trial, posthoc) -> list[list[str]]:
    """The train.py commands ``run_posthoc`` starts for ``trial`` (none is really run)."""
    import subprocess
    from types import SimpleNamespace

    from trainer.experiments import run as run_mod

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda argv, cwd=None: calls.append(argv[2:])
                        or SimpleNamespace(returncode=0))
    assert run_mod.run_posthoc(SimpleNamespace(posthoc=posthoc), [trial]) == []
    return calls


def test_post_hoc_waits_for_a_run_extended_to_more_steps_and_then_runs_again(tmp_path,
                                                                            monkeypatch):
    run = tmp_path / "arm" / "seed0"
    run.mkdir(parents=True)
    summary = lambda steps: (run / "summary.json").write_text(  # noqa: E731
        json.dumps({"status": "complete", "env_steps": steps}))
    posthoc = [["transfer", "--episodes", "5"]]
    summary(150)  # trained to 150 steps, post hoc done there
    assert _posthoc_calls(monkeypatch, _Trial(run, 150), posthoc) == [
        ["transfer", str(run), "--episodes", "5"]]
    assert _posthoc_calls(monkeypatch, _Trial(run, 150), posthoc) == []  # recorded: not again
    # the spec now says 300 steps: the 150-step run is not finished, so no post hoc on it
    assert _posthoc_calls(monkeypatch, _Trial(run, 300), posthoc) == []
    summary(300)  # trained on to 300: the 150-step record is stale, the command runs again
    assert _posthoc_calls(monkeypatch, _Trial(run, 300), posthoc) == [
        ["transfer", str(run), "--episodes", "5"]]
    assert _posthoc_calls(monkeypatch, _Trial(run, 300), posthoc) == []


@pytest.mark.parametrize("status, posthoc_runs", [("interrupted", False), ("not started", False),
                                                  ("complete", True)])
def test_a_stopped_compare_starts_no_post_hoc_command(tmp_path, capsys, monkeypatch, status,
                                                      posthoc_runs):
    """Ctrl-C stops the trials; the long post-hoc commands must not start after it."""
    from cli import compare_cmd

    started = []
    monkeypatch.setattr(compare_cmd, "require_ray", lambda: None)
    monkeypatch.setattr(compare_cmd, "ray_backend", lambda local: (
        lambda todo, *a: {t.name: {"status": status} for t in todo}))
    monkeypatch.setattr(compare_cmd, "run_posthoc", lambda exp, trials: started.append(1) or [])
    spec = write_spec(tmp_path / "spec.yaml", posthoc=[["evaluate", "--episodes", "1"]])
    code, out, err = run_cli(["compare", str(spec)], capsys)
    assert bool(started) == posthoc_runs
    if not posthoc_runs:
        assert code != 0 and "post hoc not started: the compare was stopped" in err
