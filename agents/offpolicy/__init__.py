"""The off-policy actor-critic for states and pixels (DrQ-v2, DDPG), registered as agents
``offpolicy`` and ``drqv2`` (pixels only), and everything only it uses:

================  ==============================================================================
``agent``         ``OffPolicyAgent``: construction and the update (critic, actor, targets)
``acting``        what the loop calls every agent step (``act``, ``observe``, ``updates_due``)
``outputs``       what it hands the run folder: metrics, tables, summary, latents
``state``         checkpoints: ``state_dict``, ``load_state_dict``, ``load_policy``
``config``        ``OffPolicyConfig``, ``DrQV2Config``, the ``offpolicy.actor`` registrations
                  (torch-free)
``checks``        the config rules that depend on the observations (pixels or states)
``nets``          encoder, actor, critic; the ``offpolicy.actor`` builders (``mlp``, ``ncap``)
``replay``        frame-sharing replay (and its state-vector twin), n-step returns, a stream
                  per env (``trainer.num_envs``)
``augment``       DrQ-v2's random shift
``precision``     ``agent.precision`` (bf16 autocast)
``fused_adam``    fused Adam steps without ``Optimizer.step``'s Python overhead
``encoder_init``  frozen-encoder transfer from another run (``agent.encoder_init``)
================  ==============================================================================

Plugged in, each owned by the agent and chosen by config: auxiliary losses (``agent.aux``,
``agents/auxiliary``) through one call in the critic step, ``aux.critic_extra(h, batch, step)
-> (loss, features, metrics)``; interventions (``agent.reset``/``redo``/``shrink_perturb``,
``agents/plasticity/interventions.py``, on a schedule or a metric trigger): Reset before the update draws
its batch, ReDo and Shrink & Perturb after it (ReDo on its hidden maps, ``maps``); the
post-update ``hooks``: those interventions, the representation probe
(``agents/plasticity/representation.py``) and the weight metrics (``agents/plasticity/weight_metrics.py``);
regenerative L2-init (``agent.l2_init``) in the critic and actor losses; LayerNorm / CReLU
options of the MLPs (``nets``); a transferred encoder (``agent.encoder_init``,
``encoder_init``). Speed (issue 19): fused Adam by its kernels
(``fused_adam``, bit-identical to ``Adam.step``); ``precision: bf16`` autocasts the
forward passes (``precision``); ``compile: true`` compiles both losses.

Importing the package imports nothing (so ``config`` loads without torch).
"""
