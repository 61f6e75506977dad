"""The accompanist decoders as exportable modules: the lower voices' tokens and logits out.

Both graphs have a dynamic batch axis ``B``; ``T`` is the window's steps (64), ``C`` the sum of
alto's, tenor's and bass's token counts, their logits side by side along the last axis in that order.

MiniBach (``model.architecture = "minibach"``, :class:`MiniBachDecoder`)
    inputs ``z`` float32 [B, Z];
    outputs ``tokens`` int64 [B, 3, T] (alto, tenor, bass, argmax per voice), ``logits`` float32 [B, T, C].

chorale net (``model.architecture = "chorale-net"``, :class:`ChoraleNetDecoder`)
    inputs ``z`` float32 [B, Z]; ``soprano`` int64 [B, T], the condition; ``lower`` int64 [B, 3, T], the
    lower voices' known tokens and each voice's ``MASK`` token (its token count ``C_v``) where a note is
    unknown. ``lower`` is required in ONNX (all ``MASK`` harmonises a bare soprano) and optional in
    TorchScript (omitted: all unknown);
    outputs ``tokens`` int64 [B, 3, T] (the known tokens where given, the argmax per voice elsewhere: the
    net is trained on the hidden notes alone), ``logits`` float32 [B, T, C].

Both are the network alone: ``harmonize``'s chorale memory, voice leading and Gibbs sampling are not in
the graphs. The chorale net's encoder is not exported (nor is MiniBach's): a host decodes prior draws, and
``z = 0`` is a harmonisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.export.graphs import no_sample_rate


class MiniBachDecoder(nn.Module):
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


class ChoraleNetDecoder(nn.Module):
    """Latents [B, Z], soprano [B, T] and known lower tokens [B, 3, T] (``MASK`` = unknown; None: all unknown)
    -> (tokens [B, 3, T] int64, logits [B, T, sum of the voices' classes]).

    :meth:`ChoraleNet.decode_logits <musicvae.models.chorale_net.ChoraleNet.decode_logits>` on the model's
    layers (shared weights), written out so that TorchScript compiles it and ONNX traces it: the step
    positions and the ``MASK`` tokens are buffers, the batch is read from the inputs' shapes. ``tokens``
    keeps each known token and takes the argmax of the voice's logits where ``lower`` is ``MASK``.
    """

    def __init__(self, model) -> None:
        super().__init__()
        self.soprano_embed, self.voice_embed, self.position_embed = (model.soprano_embed, model.voice_embed,
                                                                     model.position_embed)
        self.decoder_in, self.decoder, self.decoder_norm, self.heads = (model.decoder_in, model.decoder,
                                                                        model.decoder_norm, model.heads)
        self.steps = int(model.steps)
        self.voice_classes = [int(c) for c in model.voice_classes]
        self.total = sum(self.voice_classes)
        self.z_dim = int(model.z_dim)
        self.register_buffer("position", torch.arange(self.steps) % int(model.steps_per_bar), persistent=False)
        self.register_buffer("masks", torch.tensor(model.mask_tokens(), dtype=torch.long).view(1, -1, 1),
                             persistent=False)

    def forward(self, z: Tensor, soprano: Tensor, lower: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # The checks are TorchScript's (a traced ONNX graph keeps none): a wrong shape is one clear message.
        batch = soprano.shape[0]
        if soprano.dim() != 2 or soprano.shape[1] != self.steps:
            raise ValueError(f"soprano must be [B, {self.steps}] tokens")
        if z.dim() != 2 or z.shape[0] != batch or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [B, {self.z_dim}] with the soprano's batch")
        soprano = soprano.long()
        if lower is None:
            known = self.masks.expand(batch, -1, self.steps)
        else:
            known = lower.long()
        if known.dim() != 3 or known.shape[0] != batch or known.shape[1] != len(self.voice_classes) \
                or known.shape[2] != self.steps:
            raise ValueError(f"lower must be [B, {len(self.voice_classes)}, {self.steps}] tokens")
        parts = [self.soprano_embed(soprano), self.position_embed(self.position).unsqueeze(0).expand(batch, -1, -1)]
        for v, embed in enumerate(self.voice_embed):
            parts.append(embed(known[:, v]))
        x = torch.cat([torch.cat(parts, dim=-1).transpose(1, 2), z.unsqueeze(-1).expand(-1, -1, self.steps)], dim=1)
        h = F.gelu(self.decoder_norm(self.decoder(self.decoder_in(x))))
        logits = self.heads(h).transpose(1, 2)
        predicted = torch.stack([part.argmax(dim=-1) for part in logits.split(self.voice_classes, dim=-1)], dim=1)
        return torch.where(known == self.masks, predicted, known), logits


def exportable(instrument, fmt: str, *, sample_rate: int | None = None):
    """The accompanist decoder of the instrument's architecture (one module for both formats)."""
    from musicvae.errors import InputError
    from musicvae.export.exportable import Exportable

    no_sample_rate(instrument, sample_rate)
    from musicvae.models.accompanist import Accompanist
    from musicvae.models.chorale_net import ChoraleNet

    model = instrument.model
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, model.z_dim, generator=g)
    dynamic = {"z": {0: "batch"}, "tokens": {0: "batch"}, "logits": {0: "batch"}}
    if isinstance(model, Accompanist):
        module = MiniBachDecoder(model).eval()
        return Exportable(module, (z,), ("z",), ("tokens", "logits"), dynamic=dynamic,
                          summary=f"z [B, {model.z_dim}] -> alto, tenor, bass tokens [B, 3, {module.steps}], "
                                  f"logits [B, {module.steps}, {module.total}]")
    if not isinstance(model, ChoraleNet):
        raise InputError(f"{instrument.name!r} is a {type(model).__name__} accompanist, which has no {fmt} export "
                         f"(exported: MiniBach and chorale-net accompanists)")
    module = ChoraleNetDecoder(model).eval()
    steps, voices = module.steps, len(module.voice_classes)
    soprano = torch.randint(0, model.soprano_classes, (2, steps), generator=g)
    # Half the example's lower notes known, half MASK: both paths of the output's where are traced.
    given = torch.stack([torch.randint(0, c, (2, steps), generator=g) for c in module.voice_classes], dim=1)
    lower = torch.where(torch.rand(2, voices, steps, generator=g) < 0.5, given, module.masks.expand(2, -1, steps))
    masks = ", ".join(str(m) for m in model.mask_tokens())
    return Exportable(module, (z, soprano, lower), ("z", "soprano", "lower"), ("tokens", "logits"),
                      dynamic={**dynamic, "soprano": {0: "batch"}, "lower": {0: "batch"}},
                      summary=f"z [B, {model.z_dim}], soprano [B, {steps}], lower [B, {voices}, {steps}] "
                              f"(MASK = {masks}) -> alto, tenor, bass tokens [B, {voices}, {steps}], "
                              f"logits [B, {steps}, {module.total}]")
