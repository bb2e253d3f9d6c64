"""N training envs stepped together, in this process or spread over K worker processes.

``trainer.num_envs: N`` and ``trainer.env_workers: K`` (``configs/schema.py``) build a
``VectorEnv``: env ``i`` (``0 <= i < N``) is ``make_env(env_cfg, seed=env_seed(seed, i))``.

* ``K = 1``: one ``EnvGroup`` of the N envs in this process (no worker, no copies);
* ``K > 1``: gymnasium's ``AsyncVectorEnv`` over K ``EnvGroup`` s of consecutive envs, one per
  worker process (sizes ``ceil(N / K)`` or ``floor(N / K)``, the larger first; a smaller group
  pads its arrays to the larger size, as the shared spaces must be equal), observations through shared memory (``shared_memory=True``),
  actions and the small per-step arrays through its pipes, ``autoreset_mode=DISABLED`` (each
  group resets its own envs, below). Chosen over stable-baselines3's ``SubprocVecEnv`` (one env
  per process, observations pickled through pipes) because it is gymnasium's own maintained
  vector API with shared memory and per-worker ``call`` / ``set_attr`` (the exact-resume state
  travels through those), and a worker holding several envs is just a gymnasium env whose
  spaces are batched. Workers start with ``forkserver`` (no inherited pipe ends, so a worker
  sees its pipe close when the trainer dies, even by SIGKILL, and exits: no orphans) and
  ignore SIGINT / SIGTERM (the trainer finishes its step and checkpoints through them first).
  Pixel envs render in the workers.

Every step (``VectorEnv.step(actions[N, A])``) env ``i`` takes ``actions[i]``; an env whose
episode ends (terminated or truncated) is reset in the same step. It returns
``(next_obs, reward, terminated, truncated, obs)``, arrays over envs: ``next_obs[i]`` is the
observation the step reached (the last of an episode that ended: the bootstrap state at a time
limit), ``obs[i]`` the one the next action reads (``next_obs[i]``, or the reset observation).

Seeds: ``env_seed(seed, 0) = seed`` (so env 0 is the one-env run's env) and, for ``i > 0``,
the first word of ``numpy.random.SeedSequence([seed, i])`` (runs of neighbouring seeds share
no env stream). ``reset(seed=s)`` resets env ``i`` with ``env_seed(s, i)``; later episodes
continue each env's own task RNG.

``get_state()`` / ``set_state()`` are the N envs' exact states in env order (each env's
physics and task RNG, ``envs/dmc.py``), for checkpoints. A worker that dies raises
``EnvWorkerError`` naming it and its envs.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.async_vector_env import AsyncState

from configs.errors import EnvWorkerError


def env_seed(seed: int, i: int) -> int:
    """The seed of env ``i`` of a run seeded ``seed`` (module docstring)."""
    if i == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0])


class EnvGroup(gym.Env):
    """Envs ``first .. first + m - 1`` of a run as one gymnasium env with batched spaces.

    ``step(actions[slots, A])`` returns ``(obs[2, slots, *S], reward[slots], terminated[slots],
    truncated[slots], {})``: ``obs[0]`` the observations the step reached, ``obs[1]`` those the
    next action reads (an env that ended is reset here); only the first ``m`` of the
    ``slots >= m`` rows are envs (the rest is padding: zeros, actions ignored).
    ``reset(seed=s)`` resets env ``first + j`` with ``env_seed(s, first + j)``; ``env_states``
    (read and write) is each env's exact state.
    """

    metadata = {"render_modes": []}

    def __init__(self, envs: list, first: int = 0, slots: int | None = None):
        self.envs = envs
        self.first = first
        one = envs[0]
        m, box = slots or len(envs), one.observation_space   # S = box.shape: (D,) or pixels
        self.single_observation_space = box
        self.single_action_space = one.action_space
        self.observation_space = gym.spaces.Box(np.broadcast_to(box.low, (2, m, *box.shape)),
                                                np.broadcast_to(box.high, (2, m, *box.shape)),
                                                dtype=box.dtype)
        a = one.action_space
        self.action_space = gym.spaces.Box(np.broadcast_to(a.low, (m, *a.shape)),
                                           np.broadcast_to(a.high, (m, *a.shape)),
                                           dtype=a.dtype)
        self.frames_per_step = int(getattr(one, "frames_per_step", 1))
        self._obs = np.zeros(self.observation_space.shape, self.observation_space.dtype)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        for j, env in enumerate(self.envs):
            s = None if seed is None else env_seed(seed, self.first + j)
            self._obs[1, j] = env.reset(seed=s)[0]
        self._obs[0] = self._obs[1]
        return self._obs.copy(), {}

    def step(self, actions):
        m = self._obs.shape[1]
        reward = np.zeros(m, np.float64)
        terminated = np.zeros(m, bool)
        truncated = np.zeros(m, bool)
        for j, env in enumerate(self.envs):
            next_obs, reward[j], terminated[j], truncated[j], _ = env.step(actions[j])
            self._obs[0, j] = next_obs
            self._obs[1, j] = env.reset()[0] if terminated[j] or truncated[j] else next_obs
        return self._obs.copy(), reward, terminated, truncated, {}

    @property
    def env_states(self) -> list[dict[str, Any]]:
        return [env.get_state() for env in self.envs]

    @env_states.setter
    def env_states(self, states: list[dict[str, Any]]) -> None:
        for env, state in zip(self.envs, states, strict=True):
            env.set_state(state)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _make_group(env_cfg: dict, seed: int, first: int, m: int, slots: int,
                creator: int) -> EnvGroup:
    """Build envs ``first .. first + m - 1`` (in a worker: ignoring SIGINT and SIGTERM)."""
    if os.getpid() != creator:  # a worker process (AsyncVectorEnv also builds one here)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from configs.schema import EnvConfig
    from envs.factory import make_env

    cfg = EnvConfig.model_validate(env_cfg)
    return EnvGroup([make_env(cfg, seed=env_seed(seed, first + j)) for j in range(m)], first,
                    slots)


class VectorEnv:
    """``num_envs`` envs of ``env_cfg`` over ``workers`` processes (module docstring)."""

    def __init__(self, env_cfg, num_envs: int, workers: int, seed: int):
        if not 1 <= workers <= num_envs:
            raise ValueError(f"{workers} workers for {num_envs} envs")
        self.num_envs, self.workers = num_envs, workers
        self.sizes = [num_envs // workers + (k < num_envs % workers) for k in range(workers)]
        self.firsts = [sum(self.sizes[:k]) for k in range(workers)]
        self.slots = self.sizes[0]
        # env i's row in the groups' padded arrays, flattened over workers
        self._rows = np.array([k * self.slots + j for k in range(workers)
                               for j in range(self.sizes[k])])
        fns = [partial(_make_group, env_cfg.model_dump(mode="json"), seed, self.firsts[k],
                       self.sizes[k], self.slots, os.getpid()) for k in range(workers)]
        if workers == 1:
            self._group, self._vec = fns[0](), None
            template = self._group.envs[0]
        else:
            self._group, template = None, None
            self._vec = gym.vector.AsyncVectorEnv(
                fns, shared_memory=True, context="forkserver", daemon=True,
                autoreset_mode=gym.vector.AutoresetMode.DISABLED)
        if self._vec is None:
            self.single_observation_space = template.observation_space
            self.single_action_space = template.action_space
            self.frames_per_step = self._group.frames_per_step
        else:  # the groups' batched spaces -> one env's
            box, act = self._vec.single_observation_space, self._vec.single_action_space
            self.single_observation_space = gym.spaces.Box(box.low[0, 0], box.high[0, 0],
                                                           dtype=box.dtype)
            self.single_action_space = gym.spaces.Box(act.low[0], act.high[0], dtype=act.dtype)
            self.frames_per_step = int(self._guard(
                lambda: self._vec.get_attr("frames_per_step"))[0])

    # --- errors ---------------------------------------------------------------------------
    def _guard(self, fn):
        """``fn()``; a worker that died becomes one ``EnvWorkerError`` naming it."""
        try:
            return fn()
        except (EOFError, ConnectionError, BrokenPipeError, OSError) as e:
            k, deadline = None, time.monotonic() + 5.0
            while k is None and time.monotonic() < deadline:  # its exit status comes shortly
                dead = [k for k, p in enumerate(self._vec.processes) if p.exitcode is not None]
                k = dead[0] if dead else time.sleep(0.05)
            if k is None:
                raise EnvWorkerError(f"an env worker stopped answering ({type(e).__name__}); "
                                     "the run stopped without saving this state") from None
            code = self._vec.processes[k].exitcode
            how = (f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}")
            first = self.firsts[k]
            raise EnvWorkerError(
                f"env worker {k} (envs {first}..{first + self.sizes[k] - 1} of "
                f"trainer.num_envs={self.num_envs}) died ({how}); the run stopped without "
                "saving this state: rerun the same command to resume from its last checkpoint"
            ) from None

    # --- stepping -------------------------------------------------------------------------
    def _split(self, obs: np.ndarray):
        """``[K, 2, m, *S]`` or ``[2, N, *S]`` -> ``(reached[N, *S], next[N, *S])``."""
        if self._vec is not None:
            obs = obs.swapaxes(0, 1).reshape(2, self.workers * self.slots, *obs.shape[3:])
            return obs[0][self._rows], obs[1][self._rows]
        return obs[0].copy(), obs[1].copy()

    def reset(self, seed: int | None = None):
        if self._vec is None:
            obs, _ = self._group.reset(seed=seed)
        else:
            seeds = None if seed is None else [seed] * self.workers
            obs, _ = self._guard(lambda: self._vec.reset(seed=seeds))
        return self._split(obs)[1], {}

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions)
        if self._vec is None:
            obs, reward, terminated, truncated, _ = self._group.step(actions)
        else:
            padded = np.zeros((self.workers * self.slots, *actions.shape[1:]), actions.dtype)
            padded[self._rows] = actions
            batched = padded.reshape(self.workers, self.slots, *actions.shape[1:])
            obs, reward, terminated, truncated, _ = self._guard(lambda: self._vec.step(batched))
            rows = self._rows
            reward, terminated, truncated = (np.asarray(x).reshape(-1)[rows]
                                             for x in (reward, terminated, truncated))
        reached, nxt = self._split(obs)
        return (reached, np.asarray(reward, np.float64), np.asarray(terminated, bool),
                np.asarray(truncated, bool), nxt)

    # --- exact state ----------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        if self._vec is None:
            return {"envs": self._group.env_states}
        groups = self._guard(lambda: self._vec.get_attr("env_states"))
        return {"envs": [s for group in groups for s in group]}

    def set_state(self, state: dict[str, Any]) -> None:
        states = list(state["envs"])
        if len(states) != self.num_envs:
            raise ValueError(f"the checkpoint holds {len(states)} envs, this run has "
                             f"trainer.num_envs={self.num_envs}")
        if self._vec is None:
            self._group.env_states = states
            return
        self._guard(lambda: self._vec.set_attr(
            "env_states", [states[f:f + m] for f, m in zip(self.firsts, self.sizes)]))

    @property
    def worker_pids(self) -> list[int]:
        return [] if self._vec is None else [p.pid for p in self._vec.processes]

    def close(self) -> None:
        if self._vec is None:
            self._group.close()
            return
        if self._vec.closed:
            return
        vec = self._vec
        if vec._state == AsyncState.DEFAULT and all(p.exitcode is None for p in vec.processes):
            try:
                vec.close()  # each worker closes its envs and exits
                return
            except (EOFError, ConnectionError, BrokenPipeError, OSError):
                pass
        # a dead worker or a step cut short: SIGKILL the rest (they ignore SIGTERM, which
        # gymnasium's close(terminate=True) would send)
        for p in vec.processes:
            if p.exitcode is None:
                p.kill()
        for p in vec.processes:
            p.join()
        for pipe in vec.parent_pipes:
            if pipe is not None:
                pipe.close()
        vec.closed = True


def default_workers(num_envs: int, cores: int | None = None) -> int:
    """``trainer.env_workers`` left unset: ``min(num_envs, cores)``, the cores this process
    may use (1 for one env)."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            (os.cpu_count() or 1)
    return max(1, min(num_envs, cores))
