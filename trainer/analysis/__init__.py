"""Reading finished run folders: the run finder, statistics, plots and reports.

Nothing here imports torch: ``python train.py plot`` and ``report`` read CSV, JSON and YAML
files only. Every interval a plot or a table shows is a percentile bootstrap (``stats``).
"""
