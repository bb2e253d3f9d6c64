"""Replay for off-policy agents: every observation stored once, stacks and n-step windows by index.

``FrameReplay`` stores uint8 images for pixel agents; ``VectorReplay`` is the same ring with
float32 state vectors as "frames" and a stack of one (``agents/offpolicy/agent.py`` picks by
observation type). Everything below holds for both with ``(c, h, w)`` read as ``(d,)``.

Storage is one ring of ``capacity`` slots. A slot holds one uint8 image ``(c, h, w)`` and the
step that produced it: slot ``s`` with in-episode index ``k_s >= 1`` stores image ``f_k`` and
the transition ``(f_{k-1} -> a_{k-1}, r_{k-1}) -> f_k``; an episode's reset image takes one slot
of its own (``k = 0``, no transition). With ``T``-step episodes ``capacity`` slots therefore hold
``capacity * T / (T + 1)`` transitions (0.2% fewer at DMC's 500 agent steps).

Rebuilt on sampling (``m`` = frame stack, ``n`` = n-step, ``gamma`` per agent step):

* observation ending at image ``k``: images ``max(k - m + 1, 0) ... k`` oldest first, the reset
  image repeated at the start of an episode (exactly what ``envs.pixels.PixelEnv`` returns);
* n-step target of the transition leaving image ``t``: the window stops early at an episode end
  (terminated or truncated) and at the newest stored step, giving ``1 <= j <= n`` steps,
  ``R = sum_{i<j} gamma^i r_{t+i}``, ``discount = gamma^j (1 - terminal_{t+j})``,
  ``next_obs`` = observation ending at image ``t + j``. A time limit bootstraps; a terminal
  state does not. A window cut at the newest step is a valid ``j``-step target, so transitions
  are sampleable as soon as they are stored, including from the unfinished episode.

Memory: one slot is ``c h w`` bytes of image plus ``4 |A| + 14`` bytes of step data (21,206 B at
84x84 with 6 actions, 1.002x one frame); DrQ-v2's stacked-observation storage takes ``m`` times
the image bytes per step. A state slot is ``4 d + 4 |A| + 14`` bytes (``d`` = observation size;
swim N = 5 with the time feature: 130 B), about half of a store of ``(s, a, r, s')`` tuples.

K-step windows (``sample(batch, window=K)``, for auxiliary losses): for the sampled transition
leaving image ``t``, the observations ending at images ``t + 1 ... t + K``, the actions and
rewards ``a_{t+k}, r_{t+k}`` (``k < K``) and a mask ``valid_k``: step ``k`` is stored and no
episode ended before it (the n-step rule above, without the ``n`` cap). Everything is index
arithmetic on the same ring (no frame is stored twice); the ring position is taken modulo
``capacity`` everywhere, so a window that runs over the ring's wrap-around is read in order.
Invalid steps carry zero actions and rewards and repeat the last valid observation (a real,
in-episode image stack), so nothing from another episode or an unwritten slot leaks in.
Step 0 is always valid (it is the sampled transition itself).

Sampling is uniform over stored transitions whose frame stack is still in the ring (vectorised
rejection of reset slots and of the oldest transitions whose history was overwritten), with the
buffer's own ``np.random.Generator``, which ``state_dict`` saves for exact resume.

Several envs (``trainer.num_envs: N > 1``, ``StreamReplay``): one ring per env (a *stream*),
``capacity // N`` slots each (the first ``capacity mod N`` streams one more, so ``capacity``
stays the total). Env ``i``'s steps go to stream ``i`` only, so everything above (frame
stacks, n-step targets, K-step windows, episode ends) is index arithmetic within one env's own
consecutive steps and never mixes two envs. Sampling treats the N rings' filled slots as one
array of ``sum_i size_i`` slots: a uniform draw over it, rejecting reset slots and overwritten
histories in the slot's own stream, is uniform over all sampleable transitions (stream ``i`` is
chosen with probability proportional to its sampleable count), with the ``StreamReplay``'s own
generator (saved by ``state_dict``; the streams' generators are not used). ``N = 1`` is the
plain ring (``make_replay``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from agents.common.base import Transition
from configs.errors import ConfigError

log = logging.getLogger(__name__)

_ARRAYS = ("frames", "actions", "rewards", "index", "terminal", "episode_end")


class FrameReplay:
    """Ring buffer of single frames (module docstring).

    Args:
        capacity: number of slots (stored steps) kept; the oldest is overwritten first.
        frame_shape: one image ``(c, h, w)``; observations are ``(c * frame_stack, h, w)``.
        frame_stack: images per observation ``m``.
        action_dim: action size.
        n_step: maximum n-step window ``n``.
        gamma: discount per agent step.
        seed: seed of the sampling generator.
        dtype: storage type of a frame (uint8 images; ``VectorReplay``: float32 states).
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, ...], frame_stack: int,
                 action_dim: int, n_step: int, gamma: float, seed: int,
                 dtype: np.dtype = np.uint8):
        if capacity < frame_stack + n_step:
            raise ValueError(f"replay capacity must be >= frame_stack + n_step "
                             f"({frame_stack + n_step}), got {capacity}")
        self.capacity = capacity
        self.frame_shape = tuple(frame_shape)
        self.frame_stack = frame_stack
        self.n_step = n_step
        self.gamma = gamma
        self.frames = np.empty((capacity, *frame_shape), dtype)
        self.actions = np.zeros((capacity, action_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.index = np.zeros(capacity, np.int64)      # k: image index within its episode
        self.terminal = np.zeros(capacity, bool)       # image k is a terminal state
        self.episode_end = np.zeros(capacity, bool)    # episode ended at image k (term or trunc)
        self.pos = 0          # next slot to write
        self.size = 0         # slots holding data
        self.open_episode = False
        self.transitions = 0  # slots with k >= 1
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._gamma_pow = gamma ** np.arange(n_step + 1)

    # --- sizes ----------------------------------------------------------------------------
    @property
    def bytes_per_slot(self) -> int:
        """Bytes of one slot: the image plus the action, reward and bookkeeping."""
        return int(sum(a.itemsize * int(np.prod(a.shape[1:]))
                       for a in (getattr(self, name) for name in _ARRAYS)))

    @property
    def bytes_per_transition(self) -> float:
        """Bytes per stored transition, ignoring the one reset slot per episode."""
        return float(self.bytes_per_slot)

    @property
    def projected_bytes(self) -> int:
        """RAM of the full buffer (numpy allocates lazily; this is what it grows to)."""
        return self.capacity * self.bytes_per_slot

    def __len__(self) -> int:
        """Stored transitions (slots that are not reset images)."""
        return self.transitions

    # --- writing --------------------------------------------------------------------------
    def _write(self, frame: np.ndarray, k: int, action, reward: float, terminal: bool,
               end: bool) -> None:
        s = self.pos
        self.transitions += int(k > 0) - int(s < self.size and self.index[s] > 0)
        self.frames[s] = frame
        self.index[s] = k
        self.actions[s] = action
        self.rewards[s] = reward
        self.terminal[s] = terminal
        self.episode_end[s] = end
        self.pos = (s + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add(self, tr: Transition) -> None:
        """Store one step. The first step of an episode also stores its reset image.

        If ``tr.obs`` does not continue the stored episode (its newest image differs from the
        last stored one: the env was reset without an episode end), the stored episode is
        closed as truncated and a new one begins.
        """
        c, dtype = self.frame_shape[0], self.frames.dtype
        first = np.asarray(tr.obs[-c:], dtype=dtype)
        last = np.asarray(tr.next_obs[-c:], dtype=dtype)
        prev = (self.pos - 1) % self.capacity
        if self.open_episode and not np.array_equal(self.frames[prev], first):
            self.episode_end[prev] = True
            self.open_episode = False
        if not self.open_episode:
            self._write(first, 0, 0.0, 0.0, False, False)
            self.open_episode = True
            prev = (self.pos - 1) % self.capacity
        end = bool(tr.terminated or tr.truncated)
        self._write(last, int(self.index[prev]) + 1, tr.action, tr.reward, bool(tr.terminated),
                    end)
        self.open_episode = not end

    # --- sampling -------------------------------------------------------------------------
    def _age(self, slots: np.ndarray) -> np.ndarray:
        """Steps between each slot and the newest one (0 = newest)."""
        return (self.pos - 1 - slots) % self.capacity

    def _sampleable(self, slots: np.ndarray) -> np.ndarray:
        """Transition slots whose whole observation stack is still stored."""
        k = self.index[slots]
        history = np.minimum(k, self.frame_stack)
        return (k >= 1) & (self._age(slots) + history < self.size)

    def _stack(self, slots: np.ndarray) -> np.ndarray:
        """Observations ending at ``slots``: ``(B, c * m, h, w)`` uint8."""
        k = self.index[slots][:, None]
        back = np.minimum(np.arange(self.frame_stack - 1, -1, -1)[None, :], k)
        frames = self.frames[(slots[:, None] - back) % self.capacity]
        return frames.reshape(len(slots), -1, *self.frame_shape[1:])

    def _used(self, slots: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """``(window, used)``: the ``length`` slots from each of ``slots`` on, and whether step
        ``i`` is stored and no episode ended before it."""
        window = (slots[:, None] + np.arange(length)[None, :]) % self.capacity
        stored = np.arange(length)[None, :] <= self._age(slots)[:, None]
        ended_before = np.cumsum(self.episode_end[window], axis=1) - self.episode_end[window]
        return window, stored & (ended_before == 0)

    def sample(self, batch_size: int, window: int = 0,
               window_obs: list[int] | None = None) -> dict[str, np.ndarray]:
        """A uniform batch: ``obs, action, reward (R), discount, next_obs`` (module docstring).

        With ``window = K > 0`` also ``window_action`` ``(B, K, |A|)``, ``window_reward``
        ``(B, K)``, ``window_mask`` ``(B, K)`` bool and ``window_obs`` ``(B, len, c m, h, w)``:
        the observations ``o_{t+k}`` for ``k`` in ``window_obs`` (offsets in ``1 ... K``;
        default all), for the same transitions (module docstring). The window draws no random
        numbers: a batch is the same with or without it.
        """
        self._check_sample(window, window_obs)
        if self.transitions == 0:
            raise ValueError("replay holds no transitions yet: store at least one step first")
        slots = self.rng.integers(0, self.size, batch_size)
        slots = (self.pos - self.size + slots) % self.capacity
        bad = ~self._sampleable(slots)
        while bad.any():
            redraw = self.rng.integers(0, self.size, int(bad.sum()))
            slots[bad] = (self.pos - self.size + redraw) % self.capacity
            bad[bad] = ~self._sampleable(slots[bad])
        return self._batch(slots, window, window_obs)

    def _check_sample(self, window: int, window_obs: list[int] | None) -> None:
        """A window this ring cannot serve: ``ValueError``."""
        if window < 0 or window > self.capacity - self.frame_stack:
            raise ValueError(f"replay window must be in [0, capacity - frame_stack] = "
                             f"[0, {self.capacity - self.frame_stack}], got {window}")
        if window and window_obs is not None and any(not 1 <= k <= window for k in window_obs):
            raise ValueError(f"window_obs offsets must be in 1 ... {window}, got "
                             f"{list(window_obs)}")

    def _batch(self, slots: np.ndarray, window: int,
               window_obs: list[int] | None) -> dict[str, np.ndarray]:
        """``sample``'s batch for the drawn transition ``slots`` (no random numbers)."""
        batch_size = len(slots)
        n = self.n_step
        steps, used = self._used(slots, n)
        j = used.sum(axis=1)
        reward = (self.rewards[steps] * self._gamma_pow[:n] * used).sum(axis=1)
        last = steps[np.arange(batch_size), j - 1]
        discount = self._gamma_pow[j] * ~self.terminal[last]
        batch = {"obs": self._stack((slots - 1) % self.capacity),
                 "action": self.actions[slots],
                 "reward": reward.astype(np.float32)[:, None],
                 "discount": discount.astype(np.float32)[:, None],
                 "next_obs": self._stack(last)}
        if window:
            offsets = list(range(1, window + 1)) if window_obs is None else list(window_obs)
            batch.update(self._window(slots, window, offsets))
        return batch

    def _window(self, slots: np.ndarray, k: int, offsets: list[int]) -> dict[str, np.ndarray]:
        """The ``k``-step window of ``sample`` (module docstring)."""
        steps, valid = self._used(slots, k)
        # the last valid step of each prefix: invalid steps repeat its observation
        last_valid = np.maximum.accumulate(np.where(valid, np.arange(k)[None, :], 0), axis=1)
        ends = np.take_along_axis(steps, last_valid, axis=1)[:, [o - 1 for o in offsets]]
        obs = (self._stack(ends.reshape(-1)) if offsets else
               np.empty((0, *self._stack_shape), self.frames.dtype))
        obs = obs.reshape(len(slots), len(offsets), *self._stack_shape)
        return {"window_obs": obs,
                "window_action": self.actions[steps] * valid[..., None],
                "window_reward": self.rewards[steps] * valid,
                "window_mask": valid}

    @property
    def _stack_shape(self) -> tuple[int, ...]:
        return (self.frame_shape[0] * self.frame_stack, *self.frame_shape[1:])

    # --- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything for exact resume. The arrays are zero-copy ``torch`` views of the filled
        slots (``torch.save`` writes them without a second in-memory copy of a multi-GB buffer),
        so save the state before storing more steps."""
        n = self.size
        arrays = {name: torch.from_numpy(getattr(self, name)[:n]) for name in _ARRAYS}
        return {**arrays, "pos": self.pos, "size": n, "open_episode": self.open_episode,
                "capacity": self.capacity, "frame_shape": self.frame_shape,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["capacity"] != self.capacity or tuple(state["frame_shape"]) != self.frame_shape:
            raise ValueError(f"saved replay has capacity {state['capacity']} and frames "
                             f"{tuple(state['frame_shape'])}; this run expects {self.capacity} "
                             f"and {self.frame_shape}")
        n = state["size"]
        for name in _ARRAYS:
            getattr(self, name)[:n] = np.asarray(state[name])
        self.pos, self.size, self.open_episode = state["pos"], n, state["open_episode"]
        self.transitions = int(np.count_nonzero(self.index[:n]))
        self.rng.bit_generator.state = state["rng"]


class VectorReplay(FrameReplay):
    """The frame ring for state vectors: one float32 observation of size ``obs_dim`` per slot
    and a stack of one, so ``obs``/``next_obs`` batches are ``(B, obs_dim)``. Sampling, n-step
    targets, episode handling and persistence are ``FrameReplay``'s (module docstring)."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, n_step: int, gamma: float,
                 seed: int):
        super().__init__(capacity, (obs_dim,), 1, action_dim, n_step, gamma, seed,
                         dtype=np.float32)


class StreamReplay:
    """One ring per env (``streams[i]`` holds env ``i``'s steps), sampled as one buffer
    (module docstring, "Several envs"). ``add`` takes a ``Transition`` of arrays with the env
    axis first; ``sample``, ``len``, ``state_dict`` answer as a ``FrameReplay`` does.

    Args:
        streams: the N rings (``FrameReplay`` or ``VectorReplay``), env order.
        seed: seed of the sampling generator.
    """

    def __init__(self, streams: list[FrameReplay], seed: int):
        self.streams = streams
        one = streams[0]
        self.capacity = sum(s.capacity for s in streams)
        self.frame_shape, self.frame_stack = one.frame_shape, one.frame_stack
        self.n_step, self.gamma = one.n_step, one.gamma
        self.rng = np.random.Generator(np.random.PCG64(seed))

    @property
    def bytes_per_slot(self) -> int:
        return self.streams[0].bytes_per_slot

    @property
    def bytes_per_transition(self) -> float:
        return self.streams[0].bytes_per_transition

    @property
    def projected_bytes(self) -> int:
        return sum(s.projected_bytes for s in self.streams)

    def __len__(self) -> int:
        return sum(len(s) for s in self.streams)

    def add(self, tr: Transition) -> None:
        """Store one step of every env: row ``i`` of each field goes to stream ``i``."""
        for i, stream in enumerate(self.streams):
            stream.add(Transition(tr.obs[i], tr.action[i], tr.reward[i], tr.next_obs[i],
                                  tr.terminated[i], tr.truncated[i]))

    def sample(self, batch_size: int, window: int = 0,
               window_obs: list[int] | None = None) -> dict[str, np.ndarray]:
        """``FrameReplay.sample`` over all streams: row ``b`` is a uniform draw among every
        stream's sampleable transitions, built from its own stream's steps."""
        # a window must fit the smallest stream's ring
        min(self.streams, key=lambda s: s.capacity)._check_sample(window, window_obs)
        if len(self) == 0:
            raise ValueError("replay holds no transitions yet: store at least one step first")
        sizes = np.array([s.size for s in self.streams])
        starts = np.cumsum(sizes) - sizes
        stream = np.zeros(batch_size, np.int64)
        slots = np.zeros(batch_size, np.int64)
        bad = np.ones(batch_size, bool)
        while bad.any():
            g = self.rng.integers(0, int(sizes.sum()), int(bad.sum()))
            i = np.searchsorted(starts, g, side="right") - 1
            stream[bad] = i
            slots[bad] = g - starts[i]
            redrawn = np.flatnonzero(bad)
            for k in np.unique(i):
                rows = redrawn[i == k]
                s = self.streams[k]
                slots[rows] = (s.pos - s.size + slots[rows]) % s.capacity
                bad[rows] = ~s._sampleable(slots[rows])
        parts = {}
        for k in np.unique(stream):
            rows = np.flatnonzero(stream == k)
            parts[k] = (rows, self.streams[k]._batch(slots[rows], window, window_obs))
        first = next(iter(parts.values()))[1]
        batch = {key: np.empty((batch_size, *v.shape[1:]), v.dtype) for key, v in first.items()}
        for rows, part in parts.values():
            for key, v in part.items():
                batch[key][rows] = v
        return batch

    def state_dict(self) -> dict[str, Any]:
        """Every stream's ``state_dict`` (zero-copy views: save before storing more) and the
        sampling generator."""
        return {"streams": [s.state_dict() for s in self.streams], "capacity": self.capacity,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("streams")
        if saved is None or len(saved) != len(self.streams):
            n = 1 if saved is None else len(saved)
            raise ValueError(f"saved replay holds {n} env stream(s); this run has "
                             f"trainer.num_envs={len(self.streams)}")
        for stream, part in zip(self.streams, saved):
            stream.load_state_dict(part)
        self.rng.bit_generator.state = state["rng"]


def make_replay(cfg, observation_shape: tuple[int, ...], pixels: bool, action_dim: int,
                seed: int, num_envs: int = 1) -> FrameReplay | StreamReplay:
    """The off-policy agent's replay (``OffPolicyConfig``: ``replay_capacity``, ``n_step``,
    ``gamma``): frames ``(3, H, H)`` with a stack of ``3 m / 3`` for pixel observations
    ``(3 m, H, H)``, else state vectors; logs the projected memory when full. ``num_envs > 1``:
    a ``StreamReplay`` of that many rings sharing ``replay_capacity`` (module docstring)."""
    if num_envs > 1:
        c, n = cfg.replay_capacity, num_envs
        need = (observation_shape[0] // 3 if pixels else 1) + cfg.n_step
        if c // n < need:
            raise ConfigError(f"config error: agent.replay_capacity={c} over "
                              f"trainer.num_envs={n} leaves "
                              f"{c // n} slots per env, fewer than frame_stack + n_step "
                              f"({need}): raise replay_capacity to at least {need * n}")
        streams = [_make_ring(cfg.model_copy(update={"replay_capacity": c // n + (i < c % n)}),
                              observation_shape, pixels, action_dim, seed)
                   for i in range(n)]
        replay = StreamReplay(streams, seed)
        log.info(f"replay: {n} env streams of {c // n:,} slots, {c:,} x "
                 f"{replay.bytes_per_slot:,} B = {replay.projected_bytes / 2**20:,.1f} MiB when "
                 "full")
        return replay
    return _make_ring(cfg, observation_shape, pixels, action_dim, seed, log_size=True)


def _make_ring(cfg, observation_shape: tuple[int, ...], pixels: bool, action_dim: int,
               seed: int, log_size: bool = False) -> FrameReplay:
    if pixels:
        stack, size = observation_shape[0] // 3, observation_shape[1:]
        replay = FrameReplay(cfg.replay_capacity, (3, *size), stack, action_dim, cfg.n_step,
                             cfg.gamma, seed)
        if not log_size:
            return replay
        log.info(f"replay: {cfg.replay_capacity:,} slots x {replay.bytes_per_slot:,} B = "
                 f"{replay.projected_bytes / 2**30:.2f} GiB when full (each frame stored "
                 f"once; DrQ-v2's stacked observations would take {stack}x)")
        return replay
    replay = VectorReplay(cfg.replay_capacity, int(np.prod(observation_shape)), action_dim,
                          cfg.n_step, cfg.gamma, seed)
    if not log_size:
        return replay
    log.info(f"replay: {cfg.replay_capacity:,} state transitions x "
             f"{replay.bytes_per_transition:,.0f} B = "
             f"{replay.projected_bytes / 2**20:,.1f} MiB when full")
    return replay
