"""Subcommands of ``train.py``; each module exposes ``main(argv) -> exit code``."""
