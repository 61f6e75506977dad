"""Training throughput of :func:`musicvae.training.train_model` against a plain PyTorch loop.

Both train the 2bar-small model (batch 128) on the same synthetic melodies with
the same work per step (transposition, forward, loss, backward, clip, Adam,
lr schedule) on the same threads, so the ratio is the Lightning overhead.

``--beside OTHER`` also trains the registered config OTHER through ``train_model`` in the same
run and prints both throughputs in sequences and in bars per second (e.g. ``--config
16bar-hier-small --beside 2bar-small``: the hierarchical 16-bar model against the flat 2-bar one).

Run: ``python bench/bench_train.py [--steps 10] [--threads 2] [--config NAME] [--beside OTHER]``
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from musicvae.builders import build_model
from musicvae.config import get_config
from musicvae.kinds.melody.training import transpose_events
from musicvae.models.latent import beta_schedule, free_bits_kl, kl_divergence
from musicvae.training import learning_rate_at, train_model


def melodies(n: int, steps: int = 32, seed: int = 0) -> np.ndarray:
    """Random monophonic melodies (pitch walks with musical durations)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, steps), np.uint8)
    for i in range(n):
        t, pitch = 0, int(rng.integers(55, 75))
        while t < steps:
            pitch = int(np.clip(pitch + rng.integers(-4, 5), 40, 90))
            out[i, t] = pitch - 21 + 2 if rng.random() > 0.15 else 1
            t += int(rng.choice([1, 2, 2, 4, 4, 8]))
    return out


def plain_loop(config, windows: np.ndarray, steps: int, warmup: int) -> float:
    """Sequences per second of a hand-written loop doing the same work as the Lightning module."""
    torch.manual_seed(0)
    model = build_model(config.model).train()
    cfg, mcfg = config.train, config.model
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            learning_rate_at(s, lr=cfg.learning_rate, min_lr=cfg.min_learning_rate, decay=cfg.decay_rate)
            / cfg.learning_rate
        ),
    )
    data = torch.from_numpy(windows)
    gen = torch.Generator().manual_seed(0)
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        index = torch.randint(0, len(data), (cfg.batch_size,), generator=gen)
        events = transpose_events(data[index].long(), cfg.transpose, num_classes=model.num_classes)
        out = model(events, sample_z=True)
        logits = out["logits"]
        recon = F.cross_entropy(logits.transpose(1, 2), events, reduction="none").sum(1).mean()
        kl = free_bits_kl(kl_divergence(out["mu"], out["sigma"]), mcfg.free_bits).mean()
        loss = recon + beta_schedule(step, max_beta=mcfg.kl_weight, rate=mcfg.beta_rate) * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
    return steps * cfg.batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", default="2bar-small")
    parser.add_argument("--beside", help="another registered melody config to time through train_model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, windows = _bench_config(args.config)

    # No warm-up on either side: train_model's clock includes its first step, so the plain loop's does too.
    plain = plain_loop(config, windows, args.steps, warmup=0)
    ours = lightning_throughput(config, windows, steps=args.steps, threads=args.threads)
    print(f"{args.config} training, batch {config.train.batch_size}, {args.threads} thread(s), {args.steps} steps")
    print(f"  train_model (Lightning): {ours:8.1f} sequences/s")
    print(f"  plain PyTorch loop     : {plain:8.1f} sequences/s")
    print(f"  Lightning / plain      : {ours / plain:.2f}")
    if args.beside:
        other, other_windows = _bench_config(args.beside)
        theirs = lightning_throughput(other, other_windows, steps=args.steps, threads=args.threads)
        bars, other_bars = config.model.representation.bars, other.model.representation.bars
        print(f"beside {args.beside} (batch {other.train.batch_size}), train_model, same run:")
        for name, rate, n in ((args.config, ours, bars), (args.beside, theirs, other_bars)):
            print(f"  {name:18s} {rate:8.1f} sequences/s {rate * n:9.1f} bars/s")
        print(f"  {args.config} / {args.beside} in bars/s: {ours * bars / (theirs * other_bars):.2f}")


def _bench_config(name: str):
    """A registered config without validation runs, and synthetic windows of its length."""
    config = get_config(name)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, val_every=10**6))
    return config, melodies(4096, steps=config.model.representation.steps)


def lightning_throughput(config, windows: np.ndarray, *, steps: int, threads: int) -> float:
    """Sequences per second of ``train_model`` (train batches after on_train_start, validation excluded)."""
    with tempfile.TemporaryDirectory() as out_dir:
        _, summary = train_model(config, windows, windows[:256], out_dir=out_dir, threads=threads,
                                 max_steps=steps, progress=False)
    return summary["sequences_per_second"]


if __name__ == "__main__":
    main()
