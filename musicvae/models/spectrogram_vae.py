"""The timbre model: a convolutional VAE over log-spectrograms of single notes, pitch-conditioned.

The encoder sees only the spectrogram; the decoder also gets the note's pitch
(a learned embedding) and velocity, through FiLM (a per-channel scale and
shift of every decoder layer) and beside ``z`` at its input. Since the decoder
is told the pitch, the cheapest code for the latent is everything else: the
timbre. That is what makes blending work: the flute's mean latent and the
guitar's, decoded at any pitch, give a flute and a guitar at that pitch, and
the path between them a blend.

Convolutions are translation-invariant along frequency, but where a note's
harmonics sit depends on its pitch, so every layer also gets a constant
channel holding the frequency position (CoordConv): FiLM from the pitch times
that channel gives pitch-dependent frequency patterns.

Models take plain keyword arguments and never import :mod:`musicvae.config`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.errors import InputError
from musicvae.models.latent import GaussianPosterior, reparameterize


def _frequency_channel(batch: int, height: int, width: int, *, like: Tensor) -> Tensor:
    """[B, 1, H, W] ramp from -1 (lowest bin) to 1 (highest)."""
    ramp = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
    return ramp.view(1, 1, height, 1).expand(batch, 1, height, width)


class FiLM(nn.Module):
    """Feature-wise linear modulation: ``x * (1 + gamma(c)) + beta(c)`` per channel."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)
        # Start as the identity so conditioning is learned from a working network.
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        gamma, beta = self.proj(cond).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * (1.0 + gamma) + beta


class SpectrogramVAE(nn.Module):
    """Conv VAE over normalised log-spectrograms [B, n_bins, n_frames].

    Parameters
    ----------
    n_bins, n_frames : int
        Spectrogram shape; padded internally to multiples of ``2**len(channels)``.
    z_dim : int
        Latent size.
    channels : tuple of int
        Encoder conv widths; each layer halves both axes. The decoder mirrors them.
    min_pitch, max_pitch : int
        Inclusive MIDI pitch range the decoder knows.
    pitch_embedding : int
        Pitch embedding size.
    condition_velocity : bool
        Also condition the decoder on velocity / 127.
    variational : bool
        False makes a plain autoencoder (z is the posterior mean; no sampling).
    input_noise : float
        Standard deviation of Gaussian noise added to the encoder input while
        training (a denoising autoencoder); 0 turns it off.
    """

    def __init__(
        self,
        *,
        n_bins: int,
        n_frames: int,
        z_dim: int = 32,
        channels: tuple[int, ...] = (32, 64, 96, 128),
        min_pitch: int = 48,
        max_pitch: int = 84,
        pitch_embedding: int = 32,
        condition_velocity: bool = True,
        variational: bool = True,
        input_noise: float = 0.0,
    ) -> None:
        super().__init__()
        if not channels:
            raise ValueError("channels must name at least one layer")
        self.n_bins, self.n_frames = int(n_bins), int(n_frames)
        self.z_dim = int(z_dim)
        self.min_pitch, self.max_pitch = int(min_pitch), int(max_pitch)
        self.condition_velocity = bool(condition_velocity)
        self.variational = bool(variational)
        self.input_noise = float(input_noise)
        factor = 2 ** len(channels)
        self.padded_bins = -(-self.n_bins // factor) * factor
        self.padded_frames = -(-self.n_frames // factor) * factor
        self.low_bins, self.low_frames = self.padded_bins // factor, self.padded_frames // factor

        encoder, width = [], 1
        for c in channels:
            encoder.append(nn.Conv2d(width + 1, c, kernel_size=3, stride=2, padding=1))
            width = c
        self.encoder = nn.ModuleList(encoder)
        flat = channels[-1] * self.low_bins * self.low_frames
        self.posterior = GaussianPosterior(flat, self.z_dim)

        self.pitch_embedding = nn.Embedding(self.max_pitch - self.min_pitch + 1, pitch_embedding)
        cond_dim = pitch_embedding + int(self.condition_velocity)
        self.decoder_input = nn.Linear(self.z_dim + cond_dim, flat)
        # Transposed convolutions (kernel 4, stride 2: no checkerboard, since the
        # kernel is a multiple of the stride) upsample at 4/9 of the multiply-adds
        # of upsample + 3x3 conv, which took the decoder from ~6 to ~2 ms a note
        # on one thread. The last layer is half as wide: it runs at full resolution.
        widths = [*reversed(channels), max(8, channels[0] // 2)]
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(widths[i] + 1, widths[i + 1], kernel_size=4, stride=2, padding=1)
            for i in range(len(channels))
        )
        self.films = nn.ModuleList(FiLM(cond_dim, widths[i + 1]) for i in range(len(channels)))
        self.output = nn.Conv2d(widths[-1] + 1, 1, kernel_size=3, padding=1)

    # -- helpers ----------------------------------------------------------------

    @property
    def pitch_range(self) -> tuple[int, int]:
        return self.min_pitch, self.max_pitch

    def check_pitch(self, pitch: Tensor) -> Tensor:
        """``pitch`` as a long tensor; raises InputError naming the trained range if any pitch lies outside."""
        pitch = torch.as_tensor(pitch, dtype=torch.long)
        if pitch.numel() and (int(pitch.min()) < self.min_pitch or int(pitch.max()) > self.max_pitch):
            bad = int(pitch.min()) if int(pitch.min()) < self.min_pitch else int(pitch.max())
            raise InputError(
                f"pitch {bad} is outside the range this instrument was trained on "
                f"(MIDI {self.min_pitch}..{self.max_pitch})"
            )
        return pitch

    def _condition(self, pitch: Tensor, velocity: Tensor | None) -> Tensor:
        pitch = self.check_pitch(pitch).to(self.pitch_embedding.weight.device)
        cond = self.pitch_embedding(pitch - self.min_pitch)
        if self.condition_velocity:
            if velocity is None:
                velocity = torch.full(pitch.shape, 100.0, device=cond.device)
            velocity = torch.as_tensor(velocity, dtype=cond.dtype, device=cond.device).expand(pitch.shape)
            cond = torch.cat([cond, (velocity / 127.0).unsqueeze(-1)], dim=-1)
        return cond

    # -- the model ----------------------------------------------------------------

    def encode(self, spec: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior ``(mu, sigma)`` [B, Z] of spectrograms [B, n_bins, n_frames]."""
        x = F.pad(spec.unsqueeze(1), (0, self.padded_frames - self.n_frames, 0, self.padded_bins - self.n_bins),
                  value=-1.0)
        for conv in self.encoder:
            x = conv(torch.cat([x, _frequency_channel(x.shape[0], x.shape[2], x.shape[3], like=x)], dim=1))
            x = F.leaky_relu(x, 0.2)
        return self.posterior(x.flatten(1))

    def decode(self, z: Tensor, pitch: Tensor, velocity: Tensor | None = None) -> Tensor:
        """Spectrograms [B, n_bins, n_frames] of latents [B, Z] at MIDI ``pitch`` [B] (and ``velocity`` [B]).

        Raises
        ------
        InputError
            If a pitch lies outside ``min_pitch..max_pitch``.
        """
        cond = self._condition(pitch, velocity)
        h = self.decoder_input(torch.cat([z, cond], dim=-1))
        x = h.view(z.shape[0], -1, self.low_bins, self.low_frames)
        for conv, film in zip(self.decoder, self.films):
            x = conv(torch.cat([x, _frequency_channel(x.shape[0], x.shape[2], x.shape[3], like=x)], dim=1))
            x = F.silu(film(x, cond))
        x = self.output(torch.cat([x, _frequency_channel(x.shape[0], x.shape[2], x.shape[3], like=x)], dim=1))
        return x[:, 0, : self.n_bins, : self.n_frames]

    def forward(
        self,
        spec: Tensor,
        pitch: Tensor,
        velocity: Tensor | None = None,
        *,
        sample_z: bool = True,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        """Encode, sample (or take the mean), decode.

        Parameters
        ----------
        spec : Tensor [B, n_bins, n_frames]
        pitch : LongTensor [B]
        velocity : Tensor [B], optional
        sample_z : bool
            Draw z from the posterior (training); False uses the mean.
        generator : torch.Generator, optional

        Returns
        -------
        dict
            ``recon`` [B, n_bins, n_frames], ``mu``, ``sigma``, ``z`` [B, Z].
        """
        inputs = spec
        if self.training and self.input_noise > 0:
            noise = torch.randn(spec.shape, generator=generator, device=spec.device, dtype=spec.dtype)
            inputs = spec + self.input_noise * noise
        mu, sigma = self.encode(inputs)
        z = reparameterize(mu, sigma, generator=generator) if self.variational and sample_z else mu
        return {"recon": self.decode(z, pitch, velocity), "mu": mu, "sigma": sigma, "z": z}
