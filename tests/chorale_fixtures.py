"""Chorale-net helpers the accompanist tests share (beside their conftest's recipe fixture)."""

from __future__ import annotations

import pytest

#: A chorale net small enough to train a few steps in seconds.
TINY_NET = ["model.channels=16", "model.layers=2", "model.embed_size=8", "model.z_dim=4", "train.batch_size=8"]


def train_tiny_net(recipe, out, *, config: str, gibbs_steps: int, steps: int = 4):
    """Train a tiny chorale net of ``config`` on the few-chorales ``recipe`` through the CLI into ``out``."""
    from musicvae.cli import main

    path, cache = recipe
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSICVAE_CACHE", str(cache))
        options = [*TINY_NET, f"model.gibbs_steps={gibbs_steps}"]
        argv = ["train", str(out), "--config", config, "--set", f"data={path}",
                *(arg for o in options for arg in ("--set", o)), "--max-steps", str(steps),
                "--run-dir", str(out.parent / "run"), "--threads", "1", "--quiet"]
        assert main(argv) == 0
    return out
