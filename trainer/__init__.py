"""The agent-agnostic training loop, run folders, logging, checkpoints and evaluation."""
