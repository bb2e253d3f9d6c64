"""Experiments as data: a YAML spec of arms over a base preset, a control, seeds and outcome
metrics fixed in advance (``spec``), run as sweep trials (``run``) and read as paired
comparisons with the control (``analysis``): ``python train.py compare SPEC``.
"""
