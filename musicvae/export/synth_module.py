"""The timbre synth as an nn~ module: the live engine's rules in TorchScript, its state inside the module.

:class:`TimbreSynth` is built with the ``nn-tilde`` package (its ``Module`` registers each
method with nn~'s ``<method>_params`` buffer, ``[in_channels, in_ratio, out_channels,
out_ratio]``, and answers ``get_methods``). Two methods, one sample in and one out
(ratio 1) at the rate it was exported for (the instrument's, or the host's: notes are then
resampled once decoded, by the filter the live synth uses at a sound card's rate):

- ``play``: gate, pitch and blend signals in, audio out. A gate rising above 0 starts a
  note at the pitch signal's (rounded) MIDI pitch and velocity ``round(gate * 127)`` (decoded
  at velocity 100 and played at the velocity's level, as the live synth does); a
  pitch change while the gate is up ends the note and starts the next (legato); the gate
  falling to 0 ends it. The blend (0 = the source family, 1 = the target) is read at
  every 256th sample, rounded to 1/16 like the live synth's note cache, and a held note
  crossfades to a new step as it does live.
- ``decode``: gate, pitch and ``z_dim`` latent channels in, audio out: a note-on decodes
  the latent the channels carry at its first sample (no blend, no crossfade).

It runs :class:`musicvae.realtime.synth.SynthEngine` step for step (voices, release,
morph crossfades, stealing into a fading ring, and notes held past their decoded length: a key
held past a note's loop entry loops its sustain, decaying as the note decays, until the key-up
crossfades into the note's own release or the decay reaches -80 dB; the loop is chosen when the
note is decoded, by :mod:`musicvae.export.sustain_module`) in 256-sample ticks counted from the first
sample, whatever block size the host calls it with, which is what the offline renderer
(:mod:`musicvae.render`) does: a host block of 64 or 4096 gives the same samples. Notes
are decoded when first played, inside the call (decoder and fast Griffin-Lim, as the
offline renderer's blocking note cache does: the live synth decodes on a worker thread
instead, so that what it plays depends on when a decode finishes, where these samples are the
offline renderer's at every block size), and kept per (pitch, blend step).
One stream per module: nn~ calls with a batch of 1 (mc.nn~'s batches are refused).
"""

# No ``from __future__ import annotations`` here: TorchScript reads the class's attribute annotations as types.
import contextlib
import math

import numpy as np
import torch
from torch import Tensor, nn

from musicvae.export.graphs.timbre import timbre_notes
from musicvae.export.sustain_module import HeldNote, plain_note, release_start, sustain_loop

#: Samples per engine tick: the blend is read at each tick's first sample (musicvae.render.BLOCK).
TICK = 256


def _nn_tilde():
    from musicvae.errors import SystemDependencyError

    try:
        import nn_tilde
    except ImportError as error:
        raise SystemDependencyError(f"the nn-tilde export needs the nn-tilde package ({error}); install it with: "
                                    "pip install --no-deps nn-tilde cached_conv") from None
    return nn_tilde


@contextlib.contextmanager
def _single_batch_test():
    """nn-tilde tests a registered method with a batch of 4 for mc.nn~ when cached_conv allows batches; a
    synth's state is one stream, so registration tests the batch of 1 nn~ sends."""
    import cached_conv

    previous = cached_conv.MAX_BATCH_SIZE
    cached_conv.MAX_BATCH_SIZE = 1
    try:
        yield
    finally:
        cached_conv.MAX_BATCH_SIZE = previous


class Resampler(nn.Module):
    """One note from the instrument's rate to the output's: :func:`scipy.signal.resample_poly`'s filter and
    padding (what the Python synth resamples notes with), computed polyphase: each output sample is one phase
    of the filter (about 20 taps) times the input samples under it, never the zero-stuffed signal."""

    def __init__(self, n_in: int, rate: int, out_rate: int) -> None:
        super().__init__()
        g = math.gcd(rate, out_rate)
        self.up, self.down, self.n_in = out_rate // g, rate // g, int(n_in)
        self.identity = self.up == self.down
        self.n_out, self.n_pre_remove, self.taps = self.n_in, 0, 1
        phases = np.zeros((1, 1))
        if not self.identity:
            from scipy.signal import firwin

            # resample_poly's design: a Kaiser (beta 5) low-pass at the lower Nyquist, 10 periods each side, in
            # the note's float32, times up; zeros before it so that output samples sit at the filter's centre.
            max_rate = max(self.up, self.down)
            half_len = 10 * max_rate
            h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32) * self.up
            n_pre_pad = self.down - half_len % self.down
            self.n_pre_remove = (half_len + n_pre_pad) // self.down
            n_out = self.n_in * self.up
            self.n_out = n_out // self.down + bool(n_out % self.down)
            h = np.concatenate([np.zeros(n_pre_pad, np.float32), h])
            self.taps = -(-len(h) // self.up)
            # phases[r, q] = h[r + q * up]: the taps that meet input samples i_max, i_max - 1, ... at phase r.
            phases = np.zeros(self.taps * self.up, np.float32)
            phases[: len(h)] = h
            phases = phases.reshape(self.taps, self.up).T
        self.register_buffer("phases", torch.from_numpy(np.ascontiguousarray(phases)).float())
        # Which input samples and taps each output sample takes: made at the first note (megabytes at 44.1 kHz,
        # so not stored in the file), then one gather, multiply and sum per note (6 ms at 44.1 kHz, 1 thread).
        self.index = torch.zeros(0, dtype=torch.long)
        self.taps_of = torch.zeros(0)

    def forward(self, note: Tensor) -> Tensor:
        """[n_in] -> [n_out] float32."""
        if self.identity:
            return note
        if self.index.numel() == 0:
            # Output j is upfirdn's sample t = j + n_pre_remove: sum over q of h[r + q up] x[i_max - q], n = t down.
            n = (torch.arange(self.n_out) + self.n_pre_remove) * self.down
            i_max, r = torch.div(n, self.up, rounding_mode="floor"), torch.remainder(n, self.up)
            self.index = (i_max.unsqueeze(1) - torch.arange(self.taps).unsqueeze(0) + self.taps).clamp(
                0, self.n_in + self.taps)
            self.taps_of = self.phases[r].contiguous()
        padded = torch.cat([torch.zeros(self.taps), note.float(), torch.zeros(1)])
        return (padded[self.index] * self.taps_of).sum(dim=1)


def build_synth_module(instrument, *, sample_rate: int | None = None, voices: int = 8, source: str = "flute",
                       target: str = "guitar",
                       method: str = "slerp", release: float = 0.05, crossfade: float = 0.03,
                       steal_fade: float = 0.005, gain: float = 0.5, morph_steps: int = 16):
    """The nn~ module of a timbre instrument (an ``nn_tilde.Module``, ready for ``torch.jit.script``).

    Parameters mirror :class:`~musicvae.realtime.synth.SynthEngine` and :func:`musicvae.render.render_melody`;
    ``sample_rate`` is the host's (default: the instrument's), which notes are resampled to once decoded, as the
    live synth does at a sound card's rate.

    Raises
    ------
    InputError
        For an unknown family or fewer than one voice.
    SystemDependencyError
        When the ``nn-tilde`` package is missing.
    """
    from musicvae import blend
    from musicvae.errors import InputError

    if voices < 1:
        raise InputError(f"polyphony must be at least 1 voice, got {voices}")
    for family in (source, target):
        blend.family_latent(instrument, family)  # an unknown family fails here
    low, high = instrument.model.pitch_range
    # The latents the live synth's note cache decodes at each pitch and blend step, by the same function:
    # [pitches, morph_steps + 1, Z].
    latents = torch.stack([torch.stack([
        torch.from_numpy(blend.family_mix(instrument, source, target, step / morph_steps, pitch=pitch, method=method))
        for step in range(morph_steps + 1)]) for pitch in range(low, high + 1)])
    rate = int(sample_rate or blend.sample_rate(instrument))
    if not 8000 <= rate <= 192000:
        raise InputError(f"an nn~ synth plays at 8000..192000 Hz, not {rate}")
    resampler = Resampler(instrument.config.model.spectrogram.n_samples, blend.sample_rate(instrument), rate)
    sustain = sustain_loop(instrument, out_rate=rate, n_out=resampler.n_out)
    engine = dict(voices=voices, release=max(1, int(round(release * rate))),
                  crossfade=max(1, int(round(crossfade * rate))), steal=max(1, int(round(steal_fade * rate))),
                  gain=gain, morph_steps=morph_steps)
    module_class = _synth_class(_nn_tilde().Module)
    with _single_batch_test():
        return module_class(timbre_notes(instrument), resampler, sustain, latents, sample_rate=rate,
                            pitch_range=instrument.model.pitch_range, **engine)


def _synth_class(base: type) -> type:
    """:class:`TimbreSynth` on nn-tilde's ``Module`` (imported when an export asks for it)."""

    class TimbreSynth(base):
        """The synth engine over the instrument's notes: methods ``play`` and ``decode`` (the module's docstring)."""

        cache: dict[int, HeldNote]
        voice_note: list[HeldNote]
        voice_target: list[HeldNote]

        def __init__(self, notes, resampler, sustain, latents: Tensor, *, sample_rate: int,
                     pitch_range: tuple[int, int], voices: int, release: int, crossfade: int, steal: int,
                     gain: float, morph_steps: int) -> None:
            super().__init__(sr=sample_rate)
            self.notes, self.resample, self.sustain = notes, resampler, sustain
            self.register_buffer("latents", latents.float().contiguous())
            self.z_dim = int(latents.shape[2])
            self.low, self.high = int(pitch_range[0]), int(pitch_range[1])
            self.max_voices, self.release_frames, self.crossfade_frames = voices, release, crossfade
            self.steal_frames, self.gain, self.morph_steps, self.tick = steal, float(gain), morph_steps, TICK
            self.register_buffer("steal_fade", 1.0 - (torch.arange(steal, dtype=torch.float32) + 0.5) / steal)
            self.register_buffer("tail", torch.zeros(steal))
            # A tick's frames, or a stolen voice's fade where that is longer (above 51.2 kHz).
            self.register_buffer("ramp", torch.arange(max(TICK, steal), dtype=torch.float32))
            self.cache = {}
            self._clear()
            self.register_method("play", 3, 1, 1, 1, input_labels=["(signal) gate: velocity / 127, 0 = off",
                                                                   "(signal) MIDI pitch", "(signal) blend 0..1"],
                                 output_labels=["(signal) audio"])
            self.register_method("decode", 2 + self.z_dim, 1, 1, 1,
                                 input_labels=["(signal) gate: velocity / 127, 0 = off", "(signal) MIDI pitch"]
                                 + [f"(signal) latent {i}" for i in range(self.z_dim)],
                                 output_labels=["(signal) audio"])
            self._clear()  # registration ran both methods on silence

        def _clear(self) -> None:
            n = self.max_voices
            self.frame, self.tick_frame, self.morph_step = 0, 0, 0
            self.gate_on, self.gate_pitch = False, -1
            # One comprehension per list: TorchScript merges equal expressions such as two ``[-1] * n``, and the
            # attributes would then share one list.
            self.active = [False for _ in range(n)]
            self.pitch = [-1 for _ in range(n)]
            self.position = [0 for _ in range(n)]
            self.key = [-1 for _ in range(n)]
            self.target_key = [-1 for _ in range(n)]
            self.level = [0.0 for _ in range(n)]
            self.released = [-1 for _ in range(n)]
            self.started = [0 for _ in range(n)]
            self.faded = [0 for _ in range(n)]
            self.looped = [False for _ in range(n)]
            self.tail_at = [-1 for _ in range(n)]
            self.tail_gain = [1.0 for _ in range(n)]
            self.tail_from = [0 for _ in range(n)]
            self.voice_note = [plain_note(torch.zeros(0)) for _ in range(n)]
            self.voice_target = [plain_note(torch.zeros(0)) for _ in range(n)]
            self.cache.clear()
            self.tail_read, self.tail_pending = 0, 0
            self.tail.zero_()
            self.stolen, self.rejected = 0, 0

        @torch.jit.export
        def reset(self) -> None:
            """Silence every voice and forget the decoded notes; the next sample is the first tick's."""
            self._clear()

        # -- notes ---------------------------------------------------------------

        def _decode(self, z: Tensor, pitch: int) -> HeldNote:
            with torch.no_grad():
                audio, frames = self.notes(z.unsqueeze(0), torch.tensor([pitch]), torch.tensor([100.0]))
                return self.sustain(frames[0], self.resample(audio[0]).contiguous(), pitch)

        def _note(self, pitch: int, step: int) -> HeldNote:
            key = pitch * (self.morph_steps + 1) + step
            if key not in self.cache:
                self.cache[key] = self._decode(self.latents[pitch - self.low, step], pitch)
            return self.cache[key]

        # -- the engine (SynthEngine's methods of the same names) -------------------

        def _follow_morph(self) -> None:
            for i in range(self.max_voices):
                if not self.active[i] or self.released[i] >= 0 or self.voice_target[i].audio.numel() > 0:
                    continue
                if self.key[i] >= 0 and self.morph_step != self.key[i]:
                    note, playing = self._note(self.pitch[i], self.morph_step), self.voice_note[i]
                    if note.audio.numel() >= playing.audio.numel() and \
                            (note.loop.numel() == 0) == (playing.loop.numel() == 0):
                        self.voice_target[i], self.target_key[i], self.faded[i] = note, self.morph_step, 0

        def _free_voice(self) -> int:
            for i in range(self.max_voices):
                if not self.active[i]:
                    return i
            self.stolen += 1
            best = -1
            for i in range(self.max_voices):  # the voice releasing longest, else the oldest
                if self.released[i] >= 0 and (best < 0 or self.released[i] > self.released[best]):
                    best = i
            if best >= 0:
                return best
            best = 0
            for i in range(1, self.max_voices):
                if self.started[i] < self.started[best]:
                    best = i
            return best

        def _start(self, pitch: int, velocity: int, z: Tensor, from_latent: bool) -> None:
            if pitch < self.low or pitch > self.high:
                self.rejected += 1
                return
            i = self._free_voice()
            if self.active[i]:
                self._fade_out(i)
            if from_latent:
                self.voice_note[i], self.key[i] = self._decode(z, pitch), -1
            else:
                self.voice_note[i], self.key[i] = self._note(pitch, self.morph_step), self.morph_step
            self.active[i], self.pitch[i] = True, pitch
            self.position[i], self.released[i], self.started[i] = 0, -1, self.tick_frame
            self.tail_at[i], self.tail_gain[i], self.looped[i] = -1, 1.0, False
            self.level[i] = self.gain * velocity / 127.0
            self.voice_target[i], self.target_key[i], self.faded[i] = plain_note(torch.zeros(0)), -1, 0

        def _stop(self, pitch: int) -> None:
            for i in range(self.max_voices):
                if self.active[i] and self.pitch[i] == pitch and self.released[i] < 0:
                    self._release(i)

        def _release(self, i: int) -> None:
            if self.looped[i]:
                # Held into the loop: the note's own release follows, crossfaded from the loop.
                note = self.voice_note[i]
                self.tail_at[i], self.tail_gain[i] = 0, math.exp(note.decay * (self.position[i] - note.entry))
                self.tail_from[i] = release_start(note, self.position[i])
            self.released[i] = 0

        def _fade_out(self, i: int) -> None:
            scratch = torch.zeros(self.steal_frames)
            self._render_voice(i, scratch, 0, self.steal_frames)
            scratch = scratch * self.steal_fade
            n, r = self.steal_frames, self.tail_read
            self.tail[r:] += scratch[: n - r]
            self.tail[:r] += scratch[n - r :]
            self.tail_pending = n

        def _drain_tail(self, out: Tensor, start: int, stop: int) -> None:
            n = min(stop - start, self.tail_pending)
            while n > 0:
                r = self.tail_read
                k = min(n, self.steal_frames - r)
                out[start : start + k] += self.tail[r : r + k]
                self.tail[r : r + k] = 0.0
                self.tail_read = (r + k) % self.steal_frames
                self.tail_pending -= k
                start, n = start + k, n - k

        def _render(self, out: Tensor, start: int, stop: int) -> None:
            if stop <= start:
                return
            if self.tail_pending > 0:
                self._drain_tail(out, start, stop)
            for i in range(self.max_voices):
                if self.active[i]:
                    self._render_voice(i, out, start, stop)

        def _crossfade(self, i: int, tmp: Tensor, pos: int, k: int, looping: bool) -> Tensor:
            """``tmp`` (the voice's note at ``pos``) crossfaded into its morph target's for ``k`` frames."""
            mix = ((self.ramp[:k] + self.faded[i]) * (1.0 / self.crossfade_frames)).clamp_max(1.0)
            self.faded[i] += k
            return (self._read(self.voice_target[i], pos, k, looping) - tmp) * mix + tmp

        def _read(self, note: HeldNote, pos: int, k: int, loop: bool) -> Tensor:
            entry = note.entry
            if not loop or note.loop.numel() == 0 or pos + k <= entry:
                return note.audio[pos : pos + k]
            a = max(0, entry - pos)  # frames before the entry
            parts = [note.audio[pos : pos + a]]
            n = note.loop.numel()
            j, p = a, (pos + a - entry) % n
            while j < k:
                m = min(k - j, n - p)
                parts.append(note.loop[p : p + m])
                j, p = j + m, 0
            out = torch.cat(parts)
            if note.decay != 0.0:
                out[a:] *= torch.exp((self.ramp[: k - a] + (pos + a - entry)) * note.decay)
            return out

        def _render_voice(self, i: int, out: Tensor, start: int, stop: int) -> None:
            if self.tail_at[i] >= 0:
                self._render_tail(i, out, start, stop)
                return
            note, pos = self.voice_note[i], self.position[i]
            held = self.released[i] < 0
            looping = note.loop.numel() > 0 and (held or self.looped[i])
            k = stop - start if looping else min(stop - start, note.audio.numel() - pos)
            if k <= 0:
                self.active[i] = False
                return
            tmp = self._read(note, pos, k, looping)
            if self.voice_target[i].audio.numel() > 0:
                tmp = self._crossfade(i, tmp, pos, k, looping)
                if self.faded[i] >= self.crossfade_frames:
                    self.voice_note[i], self.key[i] = self.voice_target[i], self.target_key[i]
                    self.voice_target[i] = plain_note(torch.zeros(0))
            if self.released[i] >= 0:
                env = ((self.ramp[:k] + self.released[i]) * (-1.0 / self.release_frames) + 1.0).clamp_min(0.0)
                tmp = tmp * env
                self.released[i] += k
                if self.released[i] >= self.release_frames:
                    self.active[i] = False
            out[start : start + k] += tmp * self.level[i]
            self.position[i] = pos + k
            if looping:
                self.looped[i] = self.looped[i] or pos + k > note.entry
                # A held note whose decay has reached -80 dB frees its voice.
                if note.decay * (pos + k - note.entry) < -9.2:
                    self.active[i] = False
            elif pos + k >= note.audio.numel():
                self.active[i] = False

        def _render_tail(self, i: int, out: Tensor, start: int, stop: int) -> None:
            """A note let go while looping: its decoded release, the loop crossfading into it at first."""
            note, t = self.voice_note[i], self.tail_at[i]
            release = note.audio[self.tail_from[i] :]
            k = min(stop - start, release.numel() - t)
            if k <= 0:
                self.active[i] = False
                return
            tmp = release[t : t + k] * self.tail_gain[i]
            x = note.crossfade
            if t < x:
                m = min(k, x - t)
                pos = self.position[i]
                loop = self._read(note, pos, m, True)
                if self.voice_target[i].audio.numel() > 0:  # let go during a morph crossfade: it goes on
                    loop = self._crossfade(i, loop, pos, m, True)
                mix = (self.ramp[:m] + (t + 0.5)) * (-1.0 / x) + 1.0  # the loop's share, 1 -> 0
                tmp[:m] += (loop - tmp[:m]) * mix
                self.position[i] = pos + m
            elif self.voice_target[i].audio.numel() > 0:  # the crossfade into the release is over: so is the morph's
                self.voice_target[i], self.target_key[i] = plain_note(torch.zeros(0)), -1
            out[start : start + k] += tmp * self.level[i]
            self.tail_at[i] = t + k
            if t + k >= release.numel():
                self.active[i] = False

        # -- signals in, blocks out ---------------------------------------------------

        def _events(self, gate: Tensor, pitch: Tensor) -> tuple[list[int], list[int], list[int], list[int]]:
            """(offsets, offs, ons, velocities) of the block's gate and pitch edges: each offset ends the
            note ``offs`` names (-1: none) and then starts ``ons`` (-1: none), as the renderer orders them."""
            on = gate > 0.0
            midi = torch.round(pitch).to(torch.long)
            prev_on = torch.cat([torch.tensor([self.gate_on]), on[:-1]])
            prev_midi = torch.cat([torch.tensor([self.gate_pitch]), midi[:-1]])
            moved = midi != prev_midi
            ends = prev_on & (~on | moved)
            starts = on & (~prev_on | moved)
            at = torch.nonzero(ends | starts).flatten()
            velocity = torch.round(gate * 127.0).clamp(1.0, 127.0).to(torch.long)
            offs = torch.where(ends, prev_midi, torch.full_like(midi, -1))[at]
            ons = torch.where(starts, midi, torch.full_like(midi, -1))[at]
            self.gate_on, self.gate_pitch = bool(on[-1]), int(midi[-1])
            at_list: list[int] = at.tolist()
            offs_list: list[int] = offs.tolist()
            ons_list: list[int] = ons.tolist()
            velocity_list: list[int] = velocity[at].tolist()
            return at_list, offs_list, ons_list, velocity_list

        def _process(self, x: Tensor, from_latent: bool) -> Tensor:
            if x.dim() != 3 or x.shape[0] != 1:
                raise RuntimeError("a synth module plays one stream: a batch of 1, [1, channels, samples]")
            x = x[0].float()
            frames = x.shape[1]
            out = torch.zeros(frames)
            if frames == 0:
                return out.view(1, 1, 0)
            at, offs, ons, velocity = self._events(x[0], x[1])
            e, pos = 0, 0
            while pos < frames:
                now = self.frame + pos
                end = min(frames, pos + self.tick - now % self.tick)
                if now % self.tick == 0:
                    self.tick_frame = now
                    if not from_latent:
                        # float64 like the renderer's parameter; Python's round and torch's both round half to even
                        amount = min(max(float(x[2, pos]), 0.0), 1.0)
                        self.morph_step = int(torch.round(torch.tensor(amount * self.morph_steps,
                                                                       dtype=torch.float64)))
                        self._follow_morph()
                done = pos
                while e < len(at) and at[e] < end:
                    if at[e] > done:
                        self._render(out, done, at[e])
                        done = at[e]
                    if offs[e] >= 0:
                        self._stop(offs[e])
                    if ons[e] >= 0:
                        self._start(ons[e], velocity[e], x[2:, at[e]], from_latent)
                    e += 1
                self._render(out, done, end)
                pos = end
            self.frame += frames
            return out.clamp(-1.0, 1.0).view(1, 1, frames)

        @torch.jit.export
        def play(self, x: Tensor) -> Tensor:
            """[1, 3, n] gate, pitch, blend -> [1, 1, n] audio."""
            return self._process(x, False)

        @torch.jit.export
        def decode(self, x: Tensor) -> Tensor:
            """[1, 2 + z_dim, n] gate, pitch, latent -> [1, 1, n] audio."""
            return self._process(x, True)

    return TimbreSynth
