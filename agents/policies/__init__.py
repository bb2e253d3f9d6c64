"""Actors more than one learner trains, and the circuit outside this toolkit:

=================  ==========================================================================
``actors``         the NCAP actor (``build_ncap_actor``), MLP actors (tonic too), the Gaussian
                   heads, and PPO's actor builders (kind ``ppo.actor``: ``ncap``, ``mlp``)
``circuit_actor``  the NCAP+ actor (kind ``ppo.actor``: ``ncap_plus``)
``config``         ``MLPActorConfig`` (torch-free)
``sb3``            the NCAP circuit as a stable-baselines3 policy (``NCAPPolicy``)
=================  ==========================================================================

``quadruped_actor`` is the quadruped circuit's actor (kinds ``ppo.actor`` and ``es.actor``:
``ncap_quadruped``).
Each learner's own actor builders live with it (``agents.offpolicy.nets``, ``agents.es.agent``).
Importing the package imports nothing.
"""
