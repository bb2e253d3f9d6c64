"""Predictive auxiliary losses on an off-policy agent's latent (``../shared/reference/
predictive_aux.md`` sec. 3-4), selected in config as a list of ``{type, weight, ...}``:

==========================  ===============================================  ==================
type                        loss (module)                                    reference
==========================  ===============================================  ==================
``one_step``                (A) one-step prediction, EMA target, cosine      ``rollout.py``
``rollout``                 (B) K-step latent rollout (SPR)                   ``rollout.py``
``horizon_faithful``        (C) discounted horizon + repulsion, as F&S        ``horizon.py``
``horizon_stabilised``      (C) EMA target, (1 - gamma)-normalised            ``horizon.py``
``contrastive``             (D) temporal InfoNCE (TACO)                       ``contrastive.py``
``reward``                  (E) reward prediction                             ``reward.py``
``negatives``               control (N): repulsion only                       ``repulsion.py``
==========================  ===============================================  ==================

Control (S), the shuffled-action predictor, is ``shuffle_actions: true`` on (A) or (B).

The package, by module (importing the package imports nothing, so ``config`` stays torch-free):

=================  ==========================================================================
``config``         the config sections (``agent.aux``), torch-free, registered as ``aux_loss``
``objectives``     ``AuxObjectives``: the configured losses, their shared EMA targets, optimiser
                   and gradient routing (what the off-policy agent calls); ``make_aux_loss``
``base``           ``AuxLoss`` (the base class of every loss), ``AuxBatch``, shared helpers
``rollout``        (A) one-step and (B) K-step latent prediction
``horizon``        (C) discounted-horizon prediction, faithful and stabilised
``contrastive``    (D) temporal InfoNCE
``reward``         (E) reward prediction
``repulsion``      (N) the repulsion-only control
=================  ==========================================================================
"""
