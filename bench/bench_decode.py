"""Decoding latency of the melody model against a naive step loop, measured in the same run.

Decodes one 2-bar melody (batch 1, argmax, 32 steps) with the 2bar-small sizes
(z 128, decoder 2x256) on one CPU thread, which is what a live morph needs per
bar; target p99 < 10 ms. The peer is the obvious loop: build a one-hot, concat
z, call each ``nn.LSTM`` for one step. Then an 11-step morph decoded as one batch.

Run: ``python bench/bench_decode.py [--runs 300] [--threads 1]``
"""

from __future__ import annotations

import argparse

import _timing
import torch
import torch.nn.functional as F

from musicvae.builders import build_model
from musicvae.config import get_config
from musicvae.models.latent import interpolate
from musicvae.models.sequence_vae import SequenceVAE


def naive_decode(model: SequenceVAE, z: torch.Tensor) -> torch.Tensor:
    """The baseline: one-hot + torch.cat + an ``nn.LSTM`` call per layer per step (flat decoder only)."""
    state = [(h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()) for h, c in model.decoder_init(z)]
    previous = torch.zeros(z.shape[0], model.num_classes)
    tokens = []
    for _ in range(model.steps):
        x = torch.cat([previous, z], dim=-1).unsqueeze(1)
        for k, layer in enumerate(model.decoder):
            x, state[k] = layer(x, state[k])
        token = model.output(x[:, 0]).argmax(-1)
        tokens.append(token)
        previous = F.one_hot(token, model.num_classes).float()
    return torch.stack(tokens, dim=1)


def percentiles(fn, runs: int, warmup: int = 20) -> tuple[float, float]:
    """p50 and p99 wall time of ``fn()`` in milliseconds, under ``torch.inference_mode``."""
    with torch.inference_mode():
        return _timing.percentiles(fn, runs, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(get_config("2bar-small")).eval()
    z = torch.randn(1, model.z_dim)
    with torch.inference_mode():
        assert torch.equal(model.decode(z), naive_decode(model, z)), "the two decoders disagree"

    ours = percentiles(lambda: model.decode(z), args.runs)
    naive = percentiles(lambda: naive_decode(model, z), args.runs)
    print(f"2-bar decode, batch 1, argmax, z {model.z_dim}, decoder 2x256, {args.threads} thread(s), {args.runs} runs")
    print(f"  ours : p50 {ours[0]:6.2f} ms   p99 {ours[1]:6.2f} ms")
    print(f"  naive: p50 {naive[0]:6.2f} ms   p99 {naive[1]:6.2f} ms")
    print(f"  speed-up: p50 {naive[0] / ours[0]:.1f}x   p99 {naive[1] / ours[1]:.1f}x   (target p99 < 10 ms)")

    path = interpolate(torch.randn(model.z_dim), torch.randn(model.z_dim), steps=11)
    morph = percentiles(lambda: model.decode(path), max(20, args.runs // 3))
    morph_naive = percentiles(lambda: naive_decode(model, path), max(20, args.runs // 3))
    print("11-step morph, one batch of 11")
    print(f"  ours : p50 {morph[0]:6.2f} ms   p99 {morph[1]:6.2f} ms")
    print(
        f"  naive: p50 {morph_naive[0]:6.2f} ms   p99 {morph_naive[1]:6.2f} ms   ratio {morph_naive[0] / morph[0]:.1f}x"
    )


if __name__ == "__main__":
    main()
