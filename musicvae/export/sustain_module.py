"""A decoded note's sustain loop in TorchScript: :mod:`musicvae.audio.sustain` for the nn~ synth.

:class:`SustainLoop` chooses the loop of a note the synth module has just decoded, from the
decoder's frames and the note's samples, by the arithmetic of
:func:`~musicvae.audio.sustain.choose_loop` and :func:`~musicvae.audio.sustain.sustained`
(float64 where they compute in float64, float32 where they do), so that a held note loops at
the samples the Python synth loops it at. What depends only on the instrument and the rate (the
loop's entry, the frames it may start at, the key-up, the crossfade) is worked out once, in
Python, by the same expressions; what depends on the note (the start frame, its level slope, the
start's nudge within one pitch period) is computed per note.
"""

# No ``from __future__ import annotations``: TorchScript reads the NamedTuple's annotations as types.
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from musicvae.audio.sustain import LOOP_CROSSFADE, MAX_DECAY_DB, MIN_LOOP


class HeldNote(NamedTuple):
    """:class:`~musicvae.audio.sustain.SustainedNote` as a TorchScript value (an empty ``loop``: None)."""

    audio: Tensor
    loop: Tensor
    entry: int
    decay: float
    crossfade: int
    release: int
    match: Tensor
    half: int


def plain_note(audio: Tensor) -> HeldNote:
    """A note that cannot be held past its length (``SustainedNote(audio)``)."""
    n = audio.numel()
    return HeldNote(audio, torch.zeros(0), n, 0.0, 1, n, torch.zeros(0), 0)


def release_match(loop: Tensor, release: Tensor, half: int) -> Tensor:
    """:func:`musicvae.audio.sustain.release_match`, by the same float64 arithmetic."""
    x, n = release.numel(), loop.numel() + 2 * half
    ring = torch.cat([loop[loop.numel() - half :], loop, loop[: half + x]]).double()
    ref = release.double()
    energy = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(ring**2, dim=0)])
    windows = energy[x : n + x] - energy[:n]
    norms = torch.sqrt(windows.clamp_min(0.0) * (ref**2).sum()) + 1e-12
    products = torch.nn.functional.conv1d(ring.view(1, 1, -1), ref.view(1, 1, -1)).view(-1)[:n]
    return (products / norms).float()


def release_start(note: HeldNote, position: int) -> int:
    """:func:`musicvae.audio.sustain.release_start`: where a key-up at ``position`` reads the release from."""
    if note.half == 0 or note.match.numel() == 0:
        return note.release
    p = (position - note.entry) % note.loop.numel()
    best = int(torch.argmax(note.match[p : p + 2 * note.half + 1]).item())
    return note.release + note.half - best


class SustainLoop(nn.Module):
    """Decoder frames [n_bins, n_frames] and the note [n_out] (at ``out_rate``) -> its :class:`HeldNote`.

    Parameters
    ----------
    rate : int
        The decoder's sample rate (its frames' hop is in these samples).
    out_rate : int
        Of the note's samples (the host's; notes are resampled to it before their loop is cut).
    hop_length, n_fft, n_frames : int
        The decoder's spectrogram.
    n_out : int
        Samples in a note at ``out_rate``.
    hold_seconds : float
        The key-up of the instrument's training notes (:func:`musicvae.blend.hold_seconds`).
    scale_db : float
        The spectrogram's normalisation scale (dB per unit).
    """

    starts: list[int]
    periods: list[int]

    def __init__(self, *, rate: int, out_rate: int, hop_length: int, n_fft: int, n_frames: int, n_out: int,
                 hold_seconds: float, scale_db: float) -> None:
        super().__init__()
        # choose_loop's frame range, by its expressions (they depend on the instrument only).
        frame_s = hop_length / rate
        end_s = hold_seconds - n_fft / 2 / rate
        entry_s = end_s - LOOP_CROSSFADE
        self.last = int(np.floor(entry_s / frame_s))
        self.first = int(np.ceil((min(0.1, hold_seconds / 4) + n_fft / 2 / rate) / frame_s))
        self.latest_start = int(np.floor((entry_s - MIN_LOOP) / frame_s))
        self.scale_db = float(scale_db)
        # sustained's samples, at the output rate.
        self.out_rate = int(out_rate)
        self.x = int(max(1, round(LOOP_CROSSFADE * out_rate)))
        self.entry = int(round(entry_s * out_rate))
        self.loops = not (self.last >= n_frames or self.latest_start < self.first) and self.entry + self.x <= n_out
        # The sample each candidate frame starts at: round(choice.start * sample_rate), choice.start = frame * frame_s.
        self.starts = [int(round((c * frame_s) * out_rate)) for c in range(self.first, self.latest_start + 1)]
        self.periods = [int(round(out_rate / (440.0 * 2 ** ((p - 69) / 12)))) for p in range(128)]
        self.nudge_limit = self.entry - self.x - int(MIN_LOOP * out_rate / 2)
        self.release = min(n_out - 1, max(self.entry, int(round(hold_seconds * out_rate))))
        self.ln10 = float(np.log(10.0))
        self.max_decay_db = float(MAX_DECAY_DB)
        x = self.x
        fade = (0.5 - 0.5 * np.cos(np.pi * (np.arange(x) + 0.5) / x)).astype(np.float32)
        self.register_buffer("fade", torch.from_numpy(fade))
        first, last = self.first, max(self.first, self.last)
        self.register_buffer("t", torch.from_numpy(np.arange(first, last + 1) * frame_s))

    def forward(self, frames: Tensor, audio: Tensor, pitch: int) -> HeldNote:
        if not self.loops:
            return plain_note(audio)
        first, last = self.first, self.last
        f = frames.double()
        level = f.mean(dim=0)
        shape = f - level  # spectral shape, level removed
        flux = torch.cat([torch.zeros(1, dtype=torch.float64),
                          torch.sqrt((torch.diff(shape, dim=1) ** 2).mean(dim=0))])
        junction = torch.sqrt(((shape[:, first : self.latest_start + 1] - shape[:, last : last + 1]) ** 2).mean(dim=0))
        stationary = torch.stack([flux[c + 1 : last + 1].mean() for c in range(first, self.latest_start + 1)])
        j = int(torch.argmin(junction + stationary).item())
        # np.polyfit's slope, as the least-squares line in closed form.
        y = level[first : last + 1] * self.scale_db
        dt = self.t - self.t.mean()
        slope = float(((dt * (y - y.mean())).sum() / (dt * dt).sum()).item())
        decay_db = min(max(slope, -self.max_decay_db), 0.0)
        x, entry = self.x, self.entry
        start = self.starts[j]
        if start < x:
            return plain_note(audio)
        period = self.periods[pitch]
        lo, hi = max(x, start - period), min(self.nudge_limit, start + period)
        if hi > lo:
            # The best waveform match of audio[start:] with audio[entry:], over a crossfade's length.
            wide = audio.double()
            ref = wide[entry : entry + x]
            windows = wide[lo : hi + x].unfold(0, x, 1)
            norms = torch.sqrt((windows**2).sum(dim=1) * (ref**2).sum()) + 1e-12
            start = lo + int(torch.argmax(torch.mv(windows, ref) / norms).item())
        decay = decay_db * self.ln10 / 20.0 / self.out_rate  # per frame
        flatten = torch.exp(decay * (entry - torch.arange(start, entry, dtype=torch.float64))).float()
        loop = audio[start:entry] * flatten
        loop[:x] = audio[entry : entry + x] * (1.0 - self.fade) + loop[:x] * self.fade
        release = self.release
        half = min(period // 2, loop.numel() // 2, max(0, audio.numel() - x - release), release - entry)
        return HeldNote(audio, loop.contiguous(), entry, decay, x, release,
                        release_match(loop, audio[release : release + x], half), half)


def sustain_loop(instrument, *, out_rate: int, n_out: int) -> SustainLoop:
    """The :class:`SustainLoop` of a timbre instrument's notes at ``out_rate`` (``n_out`` samples each)."""
    from musicvae import blend

    spec = instrument.config.model.spectrogram
    return SustainLoop(rate=blend.sample_rate(instrument), out_rate=out_rate, hop_length=spec.hop_length,
                       n_fft=spec.n_fft, n_frames=int(instrument.model.n_frames), n_out=n_out,
                       hold_seconds=blend.hold_seconds(instrument), scale_db=spec.norm_scale_db)


__all__ = ["HeldNote", "SustainLoop", "plain_note", "release_match", "release_start", "sustain_loop"]
