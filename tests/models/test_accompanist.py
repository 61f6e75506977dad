"""The MiniBach mapper: shapes, per-voice softmax, the variational bottleneck, training on real windows."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from musicvae.builders import build_model
from musicvae.config import apply_overrides, get_config
from musicvae.errors import ConfigError
from musicvae.kinds.accompanist.config import AccompanistConfig, ChoraleRepresentation
from musicvae.kinds.accompanist.training import frame_accuracy, transpose_chorales
from musicvae.midi import chorale as codec
from musicvae.models.accompanist import Accompanist

CLASSES = tuple(codec.num_classes(r) for r in codec.VOICE_RANGES)


def _model(**kwargs) -> Accompanist:
    torch.manual_seed(0)
    return Accompanist(soprano_classes=CLASSES[0], voice_classes=CLASSES[1:], steps=64, hidden_size=32, z_dim=8,
                       **kwargs)


def _windows(n: int = 16) -> np.ndarray:
    """Real windows: one four-voice chorale cut into 4-bar windows."""
    grid = codec.score_grid(codec.parse_corpus_chorale("bach/bwv1.6"))
    windows, _, _ = codec.grid_windows(grid, ranges=codec.VOICE_RANGES)
    return windows[:n].astype(np.int64)


def test_forward_gives_one_softmax_per_voice_per_step():
    model = _model().eval()
    out = model(torch.as_tensor(_windows(4)[:, 0]))
    assert [tuple(x.shape) for x in out["logits"]] == [(4, 64, c) for c in CLASSES[1:]]
    assert out["mu"].shape == out["sigma"].shape == (4, 8) and (out["sigma"] > 0).all()
    assert torch.equal(out["z"], out["mu"])  # eval decodes the posterior mean
    probs = model.probabilities(torch.as_tensor(_windows(4)[:, 0]))
    for p in probs:
        assert torch.allclose(p.sum(-1), torch.ones(4, 64))


def test_variations_differ_only_through_the_latent_noise():
    model = _model().eval()
    soprano = torch.as_tensor(_windows(2)[:, 0])
    mean = model.probabilities(soprano)
    noise = torch.randn(8, generator=torch.Generator().manual_seed(1))
    varied = model.probabilities(soprano, noise=noise, z_scale=3.0)
    assert any(not torch.allclose(a, b) for a, b in zip(mean, varied))
    assert all(torch.allclose(a, b) for a, b in zip(mean, model.probabilities(soprano, noise=noise, z_scale=0.0)))
    plain = _model(variational=False).eval()
    assert all(torch.allclose(a, b) for a, b in zip(plain.probabilities(soprano), plain.probabilities(
        soprano, noise=noise)))
    argmax = model.probabilities(soprano, temperature=0)
    assert all(((p == 0) | (p == 1)).all() for p in argmax)


def test_overfits_real_windows_with_cross_entropy():
    windows = torch.as_tensor(_windows(4))
    torch.manual_seed(0)
    model = Accompanist(soprano_classes=CLASSES[0], voice_classes=CLASSES[1:], hidden_size=64, z_dim=32,
                        variational=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(120):
        out = model(windows[:, 0])
        loss = sum(torch.nn.functional.cross_entropy(lg.transpose(1, 2), windows[:, v + 1])
                   for v, lg in enumerate(out["logits"]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    pred = [lg.argmax(-1) for lg in model(windows[:, 0])["logits"]]
    accuracy = np.mean([frame_accuracy(p, windows[:, v + 1]).item() for v, p in enumerate(pred)])
    assert accuracy > 0.9


def test_builder_maps_config_to_model_and_checks_ranges():
    config = get_config("minibach-small")
    model = build_model(config)
    assert isinstance(model, Accompanist) and model.voice_classes == CLASSES[1:] and model.variational
    assert not build_model(get_config("minibach-small-ae")).variational
    small = build_model(AccompanistConfig(hidden_size=16, z_dim=4, rank=8))
    assert sum(p.numel() for p in small.parameters()) < 60_000
    with pytest.raises(ConfigError, match="low < high"):
        build_model(AccompanistConfig(representation=ChoraleRepresentation(alto=(74, 53))))
    assert apply_overrides(config, ["model.hidden_size=64"]).model.hidden_size == 64


def test_model_module_never_imports_config():
    source = Path(__import__("musicvae.models.accompanist", fromlist=["x"]).__file__).read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert "musicvae.config" not in imported


def test_random_transposition_keeps_every_voice_in_range():
    windows = torch.as_tensor(_windows(16))
    generator = torch.Generator().manual_seed(0)
    shifted = transpose_chorales(windows, 12, num_classes=CLASSES, generator=generator)
    moved = False
    for v, c in enumerate(CLASSES):
        pitched = windows[:, v] >= codec.FIRST_PITCH
        assert shifted[:, v].max() < c and shifted[:, v][pitched].min() >= codec.FIRST_PITCH
        assert torch.equal(shifted[:, v] < codec.FIRST_PITCH, ~pitched)  # holds and rests stay
        moved |= bool((shifted[:, v] != windows[:, v]).any())
    assert moved
    delta = (shifted - windows)[windows >= codec.FIRST_PITCH].view(-1)
    assert torch.equal(transpose_chorales(windows, 0, num_classes=CLASSES), windows)
    assert delta.abs().max() <= 12


def test_trains_through_the_lightning_path_and_round_trips_as_an_instrument(tmp_path):
    from dataclasses import replace

    from musicvae.instrument import Instrument
    from musicvae.training import train_model

    config = get_config("minibach-small")
    config = replace(config, model=replace(config.model, hidden_size=16, z_dim=4),
                     train=replace(config.train, batch_size=8, max_steps=6, val_every=3))
    windows = _windows(24).astype(np.uint8)
    model, summary = train_model(config, windows[:16], windows[16:], out_dir=tmp_path / "run", threads=1,
                                 progress=False, accelerator="cpu", devices=1)
    assert summary["steps"] == 6 and "frame_accuracy" in summary["val"]
    assert summary["best_checkpoint"] and "best-" in summary["best_checkpoint"]
    folder = Instrument(config=config, model=model).save(tmp_path / "acc")
    loaded = Instrument.load(folder)
    assert loaded.kind == "accompanist" and isinstance(loaded.model, Accompanist)
    soprano = torch.as_tensor(windows[:2, 0].astype(np.int64))
    assert all(torch.allclose(a, b) for a, b in zip(model.probabilities(soprano), loaded.model.probabilities(soprano)))
