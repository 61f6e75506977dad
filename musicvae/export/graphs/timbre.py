"""The timbre decoder and its spectrogram inversion as exportable modules.

Two forms of the same arithmetic:

- :class:`TimbreDecoder` and :class:`GriffinLim` are scriptable mirrors of
  :meth:`musicvae.models.spectrogram_vae.SpectrogramVAE.decode` and
  :func:`musicvae.audio.spectrogram.griffin_lim`: the same torch operations in the same
  order, so that a TorchScript file (and the nn~ synth built on them) gives what the
  Python decode gives. The model's own methods check pitches with Python ints and take
  numpy-friendly arguments, which TorchScript cannot compile; the mirrors take tensors.
- :class:`RealGriffinLim` is the inversion without complex tensors, for ONNX: neither
  of torch's ONNX exporters converts complex arithmetic, and the legacy one has no
  FFT. Its transforms are matrix products with DFT matrices (computed in float64),
  complex values travel as (real, imaginary) pairs, and the phase is normalised by
  hand where ``torch.sgn`` would be called.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from musicvae.audio.spectrogram import HANN_GAMMA, mel_inverse


def _frequency_channel(batch: int, height: int, width: int, like: Tensor) -> Tensor:
    ramp = torch.linspace(-1.0, 1.0, height, device=like.device, dtype=like.dtype)
    return ramp.view(1, 1, height, 1).expand(batch, 1, height, width)


class _UpBlock(nn.Module):
    """One decoder layer: a transposed convolution with its FiLM (kept in pairs for TorchScript's loops)."""

    def __init__(self, conv: nn.Module, film: nn.Module) -> None:
        super().__init__()
        self.conv, self.proj = conv, film.proj

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        x = self.conv(torch.cat([x, _frequency_channel(x.shape[0], x.shape[2], x.shape[3], x)], dim=1))
        gamma, beta = self.proj(cond).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return F.silu(x * (1.0 + gamma) + beta)


class TimbreDecoder(nn.Module):
    """Latents, pitches and velocities -> normalised log-spectrograms (the model's decoder, shared weights).

    Pitches outside the trained range are clamped into it (a graph cannot raise the
    Python decoder's one-line error; the exporters' callers check pitches first).
    """

    def __init__(self, model) -> None:
        super().__init__()
        self.pitch_embedding = model.pitch_embedding
        self.decoder_input = model.decoder_input
        self.blocks = nn.ModuleList(_UpBlock(conv, film) for conv, film in zip(model.decoder, model.films))
        self.output = model.output
        self.min_pitch, self.max_pitch = int(model.min_pitch), int(model.max_pitch)
        self.condition_velocity = bool(model.condition_velocity)
        self.low_bins, self.low_frames = int(model.low_bins), int(model.low_frames)
        self.n_bins, self.n_frames = int(model.n_bins), int(model.n_frames)

    def forward(self, z: Tensor, pitch: Tensor, velocity: Tensor) -> Tensor:
        """z [B, Z] float, pitch [B] int64 (MIDI), velocity [B] float (1..127) -> [B, n_bins, n_frames]."""
        cond = self.pitch_embedding(pitch.clamp(self.min_pitch, self.max_pitch) - self.min_pitch)
        if self.condition_velocity:
            cond = torch.cat([cond, (velocity.to(cond.dtype) / 127.0).unsqueeze(-1)], dim=-1)
        h = self.decoder_input(torch.cat([z, cond], dim=-1))
        x = h.view(z.shape[0], -1, self.low_bins, self.low_frames)
        for block in self.blocks:
            x = block(x, cond)
        x = self.output(torch.cat([x, _frequency_channel(x.shape[0], x.shape[2], x.shape[3], x)], dim=1))
        return x[:, 0, : self.n_bins, : self.n_frames]


def _constants(spectrogram) -> dict[str, Tensor]:
    """The inversion's fixed tensors, computed by the expressions :func:`griffin_lim` uses."""
    n_fft, hop, length = spectrogram.n_fft, spectrogram.hop_length, spectrogram.n_samples
    frames = 1 + length // hop
    window = torch.hann_window(n_fft, periodic=True)
    overlap = n_fft // hop
    padded = (frames + overlap - 1) * hop
    pad = n_fft // 2
    starts = torch.arange(frames) * hop
    index = (starts[:, None] + torch.arange(n_fft)[None, :]).flatten()
    envelope = torch.zeros(padded).index_add_(0, index, window.square().repeat(frames))
    inside = torch.zeros_like(envelope)
    inside[pad : pad + length] = 1.0
    out = {"window": window, "inverse_envelope": inside / envelope.clamp_min(1e-8),
           "frame_index": index.view(frames, n_fft)}
    if spectrogram.n_mels:
        basis = spectrogram.mel_basis
        out["mel_inverse"] = mel_inverse(basis)
        out["project"] = basis.T.contiguous()
        out["spread_t"] = (basis.T / basis.sum(dim=0).clamp_min(1e-8)[:, None]).T.contiguous()
    return out


class _Inversion(nn.Module):
    """Shapes and constants shared by both forms of the inversion."""

    def __init__(self, spectrogram, *, iters: int, momentum: float) -> None:
        super().__init__()
        self.n_fft, self.hop = int(spectrogram.n_fft), int(spectrogram.hop_length)
        self.length = int(spectrogram.n_samples)
        self.frames = 1 + self.length // self.hop
        self.overlap = self.n_fft // self.hop
        self.padded = (self.frames + self.overlap - 1) * self.hop
        self.pad = self.n_fft // 2
        self.iters, self.momentum = int(iters), float(momentum)
        self.mel = bool(spectrogram.n_mels)
        self.bins = self.n_fft // 2 + 1
        self.log_scale, self.log_center = float(spectrogram.norm_scale_db), float(spectrogram.norm_center_db)
        self.gamma = HANN_GAMMA * self.n_fft**2
        for name, value in _constants(spectrogram).items():
            self.register_buffer(name, value)
        if not self.mel:  # placeholders, so that TorchScript sees the same attributes either way
            for name in ("mel_inverse", "project", "spread_t"):
                self.register_buffer(name, torch.zeros(0))

    def magnitude(self, logspec: Tensor) -> Tensor:
        """``Spectrogram.from_log``: magnitudes of a normalised log-spectrogram."""
        return 10.0 ** ((logspec * self.log_scale + self.log_center) / 20.0)

    def phase_init(self, magnitude: Tensor) -> Tensor:
        """:func:`~musicvae.audio.spectrogram.phase_gradient_init` of magnitudes [B, F, T]."""
        gamma = self.gamma
        log_mag = torch.log(magnitude.clamp_min(1e-7))
        slope = torch.zeros_like(log_mag)
        slope[:, 1:-1, :] = (log_mag[:, 2:, :] - log_mag[:, :-2, :]) * (self.n_fft / 2.0)
        bins = torch.arange(magnitude.shape[-2], dtype=magnitude.dtype, device=magnitude.device).unsqueeze(-1)
        nu = bins / self.n_fft + slope / (2.0 * math.pi * gamma)
        advance = 2.0 * math.pi * self.hop * nu
        phase = torch.cumsum(advance, dim=-1) - advance
        return torch.remainder(phase, 2.0 * math.pi)


class GriffinLim(_Inversion):
    """Normalised log-spectrograms [B, n_bins, n_frames] -> audio [B, n_samples]: fast Griffin-Lim as
    :meth:`musicvae.audio.spectrogram.Spectrogram.invert` runs it (phase-gradient start), scriptable."""

    def istft_padded(self, spec: Tensor) -> Tensor:
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1) * self.window
        batch = frames.shape[0]
        out = torch.zeros(batch, self.padded, dtype=frames.dtype, device=spec.device)
        span = self.frames * self.hop
        for k in range(self.overlap):
            out[:, k * self.hop : k * self.hop + span] += frames[:, :, k * self.hop : (k + 1) * self.hop].reshape(
                batch, span)
        return out * self.inverse_envelope

    def stft(self, padded: Tensor) -> Tensor:
        return torch.fft.rfft(padded.unfold(-1, self.n_fft, self.hop) * self.window, dim=-1)

    def forward(self, logspec: Tensor) -> Tensor:
        magnitude = self.magnitude(logspec)
        target = magnitude
        if self.mel:
            target = torch.matmul(self.mel_inverse, target)
        mag = target.transpose(-1, -2).contiguous()  # [B, T, F]
        phase = self.phase_init(mag.transpose(-1, -2)).transpose(-1, -2)
        angles = torch.polar(torch.ones_like(mag), phase)
        previous = torch.zeros_like(angles)
        step = self.momentum / (1.0 + self.momentum)
        rows = mag.shape[0] * self.frames
        mel_target = magnitude.transpose(-1, -2).reshape(rows, -1)
        for _ in range(self.iters):
            rebuilt = self.stft(self.istft_padded(mag * angles))
            angles = torch.sgn(torch.add(rebuilt, previous, alpha=-step))
            previous = rebuilt
            if self.mel:
                current = (rebuilt.real.square() + rebuilt.imag.square()).sqrt().reshape(rows, self.bins)
                ratio = mel_target / torch.mm(current, self.project).clamp_min(1e-10)
                mag = (current * torch.mm(ratio, self.spread_t)).reshape(-1, self.frames, self.bins)
        audio = self.istft_padded(mag * angles)
        return audio[:, self.pad : self.pad + self.length]


class RealGriffinLim(_Inversion):
    """:class:`GriffinLim` in real arithmetic (DFT matrices, (re, im) pairs): what ONNX exports."""

    def __init__(self, spectrogram, *, iters: int, momentum: float) -> None:
        super().__init__(spectrogram, iters=iters, momentum=momentum)
        n, bins = self.n_fft, self.bins
        angle = 2.0 * np.pi * np.outer(np.arange(n), np.arange(bins)) / n  # [N, F]
        window = self.window.double().numpy()[:, None]
        # The analysis window folded into the forward DFT. The inverse is its transpose (the synthesis window
        # folded in the same way) with irfft's weights: 1 at DC and Nyquist, else 2, over N.
        weight = np.full(bins, 2.0 / n)
        weight[0] = weight[-1] = 1.0 / n
        self.register_buffer("dft_re", torch.from_numpy(window * np.cos(angle)))
        self.register_buffer("dft_im", torch.from_numpy(-window * np.sin(angle)))
        self.register_buffer("idft_weight", torch.from_numpy(weight))
        # Stored transposed: a transpose in the graph is folded into a new constant at every use (each iteration).
        self.register_buffer("idft_re", self.dft_re.t().contiguous())
        self.register_buffer("idft_im", self.dft_im.t().contiguous())
        # In float64: a float32 inversion's rounding (a different summation order in every runtime's matrix
        # product) grows through the iterations to 1e-3 in the audio; in float64 runtimes agree to 1e-10.
        for name in ("inverse_envelope", "mel_inverse", "project", "spread_t"):
            setattr(self, name, getattr(self, name).double())

    def istft_padded(self, re: Tensor, im: Tensor) -> Tensor:
        frames = torch.matmul(re * self.idft_weight, self.idft_re) + torch.matmul(im * self.idft_weight,
                                                                                self.idft_im)  # [B, T, N]
        batch = frames.shape[0]
        span = self.frames * self.hop
        out = torch.zeros(batch, self.padded, dtype=re.dtype, device=re.device)
        for k in range(self.overlap):
            piece = frames[:, :, k * self.hop : (k + 1) * self.hop].reshape(batch, span)
            out = out + F.pad(piece, (k * self.hop, self.padded - span - k * self.hop))
        return out * self.inverse_envelope

    def stft(self, padded: Tensor) -> tuple[Tensor, Tensor]:
        frames = padded[:, self.frame_index]  # [B, T, N]
        return torch.matmul(frames, self.dft_re), torch.matmul(frames, self.dft_im)

    def forward(self, logspec: Tensor) -> Tensor:
        magnitude = self.magnitude(logspec.double())
        target = magnitude
        if self.mel:
            target = torch.matmul(self.mel_inverse, target)
        mag = target.transpose(-1, -2)  # [B, T, F]
        phase = self.phase_init(target).transpose(-1, -2)
        ang_re, ang_im = torch.cos(phase), torch.sin(phase)
        prev_re, prev_im = torch.zeros_like(mag), torch.zeros_like(mag)
        step = self.momentum / (1.0 + self.momentum)
        for _ in range(self.iters):
            re, im = self.stft(self.istft_padded(mag * ang_re, mag * ang_im))
            d_re, d_im = re - step * prev_re, im - step * prev_im
            norm = torch.sqrt(d_re * d_re + d_im * d_im)
            safe = torch.where(norm > 0, norm, torch.ones_like(norm))
            ang_re = torch.where(norm > 0, d_re / safe, torch.zeros_like(norm))
            ang_im = torch.where(norm > 0, d_im / safe, torch.zeros_like(norm))
            prev_re, prev_im = re, im
            if self.mel:
                current = torch.sqrt(re * re + im * im)
                ratio = magnitude.transpose(-1, -2) / torch.matmul(current, self.project).clamp_min(1e-10)
                mag = current * torch.matmul(ratio, self.spread_t)
        audio = self.istft_padded(mag * ang_re, mag * ang_im)
        return audio[:, self.pad : self.pad + self.length].float()


class TimbreNotes(nn.Module):
    """Latents, pitches, velocities -> (audio notes [B, n_samples], log-spectrograms [B, n_bins, n_frames])."""

    def __init__(self, decoder: TimbreDecoder, inversion: nn.Module) -> None:
        super().__init__()
        self.decoder, self.inversion = decoder, inversion

    def forward(self, z: Tensor, pitch: Tensor, velocity: Tensor) -> tuple[Tensor, Tensor]:
        spec = self.decoder(z, pitch, velocity)
        return self.inversion(spec), spec


def timbre_notes(instrument, *, real: bool = False) -> TimbreNotes:
    """The instrument's decoder and inversion as one module (``real``: the ONNX form of the inversion)."""
    from musicvae import blend

    spectrogram = blend.spectrogram(instrument)
    iters = int(instrument.config.model.spectrogram.inversion_iters)
    from musicvae.audio.spectrogram import DEFAULT_MOMENTUM

    inversion = (RealGriffinLim if real else GriffinLim)(spectrogram, iters=iters, momentum=DEFAULT_MOMENTUM)
    return TimbreNotes(TimbreDecoder(instrument.model), inversion).eval()


def exportable(instrument, fmt: str, *, sample_rate: int | None = None):
    """The timbre export for ``fmt``: the notes' decoder and inversion (onnx, torchscript) or the nn~ synth
    (at ``sample_rate``, default the instrument's)."""
    from musicvae.export.exportable import Exportable
    from musicvae.export.graphs import no_sample_rate

    if fmt == "nn-tilde":
        from musicvae.export.synth_module import build_synth_module

        module = build_synth_module(instrument, sample_rate=sample_rate)
        return Exportable(module, summary=f"nn~ methods {', '.join(module.get_methods())} at "
                                          f"{module.get_sample_rate()} Hz")
    no_sample_rate(instrument, sample_rate, f"its {fmt} decoder gives notes at the instrument's rate")
    model = instrument.model
    z = torch.randn(2, model.z_dim, generator=torch.Generator().manual_seed(0))
    pitch = torch.tensor([model.min_pitch, model.max_pitch])
    velocity = torch.tensor([100.0, 64.0])
    module = timbre_notes(instrument, real=fmt == "onnx")
    spec = module.decoder
    return Exportable(module, (z, pitch, velocity), ("z", "pitch", "velocity"), ("audio", "spectrogram"),
                      dynamic={name: {0: "batch"} for name in ("z", "pitch", "velocity", "audio", "spectrogram")},
                      summary=f"z [B, {model.z_dim}], pitch [B] (MIDI {model.min_pitch}..{model.max_pitch}), "
                              f"velocity [B] -> audio [B, {module.inversion.length}], spectrogram "
                              f"[B, {spec.n_bins}, {spec.n_frames}]")
