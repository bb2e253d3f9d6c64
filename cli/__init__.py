"""Subcommands of ``train.py``; each module exposes ``main(argv) -> exit code``."""


def count(n: int, word: str, plural: str | None = None) -> str:
    """``"1 episode"``, ``"3 episodes"``, ``count(2, "body", "bodies") == "2 bodies"``."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"
