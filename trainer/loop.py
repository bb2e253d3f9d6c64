"""The one trainer loop. It names no algorithm, circuit, body or observation type.

Each agent step::

    action = agent.act(obs, explore=True)
    next_obs, reward, terminated, truncated = env.step(action)
    agent.observe(Transition(...));  episode end -> agent.on_episode_end(info), env.reset()
    for _ in range(agent.updates_due(step)): metrics = agent.update()   # NaN/Inf-checked
    every log_every:         metrics.csv / TensorBoard row, progress bar
    every eval_every:        evaluation on the eval env (trainer/evaluation.py) -> eval.csv, best.pt
    every checkpoint_every:  atomic checkpoint (agent, env state, counters, RNGs)
    (the last step logs, evaluates and checkpoints)

Within a step, the log rows are written before the checkpoint, so the checkpoint of step ``s``
comes after every row of steps ``<= s`` and before any later one: a run killed at any point
resumes from its newest checkpoint with its logs repaired to that step (``trainer/logger.py``).

Before every log row, evaluation and checkpoint the loop drains the agent's optional deferred
outputs (``agents/common/base.py``): ``pending_metrics()`` (per-update metrics kept on the device,
NaN/Inf-checked like ``update()``'s, so a bad loss still stops the run before anything is written
from that state) and ``records()`` (rows of the run folder's ``<table>.csv``).

``steps`` count agent steps; ``frames = steps * env.frames_per_step`` (action repeat).
SIGINT/SIGTERM finish the current step, write a checkpoint and return, so the same command
resumes later.

Several envs (``trainer.num_envs: N > 1``, ``trainer.env_workers: K``; ``envs/vector.py``).
``env`` is then a ``VectorEnv`` of N envs over K worker processes, and each loop step is one
env step of every env::

    actions[N] = agent.act(obs[N], explore=True)                 # one batched call
    next_obs[N], reward[N], terminated[N], truncated[N], obs'[N] = env.step(actions)
    agent.observe(Transition(obs, actions, reward, next_obs, terminated, truncated))  # arrays
    steps += N;  for each env i that ended, in env order: episodes += 1,
        agent.on_episode_end(info | {"env": i});  obs'[i] is env i's reset observation
    for _ in range(agent.updates_due(steps)): agent.update()
    log / evaluate / checkpoint when ``steps`` passes a multiple of log_every / eval_every /
    checkpoint_every (``steps`` must be a multiple of N)

``next_obs[i]`` is the observation the step reached even when env i's episode ended there
(the bootstrap state of a time limit); every env resets on its own. The checkpoint holds every
env's exact state (``VectorEnv.get_state``: physics and task RNG) and the per-env counters
(``obs``, ``episode_return``, ``episode_length`` as arrays over envs), so a resumed run
continues bit for bit whatever K is. A worker that dies stops the run with one line
(``EnvWorkerError``) and writes no checkpoint of that state.

The agent protocol grows by a capability flag, not a new method: an agent whose config class
has ``vector_envs = True`` (PPO, ES, the off-policy agent) is built with ``num_envs=N`` and
takes arrays over envs in ``act`` and ``observe`` (``Transition`` fields with the env axis
first); an agent without it (a plug-in written for one env) keeps its one-env protocol
unchanged, and ``trainer.num_envs > 1`` with it is refused when the config loads (one line
naming the key). With ``N = 1`` the loop below runs exactly as it always did.
"""

from __future__ import annotations

import math
import signal
import time
from typing import Any

import numpy as np

from agents.common.base import DivergenceError, Transition
from trainer.checkpoint import CheckpointError, CheckpointManager, rng_state, set_rng_state
from trainer.evaluation import Evaluator


class Trainer:
    def __init__(self, cfg, run_dir, env, eval_env, agent, seed: int, logger=None):
        self.cfg = cfg
        self.tcfg = cfg.trainer
        self.run_dir = run_dir
        self.env = env
        self.eval_env = eval_env
        self.evaluator = Evaluator(eval_env, cfg.trainer.eval_episodes,
                                   seed + cfg.trainer.eval_seed_offset, cfg.trainer.eval_actions,
                                   cfg.trainer.eval_seeding)
        self.agent = agent
        self.log = logger
        self.ckpt = CheckpointManager(run_dir.checkpoints, cfg.trainer.keep_checkpoints)
        self.frames_per_step = int(getattr(env, "frames_per_step", 1))
        self.num_envs = int(cfg.trainer.num_envs)
        self.seed = seed
        # counters (all restored on resume)
        self.step = 0
        self.episodes = 0
        self.obs: np.ndarray | None = None
        self.episode_return = 0.0 if self.num_envs == 1 else np.zeros(self.num_envs)
        self.episode_length = 0 if self.num_envs == 1 else np.zeros(self.num_envs, np.int64)
        self.best_eval = -math.inf
        self.initial_eval: float | None = None
        self.last_eval: float | None = None
        self.last_eval_step: int | None = None
        self.train_seconds = 0.0
        # metrics accumulated since the last metrics.csv row
        self.window: dict[str, list[float]] = {}
        self.window_steps = 0
        self.window_seconds = 0.0
        self._stop_requested = False
        self._session_start = (0, 0.0)  # (step, training seconds) when this process began

    # --- persistence ----------------------------------------------------------------------
    def _counters(self) -> dict[str, Any]:
        return {"step": self.step, "episodes": self.episodes, "obs": self.obs,
                "episode_return": self.episode_return, "episode_length": self.episode_length,
                "best_eval": self.best_eval, "initial_eval": self.initial_eval,
                "last_eval": self.last_eval, "last_eval_step": self.last_eval_step,
                "train_seconds": self.train_seconds, "window": self.window,
                "window_steps": self.window_steps, "window_seconds": self.window_seconds}

    def _snapshot(self, include_replay: bool) -> dict[str, Any]:
        return {"step": self.step, "trainer": self._counters(),
                "agent": self.agent.state_dict(include_replay=include_replay),
                "env": self.env.get_state(), "evaluator": self.evaluator.state_dict(),
                "rng": rng_state(),
                "config": self.cfg.model_dump(mode="json")}

    def restore(self, ckpt: dict[str, Any]) -> None:
        for k, v in ckpt["trainer"].items():
            setattr(self, k, v)
        # an interrupted window's time is the run's but its rate is not this process's: the
        # first row after a resume reports the rate of this process's steps only
        self.train_seconds += self.window_seconds
        self.window_steps, self.window_seconds = 0, 0.0
        try:
            self.agent.load_state_dict(ckpt["agent"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"checkpoint does not match this agent ({type(e).__name__}: "
                                  f"{str(e).splitlines()[0][:120]})") from None
        self.env.set_state(ckpt["env"])
        if "evaluator" in ckpt:
            self.evaluator.load_state_dict(ckpt["evaluator"])
        set_rng_state(ckpt["rng"])

    def save_checkpoint(self) -> None:
        self._drain_agent()
        self.ckpt.save(self._snapshot(self.tcfg.save_replay), self.step)

    def _drain_agent(self) -> None:
        """Collect the agent's deferred metrics (checked) and records (written)."""
        pending = getattr(self.agent, "pending_metrics", None)
        if pending is not None:
            for k, values in pending().items():
                for v in values:
                    self._check_finite({k: v})
                self.window.setdefault(k, []).extend(values)
        records = getattr(self.agent, "records", None)
        if records is not None:
            for table, rows in records().items():
                self.log.log_records(table, rows)

    # --- evaluation -----------------------------------------------------------------------
    def evaluate(self) -> float:
        self._drain_agent()
        t0 = time.perf_counter()
        returns = self.evaluator(self.agent)
        mean = float(returns.mean())
        self.log.log_eval({"step": self.step, "frames": self.step * self.frames_per_step,
                           "mean_return": mean, "std_return": float(returns.std()),
                           "min_return": float(returns.min()), "max_return": float(returns.max()),
                           "episodes": len(returns), "seconds": time.perf_counter() - t0})
        if self.initial_eval is None:
            self.initial_eval = mean
        self.last_eval = mean
        self.last_eval_step = self.step
        if mean > self.best_eval:
            self.best_eval = mean
            self.ckpt.save_best(self._snapshot(include_replay=False))
        return mean

    # --- the loop -------------------------------------------------------------------------
    def _request_stop(self, signum, frame) -> None:
        self._stop_requested = True

    def run(self) -> dict[str, Any]:
        """Train until ``cfg.steps`` (or a stop signal); returns ``{"interrupted": bool}``."""
        total = self.cfg.steps
        handlers = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        self._session_start = (self.step, self.train_seconds + self.window_seconds)
        try:
            if self.obs is None:
                self.obs, _ = self.env.reset(seed=self.seed)
                if self.tcfg.eval_at_start:
                    self.evaluate()
            if self.num_envs == 1:
                self._loop(total)
            else:
                self._loop_envs(total)
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
        interrupted = self.step < total
        if interrupted:
            self.save_checkpoint()
        return {"interrupted": interrupted}

    def _loop(self, total: int) -> None:
        tcfg, env, agent, window = self.tcfg, self.env, self.agent, self.window
        clock = time.perf_counter()
        while self.step < total and not self._stop_requested:
            obs = self.obs
            action = agent.act(obs, explore=True)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            agent.observe(Transition(obs, action, reward, next_obs, terminated, truncated))
            self.step += 1
            self.window_steps += 1
            self.episode_return += reward
            self.episode_length += 1
            if terminated or truncated:
                self.episodes += 1
                agent.on_episode_end({"episode": self.episodes, "return": self.episode_return,
                                      "length": self.episode_length, "step": self.step})
                window.setdefault("episode_return", []).append(self.episode_return)
                window.setdefault("episode_length", []).append(self.episode_length)
                self.episode_return, self.episode_length = 0.0, 0
                self.obs, _ = env.reset()
            else:
                self.obs = next_obs
            for _ in range(agent.updates_due(self.step)):
                metrics = agent.update()
                self._check_finite(metrics)
                for k, v in metrics.items():
                    window.setdefault(k, []).append(v)
            self.log.advance()

            now = time.perf_counter()
            self.window_seconds += now - clock
            if self.step % tcfg.log_every == 0 or self.step == total:
                self._log_window()
            if self.step % tcfg.eval_every == 0 or self.step == total:
                self.evaluate()
            if self.step % tcfg.checkpoint_every == 0 or self.step == total:
                self.save_checkpoint()
            clock = time.perf_counter()  # evaluation and checkpoints are not training time

    def _loop_envs(self, total: int) -> None:
        """``_loop`` over N envs at once (module docstring); ``steps`` grow by N per pass."""
        tcfg, env, agent, window, n = self.tcfg, self.env, self.agent, self.window, self.num_envs
        clock = time.perf_counter()
        while self.step < total and not self._stop_requested:
            obs = self.obs
            action = agent.act(obs, explore=True)
            next_obs, reward, terminated, truncated, after = env.step(action)
            agent.observe(Transition(obs, action, reward, next_obs, terminated, truncated))
            before = self.step
            self.step += n
            self.window_steps += n
            self.episode_return = self.episode_return + reward
            self.episode_length = self.episode_length + 1
            for i in np.flatnonzero(terminated | truncated):
                self.episodes += 1
                ret, length = float(self.episode_return[i]), int(self.episode_length[i])
                agent.on_episode_end({"episode": self.episodes, "return": ret,
                                      "length": length, "step": self.step, "env": int(i)})
                window.setdefault("episode_return", []).append(ret)
                window.setdefault("episode_length", []).append(length)
                self.episode_return[i], self.episode_length[i] = 0.0, 0
            self.obs = after
            for _ in range(agent.updates_due(self.step)):
                metrics = agent.update()
                self._check_finite(metrics)
                for k, v in metrics.items():
                    window.setdefault(k, []).append(v)
            self.log.advance(n)

            now = time.perf_counter()
            self.window_seconds += now - clock
            passed = lambda every: self.step // every > before // every  # noqa: E731
            if passed(tcfg.log_every) or self.step == total:
                self._log_window()
            if passed(tcfg.eval_every) or self.step == total:
                self.evaluate()
            if passed(tcfg.checkpoint_every) or self.step == total:
                self.save_checkpoint()
            clock = time.perf_counter()  # evaluation and checkpoints are not training time

    def _log_window(self) -> None:
        self._drain_agent()
        self.train_seconds += self.window_seconds
        row = {"step": self.step, "frames": self.step * self.frames_per_step,
               "episodes": self.episodes,
               "steps_per_second": self.window_steps / max(self.window_seconds, 1e-9),
               "train_seconds": self.train_seconds}
        row.update({k: float(np.mean(v)) for k, v in self.window.items()})
        self.log.log_train(row)
        self.window.clear()
        self.window_steps, self.window_seconds = 0, 0.0

    def session_rate(self) -> float | None:
        """Agent steps per training second (evaluations and checkpoints excluded) of this
        process only: a resumed run's earlier steps do not count; None before any step."""
        step, seconds = self._session_start
        elapsed = self.train_seconds + self.window_seconds - seconds
        return (self.step - step) / elapsed if elapsed > 0 else None

    def _check_finite(self, metrics: dict[str, float]) -> None:
        for k, v in metrics.items():
            if k.startswith("loss") and not math.isfinite(v):
                raise DivergenceError(
                    f"{k} became {v} at step {self.step}; stopped without saving this state "
                    f"(last good checkpoint: {self.run_dir.last_checkpoint if self.run_dir.is_resumable() else 'none'})")
