"""Running, sweeping and analysing runs; one job per subpackage.

* ``trainer`` itself (run one config): ``api`` (``train(cfg) -> summary``, ``load_policy``),
  ``loop`` (the one trainer loop), ``checkpoint``, ``logger``, ``rundir``, ``files``,
  ``evaluation``, ``rollout`` (the one episode runner outside the loop), ``policy_source``.
* ``trainer.sweep`` (many configs and seeds through Ray Tune): ``spec``, ``trial``,
  ``ray_tune``, ``ray_env``, ``record``.
* ``trainer.analysis`` (read finished run folders; imports no torch): ``runs`` (the one run
  finder and per-config results), ``stats`` (IQM and the percentile bootstrap every interval
  uses), ``plots``, ``report``.
* ``trainer.posthoc`` (act with a trained policy after training): ``transfer`` across bodies,
  ``video``, ``represent``.

Dependencies point one way: ``cli`` -> ``trainer`` -> ``agents``/``envs``/``circuits`` ->
``configs``; nothing under ``agents/`` or ``envs/`` imports ``trainer``.
"""
