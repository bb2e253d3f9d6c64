"""The plasticity toolbox: what the learners measure, and what the off-policy agent does about it.

Measure:

========================  =====================================================================
``metrics``               FAU, tau-dormant ratios, the device-side metric buffer
``weight_metrics``        gradient norms, weight magnitude and change, stable / effective rank
``representation``        representation metrics of a latent on a fixed probe set
========================  =====================================================================

Intervene (each a key of its own under ``agent``; kind ``intervention``):

========================  =====================================================================
``interventions``         when and on which modules: Reset, ReDo, Shrink & Perturb, and the set
                          the agent drives (``Interventions``)
``interventions_config``  their config sections, the ``intervention`` registrations (torch-free)
``surgery``               the weight surgery of Reset and ReDo
``shrink_perturb``        Shrink & Perturb's update of the weights
``l2_init``               regenerative L2-init (a loss term, ``agent.l2_init``)
``injection``             plasticity injection (``agent.plasticity_injection``)
``triggers``              metric-triggered decisions (Adaptive RR, triggered interventions)
========================  =====================================================================

Schedule the replay ratio (kind ``rr_schedule``) and the exploration std:

========================  =====================================================================
``schedules``             fixed and adaptive replay ratio, ``sigma(step)``
``schedules_config``      their config sections and registrations (torch-free)
========================  =====================================================================

Nothing here imports a learner. Importing the package imports nothing.
"""
