"""After training: act with a trained policy (``trainer.api.load_policy``) to measure or show it.

``transfer`` evaluates it zero-shot across bodies, ``video`` films its rollouts, ``represent``
measures its representation on the run's probe set. ``gait_rollout`` measures how its body moves
(``gait_swim``: undulation, ``gait_legs``: footfalls, both numpy only; ``gait_output``: tables and
figure beside the worm of ``data/fang_yen_2010.csv``).
"""
