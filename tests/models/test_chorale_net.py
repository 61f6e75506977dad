"""The chorale net: shapes, what the decoder is given, and that it is a proper conditional model."""

from __future__ import annotations

import pytest
import torch

from musicvae.models.chorale_net import ChoraleNet

CLASSES = (9, 7, 8)  # alto, tenor, bass (hold, rest, a few pitches each)


def _net(**kwargs) -> ChoraleNet:
    torch.manual_seed(0)
    return ChoraleNet(soprano_classes=10, voice_classes=CLASSES, steps=16, steps_per_bar=4, channels=16, layers=3,
                      embed_size=4, z_dim=3, dropout=0.0, **kwargs).eval()


def _chorale(batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    voices = [torch.randint(0, c, (batch, 16), generator=g) for c in (10, *CLASSES)]
    return torch.stack(voices, dim=1)


def test_shapes_and_probabilities():
    net, chorale = _net(), _chorale()
    out = net(chorale)
    assert [tuple(x.shape) for x in out["logits"]] == [(2, 16, c) for c in CLASSES]
    assert out["mu"].shape == out["sigma"].shape == (2, 3) and (out["sigma"] > 0).all()
    for p in net.probabilities(chorale[:, 0], temperature=0.7):
        torch.testing.assert_close(p.sum(-1), torch.ones(2, 16))
    for p in net.probabilities(chorale[:, 0], temperature=0):
        assert ((p == 0) | (p == 1)).all() and (p.sum(-1) == 1).all()


def test_known_notes_change_the_decoding_and_masks_mean_unknown():
    net, chorale = _net(), _chorale()
    z = torch.zeros(2, 3)
    bare = net.decode_logits(z, chorale[:, 0])
    masks = torch.tensor(net.mask_tokens()).view(1, 3, 1).expand(2, 3, 16)
    for a, b in zip(bare, net.decode_logits(z, chorale[:, 0], masks)):
        torch.testing.assert_close(a, b)  # None and all-MASK are the same input
    given = net.decode_logits(z, chorale[:, 0], chorale[:, 1:])
    assert any(not torch.allclose(a, b) for a, b in zip(bare, given))
    # forward(known=...) hides exactly the notes it is told to.
    known = torch.zeros(2, 3, 16, dtype=torch.bool)
    known[:, 0, :8] = True
    out = net(chorale, known=known)
    expected = net.decode_logits(out["z"], chorale[:, 0], torch.where(known, chorale[:, 1:], masks))
    for a, b in zip(out["logits"], expected):
        torch.testing.assert_close(a, b)


def test_the_latent_steers_the_decoding_and_the_encoder_sees_the_lower_voices():
    net, chorale = _net(), _chorale()
    a = net.decode_logits(torch.zeros(2, 3), chorale[:, 0])
    b = net.decode_logits(torch.full((2, 3), 2.0), chorale[:, 0])
    assert any(not torch.allclose(x, y) for x, y in zip(a, b))
    other = chorale.clone()
    other[:, 1:] = (other[:, 1:] + 1) % torch.tensor(CLASSES).view(1, 3, 1)
    mu, _ = net.encode(chorale[:, 0], chorale[:, 1:])
    mu_other, _ = net.encode(other[:, 0], other[:, 1:])
    assert not torch.allclose(mu, mu_other)


def test_bad_shapes_and_sizes():
    net = _net()
    with pytest.raises(ValueError, match="soprano must be"):
        net.decode_logits(torch.zeros(1, 3), torch.zeros(1, 15, dtype=torch.long))
    with pytest.raises(ValueError, match="lower voices must be"):
        net.decode_logits(torch.zeros(1, 3), torch.zeros(1, 16, dtype=torch.long), torch.zeros(1, 2, 16))
    with pytest.raises(ValueError, match="kernel_size odd"):
        ChoraleNet(soprano_classes=10, voice_classes=CLASSES, kernel_size=4)
