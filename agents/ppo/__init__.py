"""PPO (clipped ratio, GAE, KL early stop), registered as agent ``ppo``:

==========  =======================================================================
``agent``   ``PPOAgent``, ``gae``
``config``  ``PPOConfig`` and the ``ppo.actor`` registrations (torch-free)
==========  =======================================================================

Actors: ``agents.policies``; metrics: ``agents.plasticity``. Importing the package imports
nothing.
"""
