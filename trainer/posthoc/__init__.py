"""After training: act with a trained policy (``trainer.api.load_policy``) to measure or show it.

``transfer`` evaluates it zero-shot across bodies, ``video`` films its rollouts, ``represent``
measures its representation on the run's probe set.
"""
