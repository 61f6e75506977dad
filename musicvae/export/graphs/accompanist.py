"""The accompanist decoder as one exportable module: a latent in, the lower voices' tokens and logits out."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from musicvae.export.graphs import no_sample_rate


class AccompanistDecoder(nn.Module):
    """Latents [B, Z] -> (tokens [B, 3, T] int64 by argmax per voice, logits [B, T, sum of the voices' classes]).

    The model's decoder and output layers (shared weights): MiniBach's feed-forward pass, the
    logits of alto, tenor and bass side by side along the last axis in that order.
    """

    def __init__(self, model) -> None:
        super().__init__()
        self.decoder, self.output = model.decoder, model.output
        self.steps = int(model.steps)
        self.voice_classes = [int(c) for c in model.voice_classes]
        self.total = sum(self.voice_classes)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        flat = self.output(self.decoder(z)).view(z.shape[0], self.steps, self.total)
        voices = [part.argmax(dim=-1) for part in flat.split(self.voice_classes, dim=-1)]
        return torch.stack(voices, dim=1), flat


def exportable(instrument, fmt: str, *, sample_rate: int | None = None):
    """The accompanist decoder (one module for both formats)."""
    from musicvae.errors import InputError
    from musicvae.export.exportable import Exportable

    no_sample_rate(instrument, sample_rate)
    from musicvae.models.accompanist import Accompanist

    model = instrument.model
    if not isinstance(model, Accompanist):
        raise InputError(f"{instrument.name!r} is a {type(model).__name__} accompanist; only MiniBach mappers "
                         f"(model.architecture = \"minibach\") have a {fmt} export")
    z = torch.randn(2, model.z_dim, generator=torch.Generator().manual_seed(0))
    module = AccompanistDecoder(model).eval()
    return Exportable(module, (z,), ("z",), ("tokens", "logits"),
                      dynamic={"z": {0: "batch"}, "tokens": {0: "batch"}, "logits": {0: "batch"}},
                      summary=f"z [B, {model.z_dim}] -> alto, tenor, bass tokens [B, 3, {module.steps}], "
                              f"logits [B, {module.steps}, {module.total}]")
