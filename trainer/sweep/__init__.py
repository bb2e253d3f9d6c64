"""Sweeps: seeds x a grid of overrides, one ordinary run folder per trial, run by Ray Tune.

``spec`` expands a sweep file into validated trials, ``trial`` runs one in a worker and writes
its ``trial.json`` (``record``), ``ray_tune`` is the Tune backend and ``ray_env`` the process
settings Ray reads at import.
"""
