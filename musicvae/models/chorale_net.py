"""A convolutional conditional VAE over the chorale grid: soprano (and any known lower notes) in, alto, tenor, bass out.

MiniBach maps a whole 4-bar soprano to the lower voices through one dense layer, so it
learns every step of every key apart. This model keeps MiniBach's job and its
variational bottleneck, and adds what DeepBach and Coconet brought:

- **a sequence model over the 16th grid**: residual dilated 1-D convolutions (receptive
  field over two windows) see the soprano, the step's place in the bar and the lower
  voices around each step, so the same cadence is learnt once, wherever it falls;
- **partial inputs** (Coconet's orderless training): every lower-voice token may be given
  or hidden (the ``MASK`` token); the model is trained on random masks, from "everything
  hidden" (harmonise a bare soprano) to "almost everything known" (fix one note), so it
  gives the conditional of any block of notes given the rest, which block Gibbs sampling
  (:mod:`musicvae.gibbs`) draws from;
- **a conditional VAE latent**: the encoder sees the whole four-voice window and puts its
  harmonisation's character in ``z``; the prior is ``N(0, I)`` whatever the soprano (the
  decoder reads the soprano itself), so a harmonisation decodes ``z = 0`` and variations
  decode prior draws.

The model takes plain arguments and never imports :mod:`musicvae.config`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.models.latent import GaussianPosterior, reparameterize


class _Block(nn.Module):
    """Pre-norm residual block: norm -> dilated conv (k) -> GELU -> 1x1 conv -> dropout, added to the input."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.dropout(self.mix(F.gelu(self.conv(self.norm(x)))))


def _stack(channels: int, layers: int, kernel_size: int, dropout: float) -> nn.Sequential:
    # Dilations 1, 2, 4, 8, 16 repeated: 10 layers of kernel 3 see 125 steps, two 4-bar windows.
    return nn.Sequential(*[_Block(channels, kernel_size, 2 ** (i % 5), dropout) for i in range(layers)])


class ChoraleNet(nn.Module):
    """Soprano tokens [B, T] (+ optional known lower-voice tokens) -> logits of alto, tenor and bass.

    Parameters
    ----------
    soprano_classes : int
        Tokens of the soprano (hold, rest, one per pitch of its range).
    voice_classes : sequence of int
        Tokens of each lower voice (alto, tenor, bass); token ``C_v`` of voice v is its ``MASK``.
    steps : int
        Steps per window (64 = 4 bars of sixteenths).
    steps_per_bar : int
        Grid steps per bar: each step's place in the bar is an input.
    channels : int
        Width of the convolution stacks.
    layers : int
        Residual blocks of the decoder (the encoder has half as many).
    kernel_size : int
        Odd kernel width of the dilated convolutions.
    embed_size : int
        Width of each token embedding.
    z_dim : int
        Latent dimensionality.
    dropout : float
        Dropout inside the residual blocks while training.
    variational : bool
        Sample ``z`` from the posterior while training (a VAE); else ``z = mu``.
    phrase_classes : int
        Phrase tokens per step (each step's place in its phrase; token 0 = not known), an input
        beside the soprano; 0: no phrase input.
    """

    def __init__(
        self,
        *,
        soprano_classes: int,
        voice_classes: Sequence[int],
        steps: int = 64,
        steps_per_bar: int = 16,
        channels: int = 128,
        layers: int = 10,
        kernel_size: int = 3,
        embed_size: int = 32,
        z_dim: int = 32,
        dropout: float = 0.1,
        variational: bool = True,
        phrase_classes: int = 0,
    ) -> None:
        super().__init__()
        if min(steps, steps_per_bar, channels, layers, embed_size, z_dim) < 1 or kernel_size % 2 == 0:
            raise ValueError("steps, steps_per_bar, channels, layers, embed_size and z_dim must be at least 1, "
                             "kernel_size odd")
        self.soprano_classes = int(soprano_classes)
        self.voice_classes = tuple(int(c) for c in voice_classes)
        self.steps = steps
        self.steps_per_bar = steps_per_bar
        self.z_dim = z_dim
        self.variational = variational
        self.phrase_classes = int(phrase_classes)
        voices = len(self.voice_classes)
        self.soprano_embed = nn.Embedding(self.soprano_classes, embed_size)
        # One more token per voice: MASK, "not known".
        self.voice_embed = nn.ModuleList(nn.Embedding(c + 1, embed_size) for c in self.voice_classes)
        self.position_embed = nn.Embedding(steps_per_bar, embed_size)
        if self.phrase_classes:
            self.phrase_embed = nn.Embedding(self.phrase_classes, embed_size)
        width = embed_size * (2 + voices + bool(self.phrase_classes))
        self.encoder_in = nn.Conv1d(width, channels, 1)
        self.encoder = _stack(channels, max(1, layers // 2), kernel_size, dropout)
        self.posterior = GaussianPosterior(channels, z_dim)
        self.decoder_in = nn.Conv1d(width + z_dim, channels, 1)
        self.decoder = _stack(channels, layers, kernel_size, dropout)
        self.decoder_norm = nn.GroupNorm(1, channels)
        self.heads = nn.Conv1d(channels, sum(self.voice_classes), 1)

    # -- pieces -------------------------------------------------------------

    def mask_tokens(self) -> tuple[int, ...]:
        """The ``MASK`` token of each lower voice."""
        return self.voice_classes

    def _features(self, soprano: Tensor, lower: Tensor, phrase: Tensor | None = None) -> Tensor:
        """[B, T] soprano, [B, V, T] lower and [B, T] phrase tokens -> [B, E * (2 + V (+ 1)), T] embeddings.

        ``phrase`` None: not known (token 0) at every step; ignored by a net without a phrase input.
        """
        if soprano.dim() != 2 or soprano.shape[1] != self.steps:
            raise ValueError(f"soprano must be [B, {self.steps}] tokens, got {list(soprano.shape)}")
        if lower.shape != (soprano.shape[0], len(self.voice_classes), self.steps):
            raise ValueError(f"lower voices must be [B, {len(self.voice_classes)}, {self.steps}], "
                             f"got {list(lower.shape)}")
        position = torch.arange(self.steps, device=soprano.device) % self.steps_per_bar
        parts = [self.soprano_embed(soprano), self.position_embed(position).expand(len(soprano), -1, -1)]
        parts += [embed(lower[:, v]) for v, embed in enumerate(self.voice_embed)]
        if self.phrase_classes:
            if phrase is None:
                phrase = torch.zeros_like(soprano)
            elif phrase.shape != soprano.shape:
                raise ValueError(f"phrase tokens must be [B, {self.steps}] like the soprano, got {list(phrase.shape)}")
            parts.append(self.phrase_embed(phrase.long()))
        return torch.cat(parts, dim=-1).transpose(1, 2)

    def hidden(self, soprano: Tensor) -> Tensor:
        """All lower voices ``MASK``: the input of a bare soprano, [B, V, T]."""
        masks = torch.tensor(self.mask_tokens(), device=soprano.device).view(1, -1, 1)
        return masks.expand(len(soprano), -1, self.steps)

    def encode(self, soprano: Tensor, lower: Tensor, phrase: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Posterior of whole chorale windows (soprano [B, T], lower voices [B, V, T], phrase tokens [B, T]):
        ``(mu, sigma)`` [B, z_dim]."""
        h = self.encoder(self.encoder_in(self._features(soprano.long(), lower.long(), phrase)))
        return self.posterior(h.mean(dim=-1))

    def decode_logits(self, z: Tensor, soprano: Tensor, lower: Tensor | None = None,
                      phrase: Tensor | None = None) -> list[Tensor]:
        """Latents [B, z_dim], soprano [B, T], known lower tokens [B, V, T] (``MASK`` = unknown; None: all
        unknown) and phrase tokens [B, T] (None: not known) -> one logits tensor [B, T, C_v] per lower voice."""
        soprano = soprano.long()
        lower = self.hidden(soprano) if lower is None else lower.long()
        x = torch.cat([self._features(soprano, lower, phrase), z[:, :, None].expand(-1, -1, self.steps)], dim=1)
        h = F.gelu(self.decoder_norm(self.decoder(self.decoder_in(x))))
        return list(self.heads(h).transpose(1, 2).split(self.voice_classes, dim=-1))

    def forward(
        self,
        chorale: Tensor,
        *,
        known: Tensor | None = None,
        phrase: Tensor | None = None,
        sample_z: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor | list[Tensor]]:
        """Whole windows [B, 1 + V, T] (soprano first) -> ``logits`` (list of [B, T, C_v]), ``mu``, ``sigma``, ``z``.

        ``known`` [B, V, T] bool says which lower-voice tokens the decoder is given (None: none);
        the encoder always sees the whole window. ``phrase`` [B, T]: the phrase tokens (None: not known).
        ``sample_z`` defaults to ``self.training and self.variational``.
        """
        chorale = chorale.long()
        soprano, lower = chorale[:, 0], chorale[:, 1:]
        mu, sigma = self.encode(soprano, lower, phrase)
        if sample_z is None:
            sample_z = self.training and self.variational
        z = reparameterize(mu, sigma, generator=generator) if sample_z else mu
        masks = self.hidden(soprano)
        given = masks if known is None else torch.where(known, lower, masks)
        return {"logits": self.decode_logits(z, soprano, given, phrase), "mu": mu, "sigma": sigma, "z": z}

    # -- inference ----------------------------------------------------------

    @torch.no_grad()
    def probabilities(
        self,
        soprano: Tensor,
        *,
        noise: Tensor | None = None,
        z_scale: float = 1.0,
        temperature: float = 1.0,
        lower: Tensor | None = None,
        phrase: Tensor | None = None,
    ) -> list[Tensor]:
        """Per-step token probabilities of each lower voice for soprano windows [B, T].

        Parameters
        ----------
        soprano : LongTensor [B, T]
        noise : Tensor [z_dim] or [B, z_dim], optional
            Standard normal draws: ``z = z_scale * noise``, a draw from the prior (a variation);
            ``None`` decodes ``z = 0``, the prior's mean.
        z_scale : float
            Scale of the prior draw (1 = the prior itself).
        temperature : float
            Softmax temperature (logits / T); T <= 0 gives one-hot argmax distributions.
        lower : LongTensor [B, V, T], optional
            Known lower-voice tokens, ``MASK`` where unknown (None: all unknown).
        phrase : LongTensor [B, T], optional
            Phrase tokens (None: not known; ignored by a net without a phrase input).

        Returns
        -------
        list of Tensor [B, T, C_v]
        """
        soprano = soprano.long()
        z = torch.zeros(len(soprano), self.z_dim, device=soprano.device)
        if noise is not None:
            z = z + z_scale * noise.to(z)
        out = []
        for logits in self.decode_logits(z, soprano, lower, phrase):
            if temperature <= 0:
                out.append(F.one_hot(logits.argmax(-1), logits.shape[-1]).float())
            else:
                out.append(torch.softmax(logits / temperature, dim=-1))
        return out
